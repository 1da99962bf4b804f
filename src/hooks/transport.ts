// One POST of a delivery, to an address checked already (address-policy.ts). The request goes to
// that address, never to a second DNS answer, while the Host header and the TLS server name stay
// the URL's host, so virtual hosting and certificate checks work as for the name. Measured with
// Bun 1.4: fetch to an IP-literal URL with `tls.serverName` checks the certificate against that
// name (a certificate for another name fails with ERR_TLS_CERT_ALTNAME_INVALID) and sends the
// Host header given.
//
// No proxy: Bun's fetch honours HTTP_PROXY/HTTPS_PROXY from the environment, and a proxy would
// resolve and connect on its own, past the address checks; `proxy: false` turns that off (also
// measured; transport.test.ts fails if a Bun update changes it). Redirects are not followed: the
// Location could name any address (a 3xx is a dead letter).

import { parseAddress } from "./address-policy.ts";

export interface PostRequest {
  url: URL;
  /** The checked address to connect to. */
  address: string;
  body: string;
  headers: Record<string, string>;
  timeoutMs: number;
  /** Aborts the attempt (the hook was deleted or disabled, or Socle stops). */
  signal: AbortSignal;
  /** Extra CAs for https receivers (tests); the system store otherwise. */
  ca?: string;
}

export type PostResult =
  | { ok: true; status: number; retryAfter: string | null; ms: number }
  | { ok: false; error: string; timeout: boolean; aborted: boolean; ms: number };

export async function postPinned(r: PostRequest): Promise<PostResult> {
  const started = performance.now();
  const ms = () => Math.round(performance.now() - started);
  const target = new URL(r.url.href);
  target.hostname = r.address.includes(":") ? `[${r.address}]` : r.address;
  const timeout = AbortSignal.timeout(r.timeoutMs);
  const signal = AbortSignal.any([r.signal, timeout]);
  const hostIsName = parseAddress(r.url.hostname) === undefined;
  const tls: Record<string, unknown> = {};
  if (r.url.protocol === "https:" && hostIsName) tls.serverName = r.url.hostname;
  if (r.ca !== undefined) tls.ca = r.ca;
  try {
    const res = await fetch(target, {
      method: "POST",
      headers: { ...r.headers, Host: r.url.host },
      body: r.body,
      redirect: "manual",
      signal,
      proxy: false,
      ...(Object.keys(tls).length > 0 ? { tls } : {}),
    } as RequestInit);
    // The answer's body means nothing to us; read a little so the connection can be reused, no more.
    await res.body?.cancel().catch(() => {});
    return { ok: true, status: res.status, retryAfter: res.headers.get("retry-after"), ms: ms() };
  } catch (err) {
    const timedOut = timeout.aborted;
    const aborted = r.signal.aborted;
    const e = err as { code?: string; message?: string };
    const error = timedOut ? `timed out after ${Math.round(r.timeoutMs / 1000)} s` : aborted ? "stopped" : `${e.code ? `${e.code}: ` : ""}${e.message ?? String(err)}`;
    return { ok: false, error, timeout: timedOut, aborted, ms: ms() };
  }
}
