// The optional listener of the metadata service (metaldata.ts), off unless --metaldata-port is
// given. LinuxKit asks http://metaldata/ on port 80, and EC2-style clients http://169.254.169.254/
// on port 80, so this is its own socket rather than a path on the boot file server (which also
// answers the same paths, on 8091, for trying it without port 80).

import type { Server } from "bun";
import type { Logger } from "../log/logger.ts";
import type { MetaldataHandler } from "./metaldata.ts";

export interface MetaldataServerOptions {
  /** Address to bind ("0.0.0.0", "::", 169.254.169.254, or one address of Socle's). */
  listen: string;
  /** 0 picks a free port. */
  port: number;
  handler: MetaldataHandler;
  log: Logger;
}

export interface MetaldataServer {
  port: number;
  stop(): Promise<void>;
}

/** A metadata client asks a few short questions at boot and goes away. */
const IDLE_TIMEOUT_S = 10;

export function startMetaldataServer(opts: MetaldataServerOptions): MetaldataServer {
  const server: Server<unknown> = Bun.serve({
    hostname: opts.listen,
    port: opts.port,
    idleTimeout: IDLE_TIMEOUT_S,
    // Only GET and HEAD are answered; a body is never read.
    maxRequestBodySize: 1024,
    fetch: (req, srv) => opts.handler(req, { remoteAddress: srv.requestIP(req)?.address ?? "" }),
    error: (err) => {
      opts.log.error("internal error", { error: err?.stack ?? String(err) });
      return new Response("metadata unavailable; see the server log\n", { status: 503, headers: { "Content-Type": "text/plain; charset=utf-8" } });
    },
  });
  opts.log.info("metadata service listening", { listen: opts.listen, port: server.port });
  return {
    port: server.port ?? opts.port,
    stop: async () => {
      await server.stop(true);
    },
  };
}
