// The CLI's HTTP client for /api/v3. It turns every failure into a CliError with one clear line:
// the API's own error body ("Error: NotFound 404: ..."), or what went wrong on the way (refused,
// TLS trust, timeout). Trust is what the config says: a pinned CA, the system roots, or -k.

import type { ClientAuth } from "../config/client-config.ts";
import { CliError } from "./cli-error.ts";

export interface ApiClientOptions {
  endpoint: string;
  auth: ClientAuth;
  /** PEM text of the CA to trust (undefined = system roots). */
  ca: string | undefined;
  /** Where the CA came from, for the hint when it does not verify the server. */
  caLabel: string;
  insecure: boolean;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export interface RequestOptions {
  query?: URLSearchParams;
  body?: unknown;
  contentType?: string;
}

export interface ExchangeOptions extends RequestOptions {
  /** More request headers (If-None-Match, Prefer, Range). */
  headers?: Record<string, string>;
  /** Statuses answered rather than thrown, besides 2xx: 304, 416. */
  accept?: readonly number[];
  /** Keep the body as bytes (Exchange.bytes) instead of parsing JSON. */
  raw?: boolean;
  /** How long the answer may take (a long-poll: its wait and some); default the client's timeout. */
  timeoutMs?: number;
  /** Stops the request; its reason is thrown. */
  signal?: AbortSignal;
}

export interface Exchange {
  status: number;
  headers: Headers;
  /** The JSON answer (undefined for an empty body or a raw exchange). */
  body: unknown;
  bytes: Uint8Array;
}

/** The API's error body, DRP style. */
export interface ApiErrorBody {
  Model?: string;
  Key?: string;
  Type?: string;
  Messages?: string[];
  Code?: number;
}

export class ApiError extends CliError {
  readonly status: number;
  readonly body: ApiErrorBody | undefined;
  constructor(message: string, status: number, body: ApiErrorBody | undefined) {
    super(message, 1);
    this.name = "ApiError";
    this.status = status;
    this.body = body;
  }
}

const DEFAULT_TIMEOUT_MS = 30_000;

const UNTRUSTED = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_UNTRUSTED",
  "CERT_SIGNATURE_FAILURE",
]);

export class ApiClient {
  private readonly opts: ApiClientOptions;
  private readonly doFetch: typeof fetch;

  constructor(opts: ApiClientOptions) {
    this.opts = opts;
    this.doFetch = opts.fetch ?? fetch;
  }

  /** URL of an API path ("machines", "machines/<encoded key>"). */
  url(path: string, query?: URLSearchParams): string {
    const q = query && [...query.keys()].length > 0 ? `?${query}` : "";
    return `${this.opts.endpoint}/api/v3/${path}${q}`;
  }

  async request(method: string, path: string, ro: RequestOptions = {}): Promise<unknown> {
    return (await this.exchange(method, path, ro)).body;
  }

  /**
   * One request with its status and headers: what long-polls (If-None-Match, Prefer: wait, 304)
   * and the job log (raw bytes, Socle-Log-Length) need. A status that is not 2xx and not in
   * `ro.accept` is the API's error, as request(). If `ro.signal` aborts, its reason is thrown as
   * it is (the caller stopped asking).
   */
  async exchange(method: string, path: string, ro: ExchangeOptions = {}): Promise<Exchange> {
    const url = this.url(path, ro.query);
    const headers = { ...this.headers(ro.raw ? "*/*" : "application/json"), ...(ro.headers ?? {}) };
    let body: string | undefined;
    if (ro.body !== undefined) {
      body = JSON.stringify(ro.body);
      headers["Content-Type"] = ro.contentType ?? "application/json";
    }
    const timeoutMs = ro.timeoutMs ?? this.timeoutMs;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = ro.signal ? AbortSignal.any([timeout, ro.signal]) : timeout;

    let res: Response;
    let bytes: Uint8Array;
    try {
      res = await this.doFetch(url, this.init(method, headers, body, signal));
      bytes = new Uint8Array(await res.arrayBuffer());
    } catch (e) {
      if (ro.signal?.aborted) throw ro.signal.reason;
      throw new CliError(this.describeNetworkError(e, timeoutMs));
    }
    const ok = res.ok || (ro.accept ?? []).includes(res.status);
    if (ok && ro.raw) return { status: res.status, headers: res.headers, body: undefined, bytes };
    const text = new TextDecoder().decode(bytes);
    if (!ok) throw this.apiError(res, text);
    // An accepted status that is not 2xx (304, 416) has no body worth failing over.
    return { status: res.status, headers: res.headers, body: res.ok ? this.answer(method, url, res, text) : undefined, bytes };
  }

