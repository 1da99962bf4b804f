// --metrics-listen: a plain-HTTP listener that serves GET /metrics and nothing else, without
// authentication, for a Prometheus on a management network that should not hold API credentials.
// Whoever reaches it reads every series (subnet names, pool use, HA state): bind it to an address
// only that network reaches.

import type { Server } from "bun";
import type { Logger } from "../log/logger.ts";
import type { MetricsRegistry } from "./registry.ts";

export interface MetricsListener {
  port: number;
  stop(): Promise<void>;
}

export function startMetricsListener(opts: { hostname: string; port: number; registry: MetricsRegistry; log: Logger }): MetricsListener {
  const { registry, log } = opts;
  const server: Server<unknown> = Bun.serve({
    hostname: opts.hostname,
    port: opts.port,
    // Nothing is uploaded here.
    maxRequestBodySize: 1024,
    idleTimeout: 30,
    fetch: (req) => answer(req, registry),
    error: (err) => {
      log.error("metrics listener: internal error", { error: err?.stack ?? String(err) });
      return plain(500, "internal error; see the server log\n");
    },
  });
  log.info("metrics listening (plain HTTP, no authentication)", { listen: opts.hostname, port: server.port });
  return {
    port: server.port ?? opts.port,
    stop: async () => {
      await server.stop(true);
    },
  };
}

/** The answer to one request: /metrics exactly (any query ignored), GET or HEAD. */
async function answer(req: Request, registry: MetricsRegistry): Promise<Response> {
  // The raw path, as sent: "/metrics/../api/v3/x" or "/%6detrics" is not /metrics.
  const url = req.url;
  const start = url.indexOf("/", url.indexOf("://") + 3);
  const rest = start < 0 ? "/" : url.slice(start);
  const path = rest.split(/[?#]/, 1)[0]!;
  if (path !== "/metrics") return plain(404, "not found; this listener serves /metrics only\n");
  if (req.method !== "GET" && req.method !== "HEAD") return plain(405, `method ${req.method} not allowed\n`, { Allow: "GET, HEAD" });
  const text = await registry.text();
  return new Response(req.method === "HEAD" ? null : text, { status: 200, headers: { "Content-Type": registry.contentType, "Cache-Control": "no-store" } });
}

function plain(status: number, body: string, extra: Record<string, string> = {}): Response {
  return new Response(body, { status, headers: { "Content-Type": "text/plain; charset=utf-8", ...extra } });
}
