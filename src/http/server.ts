// The machine-facing HTTP file server (port 8091): plain HTTP, as firmware and installers speak
// it. Static trees, embedded loaders and rendered per-machine files all come from one FileSource.

import type { Server } from "bun";
import type { FileSource } from "../files/file-source.ts";
import type { Logger } from "../log/logger.ts";
import { createFileHandler } from "./handler.ts";
import { isMetaldataPath, rawPathname, type MetaldataHandler } from "./metaldata.ts";
import { serverAddressOf } from "./server-address.ts";
import type { Timeline } from "../timeline/recorder.ts";

export interface HttpServerOptions {
  /** Address to bind ("0.0.0.0", "::", or one address). */
  listen: string;
  /** 0 picks a free port. */
  port: number;
  source: FileSource;
  log: Logger;
  /**
   * Our address for FileFacts.serverAddress when neither the Host header (an IP literal) nor a
   * specific listen address tells it (see server-address.ts); main passes --address.
   */
  address?: string;
  /** The metadata service (metaldata.ts), answering its own paths (/get/meta/, /latest/...) here too. */
  metaldata?: MetaldataHandler;
  /** The boot timeline (handler.ts). */
  timeline?: Timeline;
}

export interface HttpServer {
  port: number;
  stop(): Promise<void>;
  stats(): HttpServerStats;
}

export interface HttpServerStats {
  /** Answers by status class: "2xx", "3xx", "4xx", "5xx" (metadata paths included). */
  responses: Record<string, number>;
  /** Body bytes the GET answers declared (Content-Length; a client may stop reading sooner). */
  bytes: number;
  /** Answers that failed inside the server (5xx, and exceptions answered by the error handler). */
  errors: number;
}

/**
 * Idle seconds before Bun drops a connection. Installers keep connections open between files,
 * and a slow client on a large file is not idle while bytes flow.
 */
const IDLE_TIMEOUT_S = 60;

export function startHttpServer(opts: HttpServerOptions): HttpServer {
  const handle = createFileHandler({ source: opts.source, log: opts.log, ...(opts.timeline ? { timeline: opts.timeline } : {}) });
  const fallback = opts.address || "127.0.0.1";
  const counts = { classes: [0, 0, 0, 0, 0, 0], bytes: 0, errors: 0 };
  const count = (req: Request, res: Response): Response => {
    const cls = Math.floor(res.status / 100);
    if (cls >= 1 && cls <= 5) counts.classes[cls]!++;
    if (cls === 5) counts.errors++;
    if (req.method === "GET") counts.bytes += Number(res.headers.get("content-length") ?? 0) || 0;
    return res;
  };
  const server: Server<unknown> = Bun.serve({
    hostname: opts.listen,
    port: opts.port,
    idleTimeout: IDLE_TIMEOUT_S,
    // Machines never upload here; refuse bodies early.
    maxRequestBodySize: 64 * 1024,
    fetch: async (req, srv) =>
      count(
        req,
        await (opts.metaldata && isMetaldataPath(rawPathname(req.url))
          ? opts.metaldata(req, { remoteAddress: srv.requestIP(req)?.address ?? "" })
          : handle(req, {
              remoteAddress: srv.requestIP(req)?.address ?? "",
              serverAddress: serverAddressOf(req.headers.get("host"), opts.listen, fallback),
            })),
      ),
    error: (err) => {
      counts.classes[5]!++;
      counts.errors++;
      opts.log.error("internal error", { error: err?.stack ?? String(err) });
      return new Response("internal error; see the server log\n", { status: 500 });
    },
  });
  opts.log.info("HTTP boot file server listening", { listen: opts.listen, port: server.port });
  return {
    port: server.port ?? opts.port,
    stop: async () => {
      await server.stop(true);
    },
    stats: () => ({
      responses: Object.fromEntries(counts.classes.flatMap((n, i) => (i > 0 && n > 0 ? [[`${i}xx`, n]] : []))),
      bytes: counts.bytes,
      errors: counts.errors,
    }),
  };
}