  /**
   * PUT a raw body of exactly `size` bytes, streamed from `body` (sent with Content-Length; never
   * held in memory), and return the JSON answer. The timeout is for silence, not for the whole
   * transfer: it runs while no byte of the body moves, then ANSWER_TIMEOUT_MS for the answer once
   * the last byte is sent (the server fsyncs before it answers). An error thrown by `body` (the
   * local file) is rethrown as it is.
   */
  async putStream(path: string, body: ReadableStream<Uint8Array>, size: number): Promise<unknown> {
    const url = this.url(path);
    const headers = this.headers("application/json");
    headers["Content-Type"] = "application/octet-stream";
    headers["Content-Length"] = String(size);
    const watch = new Watchdog(this.timeoutMs);
    let localError: unknown;
    const source = body.getReader();
    const counted = new ReadableStream<Uint8Array>(
      {
        async pull(c) {
          let chunk: Awaited<ReturnType<typeof source.read>>;
          try {
            chunk = await source.read();
          } catch (e) {
            localError = e;
            throw e;
          }
          if (chunk.done) {
            watch.touch(Math.max(ANSWER_TIMEOUT_MS, watch.ms));
            c.close();
            return;
          }
          watch.touch();
          c.enqueue(chunk.value);
        },
        cancel(reason) {
          return source.cancel(reason);
        },
      },
      { highWaterMark: 0 },
    );
    try {
      let res: Response;
      let text: string;
      try {
        res = await this.doFetch(url, { ...this.init("PUT", headers, counted, watch.signal), duplex: "half" } as RequestInit);
        text = await res.text();
      } catch (e) {
        if (localError !== undefined) throw localError instanceof CliError ? localError : new CliError(String(localError));
        if (watch.fired) throw new CliError(`PUT ${url}: stalled, nothing moved for ${watch.firedAfter / 1000}s`);
        throw new CliError(this.describeNetworkError(e));
      }
      return this.answer("PUT", url, res, text);
    } finally {
      watch.stop();
      await source.cancel().catch(() => {});
    }
  }

  /**
   * GET a raw body and hand it to `sink` chunk by chunk (each awaited: the sink's pace is the
   * download's). Errors are the API's, as request(); a body cut short (fewer bytes than the
   * Content-Length, or the connection lost) is an error; the timeout is for silence, as putStream.
   * An error thrown by `sink` is rethrown as it is.
   */
  async getStream(path: string, sink: (chunk: Uint8Array) => Promise<void>): Promise<{ bytes: number }> {
    const url = this.url(path);
    const watch = new Watchdog(this.timeoutMs);
    try {
      let res: Response;
      try {
        res = await this.doFetch(url, this.init("GET", this.headers("application/octet-stream, application/json"), undefined, watch.signal));
      } catch (e) {
        throw new CliError(watch.fired ? `cannot reach ${this.opts.endpoint}: no answer within ${watch.firedAfter / 1000}s` : this.describeNetworkError(e));
      }
      if (!res.ok || res.body === null) {
        let text = "";
        try {
          text = await res.text();
        } catch (e) {
          throw new CliError(this.describeNetworkError(e));
        }
        if (res.ok) return { bytes: 0 };
        throw this.apiError(res, text);
      }
      const declared = res.headers.get("content-length");
      const reader = res.body.getReader();
      let bytes = 0;
      for (;;) {
        watch.touch();
        let chunk: Awaited<ReturnType<typeof reader.read>>;
        try {
          chunk = await reader.read();
        } catch (e) {
          const why = watch.fired ? `stalled, nothing moved for ${watch.firedAfter / 1000}s` : this.describeNetworkError(e);
          throw new CliError(`GET ${url}: cut off after ${bytes} bytes: ${why}`);
        }
        if (chunk.done) break;
        bytes += chunk.value.byteLength;
        try {
          await sink(chunk.value);
        } catch (e) {
          await reader.cancel().catch(() => {});
          throw e;
        }
      }
      if (declared !== null && /^\d+$/.test(declared) && Number(declared) !== bytes) {
        throw new CliError(`GET ${url}: cut off after ${bytes} of ${declared} bytes`);
      }
      return { bytes };
    } finally {
      watch.stop();
    }
  }

