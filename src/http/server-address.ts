// Which of our addresses a request arrived on. Bun tells a handler the peer's address but not the
// local one, so the order is:
//   1. the Host header, when it is an IP literal: a firmware or iPXE fetching a URL we handed out
//      (http://<address>:8091/...) sends exactly the address it reached;
//   2. the listen address, when the server is bound to one address;
//   3. the configured server address (--address, or the detected one).
// A Host that is a name is never used: it is client-controlled text that would end up inside
// rendered URLs, and an address is what templates promise (FileFacts.serverAddress).

import { isIP } from "node:net";

const WILDCARDS = new Set(["", "0.0.0.0", "::", "[::]"]);

/** The host part of a Host header if it is an IP literal ("[::1]:8091" -> "::1"), else undefined. */
export function hostAddress(host: string | null): string | undefined {
  if (!host) return undefined;
  const h = host.trim();
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(h);
  if (bracketed) return isIP(bracketed[1]!) === 6 ? bracketed[1]!.toLowerCase() : undefined;
  const v4 = /^([^:]+)(?::\d+)?$/.exec(h);
  if (v4 && isIP(v4[1]!) === 4) return v4[1]!;
  return undefined;
}

export function serverAddressOf(host: string | null, listen: string, fallback: string): string {
  return hostAddress(host) ?? (WILDCARDS.has(listen) ? fallback : listen.replace(/^\[|\]$/g, ""));
}
