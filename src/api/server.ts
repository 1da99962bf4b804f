// The HTTPS listener for the API. Plain HTTP is never offered on the API port.

import type { Server } from "bun";
import { websocket } from "hono/bun";
import type { Hono } from "hono";
import type { ApiEnv } from "./access.ts";

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
  stop(): Promise<void>;
}

export function startApiServer(opts: ApiServerOptions): ApiServer {
  let server: Server<unknown> | undefined;
  const remoteOf = (req: Request) => server?.requestIP(req)?.address ?? "";
  const app = opts.build(remoteOf);
  server = Bun.serve({
    hostname: opts.hostname,
    port: opts.port,
    tls: { cert: opts.certPem, key: opts.keyPem },
    fetch: (req, srv) => app.fetch(req, { server: srv }),
    websocket,
    idleTimeout: 0,
    maxRequestBodySize: opts.maxBodyBytes,
  });
  const s = server;
  return {
    port: s.port ?? opts.port,
    stop: async () => {
      await s.stop(true);
    },
  };
}