  private get timeoutMs(): number {
    return this.opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /**
   * GET a stream (server-sent events, sse.ts) and return the response once its headers are in,
   * body unread. No timeout but `signal`: the reader watches for silence itself. Errors are the
   * API's, as request(); if `signal` aborts, its reason is thrown as it is.
   */
  async openStream(path: string, o: { query?: URLSearchParams | undefined; headers?: Record<string, string>; signal: AbortSignal }): Promise<Response> {
    const url = this.url(path, o.query);
    let res: Response;
    try {
      res = await this.doFetch(url, this.init("GET", { ...this.headers("text/event-stream"), ...(o.headers ?? {}) }, undefined, o.signal));
    } catch (e) {
      if (o.signal.aborted) throw o.signal.reason;
      throw new CliError(this.describeNetworkError(e));
    }
    if (res.ok) return res;
    let text = "";
    try {
      text = await res.text();
    } catch {
      if (o.signal.aborted) throw o.signal.reason;
    }
    throw this.apiError(res, text);
  }

  /** Accept and the credentials: what every request carries. */
  private headers(accept: string): Record<string, string> {
    const headers: Record<string, string> = { Accept: accept };
    const auth = this.opts.auth;
    if (auth.kind === "basic") headers.Authorization = `Basic ${btoa(`${auth.username}:${auth.password}`)}`;
    if (auth.kind === "token") headers.Authorization = `Bearer ${auth.token}`;
    return headers;
  }

  private init(method: string, headers: Record<string, string>, body: RequestInit["body"], signal: AbortSignal): RequestInit {
    const tls = this.opts.insecure ? { rejectUnauthorized: false } : this.opts.ca ? { ca: this.opts.ca } : undefined;
    return { method, headers, body, redirect: "manual", signal, ...(tls ? { tls } : {}) } as RequestInit;
  }

  /** A JSON answer, or the API's error. */
  private answer(method: string, url: string, res: Response, text: string): unknown {
    if (res.ok) {
      if (text === "") return undefined;
      try {
        return JSON.parse(text);
      } catch {
        throw new CliError(`${method} ${url}: server sent ${res.status} with a body that is not JSON: ${snippet(text)}`);
      }
    }
    throw this.apiError(res, text);
  }

  private apiError(res: Response, text: string): ApiError {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (parsed !== null && typeof parsed === "object" && ("Type" in parsed || "Messages" in parsed)) {
      const b = parsed as ApiErrorBody;
      const msgs = Array.isArray(b.Messages) ? b.Messages.join("; ") : "";
      let line = `${b.Type ?? "Error"} ${b.Code ?? res.status}: ${msgs}`;
      if (res.status === 401 && this.opts.auth.kind === "none") {
        line += "\nhint: no credentials were given: pass -U/-P or -T (or set SOCLE_USERNAME/SOCLE_PASSWORD or SOCLE_TOKEN)";
      }
      return new ApiError(line, res.status, b);
    }
    const where = res.status >= 300 && res.status < 400 ? ` (redirect to ${res.headers.get("location") ?? "?"})` : "";
    return new ApiError(`HTTP ${res.status}${where}: ${snippet(text) || res.statusText}`, res.status, undefined);
  }

  private describeNetworkError(e: unknown, timeoutMs = this.timeoutMs): string {
    const ep = this.opts.endpoint;
    const err = e as { name?: string; code?: string; message?: string };
    const code = err?.code ?? "";
    if (err?.name === "TimeoutError" || code === "ETIMEDOUT") {
      return `cannot reach ${ep}: no answer within ${timeoutMs / 1000}s`;
    }
    if (UNTRUSTED.has(code)) {
      const by = this.opts.ca ? ` by the CA in ${this.opts.caLabel}` : "";
      return `TLS: certificate of ${ep} not trusted${by} (${code}): pass --ca-file (socle pki ca > ca.pem) or -k`;
    }
    if (code === "ERR_TLS_CERT_ALTNAME_INVALID") {
      return `TLS: certificate of ${ep} is not valid for host "${new URL(ep).hostname}": use a name or address the certificate lists`;
    }
    if (code === "CERT_HAS_EXPIRED") return `TLS: certificate of ${ep} has expired`;
    if (code === "CERT_NOT_YET_VALID") return `TLS: certificate of ${ep} is not yet valid (check the clocks)`;
    if (code === "EPROTO") return `TLS: handshake with ${ep} failed: does the server speak TLS there? (try http://)`;
    if (code === "ECONNREFUSED") return `cannot reach ${ep}: connection refused`;
    if (code === "ECONNRESET") {
      const hint = ep.startsWith("http:") ? " (if it serves TLS there, use https://)" : "";
      return `cannot reach ${ep}: connection closed by the server${hint}`;
    }
    if (code === "ENOTFOUND") return `cannot reach ${ep}: host "${new URL(ep).hostname}" not found`;
    return `cannot reach ${ep}: ${code || err?.message || String(e)}`;
  }
}

/** After the last byte of an upload, how long the server may take to answer (it fsyncs first). */
const ANSWER_TIMEOUT_MS = 10 * 60_000;

/** An abort signal that fires after `ms` without a touch(): a timeout for silence, not for a whole transfer. */
class Watchdog {
  private readonly controller = new AbortController();
  private timer: ReturnType<typeof setTimeout> | undefined;
  firedAfter = 0;

  constructor(readonly ms: number) {
    this.touch();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get fired(): boolean {
    return this.controller.signal.aborted;
  }

  touch(ms = this.ms): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.firedAfter = ms;
      this.controller.abort(new DOMException(`nothing moved for ${ms / 1000}s`, "TimeoutError"));
    }, ms);
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}

function snippet(text: string): string {
  const s = text.replace(/\s+/g, " ").trim();
  return s.length > 200 ? s.slice(0, 199) + "…" : s;
}

/** Path segment for an object key; `Name:n1` index keys pass through encoded. */
export function keyPath(type: string, key: string, ...rest: string[]): string {
  return [type, key, ...rest].map(encodeURIComponent).join("/");
}
