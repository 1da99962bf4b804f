// The HTTPS listener for the API. Plain HTTP is never offered on the API port.

import type { Server } from "bun";
import { websocket } from "hono/bun";
import type { Hono } from "hono";
import type { ApiEnv } from "./access.ts";

/**
 * TLS 1.2 suites offered: ECDHE key exchange only (forward secrecy), AEAD ciphers only; the
 * ECDSA ones serve an operator's EC certificate (--tls-cert), the RSA ones the built-in PKI's.
 * Without this list BoringSSL's default also offers static-RSA suites (AES128-GCM-SHA256,
 * AES256-SHA...), where a key stolen later decrypts every recorded session. Every client that
 * reaches the API (curl, Python, WinPE's curl.exe, browsers, the CLI) has ECDHE-RSA-AES-GCM.
 * TLS 1.3 suites are all ECDHE and not governed by this list; TLS 1.1 and older are refused.
 */
export const API_TLS12_CIPHERS = [
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
].join(":");

export interface ApiServerOptions {
  hostname: string;
  port: number;
  certPem: string;
  keyPem: string;
  build: (remoteOf: (req: Request) => string) => Hono<ApiEnv>;
  /** Largest request body Bun accepts at all (uploads); JSON routes enforce their own, smaller limit. */
  maxBodyBytes: number;
}

export interface ApiServer {
  port: number;
  /**
   * The same app for another listener (mtls-server.ts): `remote` is the client's address, which
   * the app's remoteOf then answers for this request.
   */
  fetchFor(req: Request, env: { remote: string; clientCert?: Uint8Array }): Response | Promise<Response>;
  stop(): Promise<void>;
}

export function startApiServer(opts: ApiServerOptions): ApiServer {
  let server: Server<unknown> | undefined;
  // Requests of the client-certificate listener are not Bun.serve's: their address is noted here.
  const remotes = new WeakMap<Request, string>();
  const remoteOf = (req: Request) => remotes.get(req) ?? server?.requestIP(req)?.address ?? "";
  const app = opts.build(remoteOf);
  server = Bun.serve({
    hostname: opts.hostname,
    port: opts.port,
    tls: { cert: opts.certPem, key: opts.keyPem, ciphers: API_TLS12_CIPHERS },
    fetch: (req, srv) => app.fetch(req, { server: srv }),
    websocket,
    idleTimeout: 0,
    maxRequestBodySize: opts.maxBodyBytes,
  });
  const s = server;
  return {
    port: s.port ?? opts.port,
    fetchFor: (req, env) => {
      remotes.set(req, env.remote);
      return app.fetch(req, env);
    },
    stop: async () => {
      await s.stop(true);
    },
  };
}
