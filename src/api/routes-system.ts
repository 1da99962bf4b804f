// Info, OpenAPI and its Swagger UI page, prefs and the event stream (SSE and websocket).

import type { Hono } from "hono";
import { upgradeWebSocket } from "hono/bun";
import type { ApiDeps } from "./deps.ts";
import { type ApiEnv, may, principalOf, requireClaim } from "./access.ts";
import { json, jsonWithEtag, readJson } from "./http-util.ts";
import { badRequest } from "../model/errors.ts";
import type { Change } from "../model/object.ts";
import type { Principal } from "../auth/claims.ts";
import { openApiDocument } from "../model/openapi.ts";
import { type EventFilter, matches, parseEventFilter, toMessage } from "./events.ts";
import { swaggerPage, swaggerAsset } from "./swagger.ts";

const HEARTBEAT_MS = 15_000;

export function systemRoutes(app: Hono<ApiEnv>, deps: ApiDeps): void {
  const { prefs, events } = deps;
  let openapi: string | undefined;

  app.get("/api/v3/info", (c) => jsonWithEtag(c, deps.info()));

  app.get("/api/v3/openapi.json", (c) => {
    openapi ??= JSON.stringify(openApiDocument({ version: deps.version }));
    return new Response(openapi, { headers: { "Content-Type": "application/json" } });
  });
  app.get("/api/v3/swagger-ui", () => swaggerPage());
  app.get("/api/v3/swagger-ui/:file", (c) => swaggerAsset(c.req.param("file")));

  app.get("/api/v3/prefs", (c) => {
    requireClaim(c, "prefs", "get");
    return jsonWithEtag(c, prefs.get());
  });
  app.post("/api/v3/prefs", async (c) => {
    requireClaim(c, "prefs", "update");
    const body = await readJson(c, { model: "prefs", limit: 64 * 1024 });
    return json(await prefs.set(body));
  });

  const visible = (p: Principal, f: EventFilter, ch: Change) => matches(f, ch) && may(p, ch.Type, "get", ch.Key);

  const startSeq = (lastEventId: string | undefined, since: string | undefined): number | undefined => {
    const raw = lastEventId ?? since;
    if (raw === undefined || raw === "") return undefined;
    if (!/^\d+$/.test(raw)) throw badRequest("events", "", `since: invalid sequence number "${raw}"`);
    return Number(raw);
  };

  app.get("/api/v3/events", (c) => {
    requireClaim(c, "events", "list");
    const p = principalOf(c);
    const filter = parseEventFilter(new URL(c.req.url).searchParams);
    const from = startSeq(c.req.header("last-event-id"), c.req.query("since"));
    const enc = new TextEncoder();
    let stop = () => {};
    const stream = new ReadableStream<Uint8Array>({
      start(ctrl) {
        const send = (ch: Change) => {
          if (!visible(p, filter, ch)) return;
          const msg = toMessage(ch);
          try {
            ctrl.enqueue(enc.encode(`id: ${msg.Seq}\nevent: ${msg.Type}.${msg.Action}\ndata: ${JSON.stringify(msg)}\n\n`));
          } catch {
            stop();
          }
        };
        ctrl.enqueue(enc.encode(`: socle events\nretry: 2000\n\n`));
        if (from !== undefined) {
          const { changes, complete } = events.since(from);
          if (!complete) ctrl.enqueue(enc.encode(`event: gap\ndata: {"Since":${from}}\n\n`));
          changes.forEach(send);
        }
        const off = events.listen(send);
        const beat = setInterval(() => {
          try {
            ctrl.enqueue(enc.encode(`: keep-alive\n\n`));
          } catch {
            stop();
          }
        }, HEARTBEAT_MS);
        stop = () => {
          off();
          clearInterval(beat);
        };
        c.req.raw.signal.addEventListener("abort", () => stop());
      },
      cancel() {
        stop();
      },
    });
    return new Response(stream, {
      headers: { "Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no" },
    });
  });

  app.get(
    "/api/v3/ws",
    (c, next) => {
      requireClaim(c, "events", "list");
      parseEventFilter(new URL(c.req.url).searchParams);
      return next();
    },
    upgradeWebSocket((c) => {
      const p = principalOf(c as never);
      const filter = parseEventFilter(new URL(c.req.url).searchParams);
      let off = () => {};
      return {
        onOpen(_evt, ws) {
          off = events.listen((ch) => {
            if (visible(p, filter, ch)) ws.send(JSON.stringify(toMessage(ch)));
          });
        },
        onClose() {
          off();
        },
        onError() {
          off();
        },
      };
    }),
  );
}
