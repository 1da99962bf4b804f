// What the API port answers on the cold standby of an HA pair: every request gets a 503 saying
// that this node is the standby and where the API is (the VIP), so `socle ha status` or any client
// pointed at the wrong node learns what to do instead of "connection refused". It carries the
// node's state and its partner's name, which GET /api/v3/info shows on the active anyway; nothing
// else (no Seq, no lag, no objects): the standby checks no credentials.

import { Hono } from "hono";
import type { ApiEnv } from "./access.ts";

export interface StandbyFacts {
  Node: string;
  State: string;
  Term: number;
  Peer: { Name: string; State: string };
}

export function standbyApi(opts: { vip: string; apiPort: number; facts: () => StandbyFacts }): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  app.all("*", (c) => {
    const f = opts.facts();
    const where = `https://${opts.vip}:${opts.apiPort}`;
    const message = `this node (${f.Node}) is the HA standby (${f.State}, term ${f.Term}; partner ${f.Peer.Name || "not paired"} is ${f.Peer.State}): the API is served on the VIP, ${where}`;
    return c.json({ Model: "ha", Key: f.Node, Type: "Unavailable", Messages: [message], Code: 503 }, 503, { "Retry-After": "1", "Cache-Control": "no-store" });
  });
  return app;
}
