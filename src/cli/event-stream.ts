// Socle's event stream (GET /api/v3/events) as the CLI reads it, over the SSE reader (sse.ts).
//
// What the server sends: one SSE event per change or notice, `id:` its Seq, `event:`
// "<Type>.<Action>", `data:` the message as JSON; `retry: 2000` and a comment first; a comment
// every 15 s. When a client resumes (Last-Event-ID or ?since=) from further back than its ring of
// recent changes holds, it sends `event: gap` with `{"Since": <seq>}` before what it still has:
// that is the only way to know changes were missed. The Seqs seen on a stream cannot show a gap by
// themselves: the store numbers every change, but a filtered stream skips the changes it filters
// out, and notices (ISO progress, HA conflicts, boot timeline records) carry the Seq of the last
// store change rather than their own. Notices are not kept in the ring either: those sent while a
// client was disconnected are gone, and the server does not say so.

import type { ApiClient } from "./api-client.ts";
import { readStream, type StreamDrop } from "./sse.ts";

export interface StreamMessage {
  Seq: number;
  Time: string;
  Type: string;
  Action: string;
  Key: string;
  Object: Record<string, unknown>;
}

/** The stream's filters (each a list the server ORs) and where to start. */
export interface EventQuery {
  types?: readonly string[];
  actions?: readonly string[];
  keys?: readonly string[];
  /** Replay the changes after this Seq that the server still holds. */
  since?: number;
}

export interface WatchOptions {
  query: EventQuery;
  signal: AbortSignal;
  onMessage(m: StreamMessage): void;
  /** The server could not replay everything after `since`: changes were missed. */
  onGap?(since: number | undefined): void;
  onOpen?(): void;
  onDrop?(d: StreamDrop): void;
  /** Something on the stream that is not a Socle event (one line). */
  onWarning?(line: string): void;
  silenceMs?: number;
  retryMs?: number;
}

export function eventQuery(q: EventQuery): URLSearchParams {
  const p = new URLSearchParams();
  if (q.types?.length) p.set("type", q.types.join(","));
  if (q.actions?.length) p.set("action", q.actions.join(","));
  if (q.keys?.length) p.set("key", q.keys.join(","));
  if (q.since !== undefined) p.set("since", String(q.since));
  return p;
}

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

/** The message in an event's data, or undefined when it is not one. */
export function parseMessage(data: string): StreamMessage | undefined {
  let v: unknown;
  try {
    v = JSON.parse(data);
  } catch {
    return undefined;
  }
  if (!isRecord(v)) return undefined;
  const { Seq, Time, Type, Action, Key, Object: obj } = v;
  if (typeof Seq !== "number" || typeof Type !== "string" || typeof Action !== "string" || typeof Key !== "string") return undefined;
  return { Seq, Time: typeof Time === "string" ? Time : "", Type, Action, Key, Object: isRecord(obj) ? obj : {} };
}

/**
 * Follows the stream until `signal` aborts (resolves) or the server refuses the request (rejects
 * with the API's error, e.g. 403 when the events claim is missing or withdrawn).
 */
export function watchEvents(api: ApiClient, o: WatchOptions): Promise<void> {
  return readStream(api, {
    path: "events",
    query: eventQuery(o.query),
    signal: o.signal,
    ...(o.onOpen ? { onOpen: o.onOpen } : {}),
    ...(o.onDrop ? { onDrop: o.onDrop } : {}),
    ...(o.silenceMs !== undefined ? { silenceMs: o.silenceMs } : {}),
    ...(o.retryMs !== undefined ? { retryMs: o.retryMs } : {}),
    onEvent(e) {
      if (e.type === "gap") {
        let since: number | undefined;
        try {
          const d = JSON.parse(e.data) as { Since?: unknown };
          if (typeof d?.Since === "number") since = d.Since;
        } catch {}
        o.onGap?.(since);
        return;
      }
      const m = parseMessage(e.data);
      if (!m) {
        o.onWarning?.(`ignored an event that is not a Socle event (event "${e.type}", ${e.data.length} bytes of data)`);
        return;
      }
      o.onMessage(m);
    },
  });
}
