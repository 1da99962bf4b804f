// Server-Sent Events for the CLI: a parser that follows the WHATWG "event stream interpretation"
// rules byte for byte, and a reader that keeps one stream open over the CLI's ApiClient (so TLS,
// the CA and credentials are handled in one place) and reconnects the way EventSource does.
//
// Parser folklore, all of it from the spec and all of it seen in the wild:
// - a line ends at CRLF, LF or a lone CR; a CRLF may be split across two chunks (CR ends one, LF
//   starts the next), which must not count as two line ends (that would dispatch early);
// - UTF-8 sequences are split across chunks by any proxy: decode with a streaming decoder; one
//   leading BOM is dropped;
// - "field: value" loses exactly one space after the colon; a line without a colon is a field
//   with an empty value; a line starting with ":" is a comment (keep-alives are comments);
// - data lines join with "\n"; an event with no data line is not dispatched, but its id still
//   becomes the last event id (that is how a server sets it without an event);
// - an id containing NUL is ignored; retry is digits only, anything else is ignored;
// - at the end of the stream a half-received event is dropped, not dispatched.
//
// Reconnecting: after `retry` ms (3 s until the server says otherwise), with Last-Event-ID; when
// attempts fail without reaching the stream (server down, 5xx), the wait doubles each time, up to
// 30 s. Refusals (400, 401, 403, 404, any 3xx or 4xx but 408 and 429) are not retried: the same
// request would be refused again, so the caller gets the API's error. Silence (no byte at all,
// keep-alives included) for 45 s means a dead connection that TCP has not noticed (a NAT that
// forgot it, a suspended laptop): it is dropped and opened again.

import { ApiError, type ApiClient } from "./api-client.ts";
import { CliError } from "./cli-error.ts";
import { sleep } from "./long-poll.ts";

export interface SseEvent {
  /** The `event:` field, "message" when there was none. */
  type: string;
  /** The `data:` lines joined with "\n". */
  data: string;
  /** The last event id when this event was dispatched ("" when none was ever set). */
  id: string;
}

/**
 * About the most text one event may hold (counted per chunk since the last blank line, so off by
 * at most one chunk): a bound on what a stream can make the CLI buffer.
 */
export const MAX_EVENT_CHARS = 64 * 1024 * 1024;

/** An event larger than the parser's bound: the stream is not one to keep reading (nor to reopen). */
export class SseTooLarge extends CliError {}

export class SseParser {
  /** The last event id, as EventSource keeps it: set by every dispatch, empty or not. */
  lastEventId: string;
  private size = 0;
  private readonly decoder = new TextDecoder("utf-8");
  private line = "";
  /** The previous chunk ended with CR: a LF at the start of the next one belongs to it. */
  private afterCR = false;
  private data: string[] = [];
  private eventType = "";
  private idBuffer: string;

  constructor(
    private readonly onEvent: (e: SseEvent) => void,
    private readonly onRetry: (ms: number) => void = () => {},
    lastEventId = "",
    private readonly maxEventChars = MAX_EVENT_CHARS,
  ) {
    this.lastEventId = lastEventId;
    this.idBuffer = lastEventId;
  }

  /**
   * Feeds bytes as they arrive; events complete in them are dispatched before it returns. Throws
   * SseTooLarge when the event being received grows beyond the bound.
   */
  push(chunk: Uint8Array): void {
    const s = this.decoder.decode(chunk, { stream: true });
    this.size += s.length;
    if (this.size > this.maxEventChars) {
      throw new SseTooLarge(`the event stream sent an event of more than ${this.maxEventChars} characters: not reading it`);
    }
    this.text(s);
  }

  /** The stream ended: a partial UTF-8 sequence and a half-received event are dropped. */
  end(): void {
    this.decoder.decode();
    this.size = 0;
    this.line = "";
    this.data = [];
    this.eventType = "";
    this.afterCR = false;
  }

  private text(s: string): void {
    let start = 0;
    if (this.afterCR && s.length > 0) {
      this.afterCR = false;
      if (s.charCodeAt(0) === 10) start = 1;
    }
    for (let i = start; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      this.lineDone(this.line + s.slice(start, i));
      this.line = "";
      if (c === 13) {
        if (i + 1 === s.length) this.afterCR = true;
        else if (s.charCodeAt(i + 1) === 10) i++;
      }
      start = i + 1;
    }
    this.line += s.slice(start);
  }

  private lineDone(line: string): void {
    if (line === "") return this.dispatch();
    if (line.charCodeAt(0) === 58) return; // ":" comment
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    switch (field) {
      case "event":
        this.eventType = value;
        break;
      case "data":
        this.data.push(value);
        break;
      case "id":
        if (!value.includes("\0")) this.idBuffer = value;
        break;
      case "retry":
        if (/^\d+$/.test(value)) this.onRetry(Number(value));
        break;
    }
  }

  private dispatch(): void {
    this.size = 0;
    this.lastEventId = this.idBuffer;
    const data = this.data;
    const type = this.eventType;
    this.data = [];
    this.eventType = "";
    if (data.length === 0) return;
    this.onEvent({ type: type || "message", data: data.join("\n"), id: this.lastEventId });
  }
}

