// GET /metrics on the API port (HTTPS): the Prometheus exposition (src/metrics). It sits outside
// /api/v3, where Prometheus expects it, and outside that prefix's authentication middleware, so it
// authenticates here. A request is served when it carries
// - the scrape token of --metrics-token-file as a bearer token (compared in constant time), or
// - any credential of the API (Basic, a user token) whose principal may `get` on scope `metrics`.
// Anything else is the API's one 401 (no or wrong credentials) or a 403 naming the missing claim
// (a machine or registration token, a user without it). A token in the query string is never
// read: query strings end up in proxy and access logs.

import type { Hono } from "hono";
import type { ApiEnv } from "./access.ts";
import { requireClaim } from "./access.ts";
import type { Authenticator } from "./authn.ts";
import type { MetricsRegistry } from "../metrics/registry.ts";
import type { MetricsToken } from "../metrics/metrics-token.ts";

export const METRICS_PATH = "/metrics";

export interface ApiMetrics {
  registry: MetricsRegistry;
  /** The scrape token (--metrics-token-file); without it only API principals are served. */
  token?: MetricsToken;
}

export function metricsRoutes(app: Hono<ApiEnv>, deps: { metrics?: ApiMetrics; authn: Authenticator }, remoteOf: (req: Request) => string): void {
  const metrics = deps.metrics;
  if (!metrics) return;
  app.get(METRICS_PATH, async (c) => {
    const header = c.req.header("authorization") ?? null;
    const bearer = header === null ? undefined : /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
    if (!(bearer !== undefined && metrics.token?.matches(bearer))) {
      c.set("principal", await deps.authn.authenticate(header, () => remoteOf(c.req.raw)));
      requireClaim(c, "metrics", "get");
    }
    const text = await metrics.registry.text();
    return new Response(text, { headers: { "Content-Type": metrics.registry.contentType, "Cache-Control": "no-store" } });
  });
}
