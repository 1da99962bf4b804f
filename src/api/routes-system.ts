// Info, OpenAPI and its Swagger UI page, prefs and the event stream (SSE and websocket).
// A stream outlives the request that opened it, so its principal's claims are looked up again for
// every event: a role taken away mid-stream hides what it granted, and ends the stream once the
// events claim itself is gone. The same lookup decides which Secure param values an event shows
// in clear (getSecure on the object), so each subscriber gets the object as a GET would show it.

import type { Hono } from "hono";
import { upgradeWebSocket } from "hono/bun";
import type { ApiDeps } from "./deps.ts";
import { type ApiEnv, principalOf, requireClaim } from "./access.ts";
import { json, jsonWithEtag, readJson } from "./http-util.ts";
import { SocleError, badRequest } from "../model/errors.ts";
import { allows } from "../auth/claims.ts";
import { isOwnOrigin } from "./origin.ts";
import type { Principal } from "../auth/claims.ts";
import { openApiDocument } from "../model/openapi.ts";
import { type EventFilter, type EventMessage, type StreamEvent, matches, parseEventFilter, toMessage } from "./events.ts";
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

  /** What to do with a change on a stream opened by `p`, by `p`'s claims now: the message to send, or skip, or end. */
  const verdict = (p: Principal, f: EventFilter, ch: StreamEvent): EventMessage | "skip" | "end" => {
    // Timeline records come in thousands during a boot storm: streams that did not ask for them
    // skip them before any claim is resolved.
    if (ch.Type === "timeline" && !f.types?.has("timeline")) return "skip";
    if (!deps.authn.stillValid(p)) return "end"; // logged out or expired since the stream opened
    const claims = deps.authn.currentClaims(p);
    if (!allows(claims, "events", "list", "*")) return "end";
    if (!matches(f, ch) || !allows(claims, ch.Type, "get", ch.Key)) return "skip";
    // An ISO's explode progress names the boot environment it is for: only for those who may see it.
    const env = ch.Type === "isos" ? ch.Object.BootEnv : undefined;
    if (typeof env === "string" && !allows(claims, "bootenvs", "get", env)) return "skip";
    return toMessage(ch, (def, obj) => deps.objects.redact(def, obj, (type, key) => allows(claims, type, "getSecure", key)));
  };

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
        const send = (ch: StreamEvent) => {
          const v = verdict(p, filter, ch);
          if (v === "end") {
            stop();
            try {
              ctrl.close();
            } catch {}
            return;
          }
          if (v === "skip") return;
          const msg = v;
          try {
            ctrl.enqueue(enc.encode(`id: ${msg.Seq}\nevent: ${msg.Type}.${msg.Action}\ndata: ${JSON.stringify(msg)}\n\n`));
          } catch {
            stop();
          }
        };
        // A stream opened without a position gets the store's Seq as its last event id at once, so
        // a client that loses the connection before the first event still resumes without a hole.
        ctrl.enqueue(enc.encode(`: socle events\nretry: 2000\n${from === undefined ? `id: ${deps.store.seq}\n` : ""}\n`));
        if (from !== undefined) {
          const { changes, complete } = events.since(from);
          if (!complete) ctrl.enqueue(enc.encode(`event: gap\ndata: {"Since":${from}}\n\n`));
          changes.forEach(send);
        }
        const off = events.listen(send, filter.types);
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
      const origin = c.req.header("origin");
      if (origin !== undefined && !isOwnOrigin(origin, c.req.header("host"))) {
        throw new SocleError("Forbidden", "events", "", [
          `websocket from Origin "${origin.slice(0, 200)}" refused: only pages of this server (https://${(c.req.header("host") ?? "").slice(0, 200)}) may open it`,
        ]);
      }
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
            const v = verdict(p, filter, ch);
            if (v === "end") {
              off();
              ws.close(1008, "the events claim was withdrawn");
            } else if (v !== "skip") ws.send(JSON.stringify(v));
          }, filter.types);
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