/** Reconnection delay until the server sends `retry:` (EventSource uses a few seconds too). */
export const DEFAULT_RETRY_MS = 3000;
/** No byte for this long: the connection is taken for dead. The server sends a keep-alive every 15 s. */
export const SILENCE_MS = 45_000;
/** The longest wait between attempts when the server cannot be reached at all. */
const MAX_BACKOFF_MS = 30_000;

export interface StreamDrop {
  /** Why the connection ended, one line. */
  reason: string;
  /** How long until the next attempt. */
  retryMs: number;
  /** Sent as Last-Event-ID on the next attempt ("" when no event id was seen yet). */
  lastEventId: string;
}

export interface StreamOptions {
  /** API path of the stream: "events". */
  path: string;
  query?: URLSearchParams;
  /** Resume after this event id on the first connection (Last-Event-ID). */
  lastEventId?: string;
  /** Ends the stream: readStream then resolves. */
  signal: AbortSignal;
  onEvent(e: SseEvent): void;
  /** Each time a connection is open (the server answered 200 with an event stream). */
  onOpen?(): void;
  /** Each time a connection is lost, before the wait for the next attempt. */
  onDrop?(d: StreamDrop): void;
  /** For tests: how long silence may last, and the first reconnection delay. */
  silenceMs?: number;
  retryMs?: number;
}

/** Statuses a new attempt would get again: the request itself is wrong, or not allowed. */
function permanent(status: number): boolean {
  return status < 500 && status !== 408 && status !== 429;
}

/**
 * Keeps the stream open until `signal` aborts (then resolves), reconnecting after each loss.
 * Rejects with the API's error when the server refuses the request itself (400, 401, 403, 404 ...),
 * or a CliError when the answer is not an event stream; events dispatched before stay dispatched.
 */
export async function readStream(api: ApiClient, opts: StreamOptions): Promise<void> {
  let retryMs = opts.retryMs ?? DEFAULT_RETRY_MS;
  let lastEventId = opts.lastEventId ?? "";
  let failures = 0;
  const silenceMs = opts.silenceMs ?? SILENCE_MS;
  while (!opts.signal.aborted) {
    const conn = new AbortController();
    const signal = AbortSignal.any([opts.signal, conn.signal]);
    let silent = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const touch = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        silent = true;
        conn.abort(new DOMException("silence", "TimeoutError"));
      }, silenceMs);
    };
    const parser = new SseParser(
      (e) => {
        lastEventId = e.id;
        opts.onEvent(e);
      },
      (ms) => (retryMs = ms),
      lastEventId,
    );
    let reason: string;
    let opened = false;
    touch();
    try {
      const headers: Record<string, string> = { "Cache-Control": "no-cache" };
      if (lastEventId !== "") headers["Last-Event-ID"] = lastEventId;
      const res = await api.openStream(opts.path, { query: opts.query, headers, signal });
      const type = res.headers.get("content-type") ?? "";
      if (!/^text\/event-stream\b/i.test(type) || res.body === null) {
        await res.body?.cancel().catch(() => {});
        throw new NotAStreamError(`GET ${api.url(opts.path, opts.query)}: the answer is not an event stream (Content-Type "${type}")`);
      }
      opened = true;
      failures = 0;
      opts.onOpen?.();
      reason = await pump(res.body, parser, touch, signal);
    } catch (e) {
      if (opts.signal.aborted) break;
      if (e instanceof ApiError && permanent(e.status)) throw e;
      if (e instanceof NotAStreamError || e instanceof SseTooLarge) throw e;
      reason = silent ? `no data for ${silenceMs / 1000}s` : e instanceof Error ? e.message : String(e);
    } finally {
      clearTimeout(timer);
      conn.abort();
    }
    if (opts.signal.aborted) break;
    if (silent) reason = `no data for ${silenceMs / 1000}s`;
    if (!opened) failures++;
    const wait = failures <= 1 ? retryMs : Math.min(retryMs * 2 ** (failures - 1), Math.max(retryMs, MAX_BACKOFF_MS));
    opts.onDrop?.({ reason, retryMs: wait, lastEventId });
    try {
      await sleep(wait, opts.signal);
    } catch {
      break;
    }
  }
}

/** A 2xx that is not text/event-stream: a proxy's page or another program on the port; retrying will not help. */
class NotAStreamError extends CliError {}

/** Reads one connection to its end; returns why it ended. */
async function pump(body: ReadableStream<Uint8Array>, parser: SseParser, touch: () => void, signal: AbortSignal): Promise<string> {
  const reader = body.getReader();
  // Fetch errors the body when its signal aborts; cancelling the reader too keeps the watchdog
  // and Ctrl-C working with an injected fetch that does not (CliDeps.fetch).
  const onAbort = () => void reader.cancel(signal.reason).catch(() => {});
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    for (;;) {
      const r = await reader.read();
      if (signal.aborted) throw signal.reason;
      if (r.done) return "the server closed the stream";
      touch();
      parser.push(r.value);
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
    parser.end();
    await reader.cancel().catch(() => {});
  }
}
