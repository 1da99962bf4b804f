// Which browser pages may open the event websocket. Browsers do not apply CORS to websockets:
// a page on any site could open wss://socle:8092/api/v3/ws, and the browser would send the
// operator's cached Basic credentials with it (cross-site websocket hijacking), so the server
// must look at Origin itself. Browsers always send Origin on a websocket; non-browser clients (the
// CLI, scripts) usually send none, and they present their own credentials, so no Origin is fine.
// A present Origin must be this server as the client reached it: https://<Host header>.
// DNS rebinding (evil.example resolving to this server) cannot get past this, because the page's
// Host and Origin would agree, but the browser refuses the TLS handshake: the certificate is not
// for evil.example.

const HOST = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/**
 * Is `origin` (the Origin header) this server, reached as `host` (the Host header) over HTTPS?
 * Compared as URL origins: lower-case host names, default port 443 elided. "null" and anything
 * that is not exactly scheme://host[:port] are not.
 */
export function isOwnOrigin(origin: string, host: string | undefined): boolean {
  if (host === undefined || !HOST.test(host)) return false;
  let o: URL;
  let own: URL;
  try {
    o = new URL(origin);
    own = new URL(`https://${host}`);
  } catch {
    return false;
  }
  if (o.protocol !== "https:" || o.username !== "" || o.password !== "") return false;
  if (o.pathname !== "/" || o.search !== "" || o.hash !== "" || /[/?#]$/.test(origin)) return false;
  return o.origin === own.origin;
}
