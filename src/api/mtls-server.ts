// The API for machines that hold a client certificate of the built-in CA: a second HTTPS
// listener (--api-mtls-port, 8093) that requires one, and hands the verified certificate with each
// request to the same Hono app as the main listener.
//
// Why a listener of its own. Bun.serve (the main listener, server.ts) can request a client
// certificate (tls.requestCert) but gives the fetch handler no way to read it: a Request carries
// no peer certificate and the Server has no getPeerCertificate(request). node:https under Bun hands
// the handler a plain socket without getPeerCertificate() either. node:tls does: here a tls.Server
// verifies the client against the CA in the handshake (no certificate, or one of another CA, never
// gets past it), then passes the TLS socket to a node:http server, whose request handler reads
// the peer certificate and calls the app with it as the fetch `env` (clientCert). Only this listener
// sets that field; a client cannot put it in a header. Revocation, expiry and the record of issued
// serials are checked per request by the app (Authenticator, pki/machine-ca.ts), so a revocation
// takes effect on the next request without reloading the TLS context or its CRL.

import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createTlsServer, type TLSSocket } from "node:tls";
import type { Logger } from "../log/logger.ts";
import { AUTHENTICATION_FAILED } from "./authn.ts";
import { API_TLS12_CIPHERS } from "./server.ts";

/** What this listener passes to the app's fetch with each request. */
export interface ClientCertEnv {
  /** The DER of the client's certificate, verified against the CA in the handshake. */
  clientCert: Uint8Array;
  /** The client's address. */
  remote: string;
}

export interface MtlsServerOptions {
  hostname: string;
  port: number;
  certPem: string;
  keyPem: string;
  /** The CA whose certificates are accepted (the built-in CA). */
  caPem: string;
  fetch: (req: Request, env: ClientCertEnv) => Response | Promise<Response>;
  /** Why the verified certificate is not accepted now (revoked, unrecorded...), checked before the body is read; undefined: go on. */
  precheck?: (der: Uint8Array) => string | undefined;
  /** Largest request body; a larger one is answered 413. */
  maxBodyBytes: number;
  log: Logger;
}

export interface MtlsServer {
  port: number;
  stop(): Promise<void>;
}

const BODYLESS = new Set(["GET", "HEAD"]);

export async function startMtlsServer(opts: MtlsServerOptions): Promise<MtlsServer> {
  const http = createHttpServer((req, res) => {
    void serve(req, res, opts).catch((err) => {
      opts.log.warn("client-certificate request failed", { error: (err as Error)?.message ?? String(err) });
      if (!res.headersSent) res.writeHead(500, { "Content-Type": "application/json" });
      res.end();
    });
  });
  const sockets = new Set<TLSSocket>();
  const tls = createTlsServer(
    {
      cert: opts.certPem,
      key: opts.keyPem,
      ca: [opts.caPem],
      requestCert: true,
      rejectUnauthorized: true,
      ciphers: API_TLS12_CIPHERS,
      minVersion: "TLSv1.2",
    },
    (socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      http.emit("connection", socket);
    },
  );
  tls.on("tlsClientError", (err, socket) => {
    opts.log.debug("client-certificate handshake refused", { error: err.message, remote: socket.remoteAddress ?? "" });
  });
  await new Promise<void>((resolve, reject) => {
    tls.once("error", reject);
    tls.listen(opts.port, opts.hostname, () => {
      tls.off("error", reject);
      resolve();
    });
  });
  const addr = tls.address();
  return {
    port: typeof addr === "object" && addr ? addr.port : opts.port,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => tls.close(() => resolve()));
      http.close();
    },
  };
}

async function serve(req: IncomingMessage, res: ServerResponse, opts: MtlsServerOptions): Promise<void> {
  const socket = req.socket as TLSSocket;
  const peer = typeof socket.getPeerCertificate === "function" ? socket.getPeerCertificate(false) : undefined;
  if (!socket.authorized || !peer?.raw) {
    // The handshake refuses such clients; this is the second lock on the door.
    res.writeHead(401, { "Content-Type": "application/json" });
    res.end(JSON.stringify({ Model: "auth", Key: "", Type: "Unauthorized", Messages: ["a client certificate of this server's CA is required on this port"], Code: 401 }));
    return;
  }
  const refused = opts.precheck?.(new Uint8Array(peer.raw));
  if (refused !== undefined) {
    opts.log.warn("client certificate refused", { reason: refused, remote: socket.remoteAddress ?? "" });
    res.writeHead(401, { "Content-Type": "application/json", Connection: "close" });
    res.end(JSON.stringify({ Model: "auth", Key: "", Type: "Unauthorized", Messages: [AUTHENTICATION_FAILED], Code: 401 }));
    return;
  }
  const method = req.method ?? "GET";
  let body: Buffer | undefined;
  if (!BODYLESS.has(method)) {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > opts.maxBodyBytes) {
        res.writeHead(413, { "Content-Type": "application/json", Connection: "close" });
        res.end(JSON.stringify({ Model: "api", Key: "", Type: "ValidationError", Messages: [`request body is larger than ${opts.maxBodyBytes} bytes`], Code: 413 }));
        return;
      }
      chunks.push(chunk);
    }
    body = Buffer.concat(chunks);
  }
  const headers = new Headers();
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
  // The URL from the listener's own address: a client's Host header or absolute-form target names
  // nothing here. A target that is not a path is refused.
  const target = req.url ?? "/";
  if (!target.startsWith("/")) {
    res.writeHead(400, { "Content-Type": "application/json" });
    res.end(JSON.stringify({ Model: "api", Key: "", Type: "BadRequest", Messages: [`request target ${JSON.stringify(target.slice(0, 100))} is not a path`], Code: 400 }));
    return;
  }
  const local = socket.localAddress ?? opts.hostname;
  const authority = `${local.includes(":") ? `[${local}]` : local}:${socket.localPort ?? opts.port}`;
  const abort = new AbortController();
  res.on("close", () => abort.abort());
  let request: Request;
  try {
    request = new Request(`https://${authority}${target}`, { method, headers, body, signal: abort.signal });
  } catch (err) {
    res.writeHead(400, { "Content-Type": "application/json" });
    res.end(JSON.stringify({ Model: "api", Key: "", Type: "BadRequest", Messages: [`request ${JSON.stringify(target.slice(0, 100))}: ${(err as Error).message}`], Code: 400 }));
    return;
  }
  const response = await opts.fetch(request, { clientCert: new Uint8Array(peer.raw), remote: socket.remoteAddress ?? "" });
  const out: Record<string, string | string[]> = {};
  response.headers.forEach((v, k) => {
    const prev = out[k];
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  });
  res.writeHead(response.status, out);
  if (!response.body || method === "HEAD") {
    res.end();
    return;
  }
  // Streamed (events, long polls): each chunk as it comes; a client gone ends the reading.
  const reader = response.body.getReader();
  try {
    for (;;) {
      if (abort.signal.aborted) break;
      const { done, value } = await reader.read();
      if (done) break;
      if (!res.write(value)) {
        await new Promise<void>((r) => {
          res.once("drain", r);
          res.once("close", r);
        });
      }
    }
  } finally {
    reader.cancel().catch(() => {});
    res.end();
  }
}
