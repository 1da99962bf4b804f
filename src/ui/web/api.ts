// The UI's side of the API: JSON calls, uploads with progress and the event stream.
//
// Credentials: the session is an HttpOnly cookie the browser sends by itself; the page never sees
// the token. Every call carries X-Socle-UI: 1, which the server requires for writes made with the
// cookie: a form or an image on another site cannot add a header, so it cannot write.

import { useEffect, useRef, useState } from "preact/hooks";

export const UI_HEADER = { "X-Socle-UI": "1" };

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly messages: string[],
  ) {
    super(messages.join("; ") || `HTTP ${status}`);
  }
}

/** Called when the server says the session is over (401), so the app can show the login page. */
let onUnauthorized: () => void = () => {};
export function setUnauthorizedHandler(fn: () => void): void {
  onUnauthorized = fn;
}

async function errorOf(res: Response): Promise<ApiError> {
  let messages: string[] = [];
  try {
    const body = (await res.json()) as { Messages?: unknown };
    if (Array.isArray(body.Messages)) messages = body.Messages.map(String);
  } catch {
    messages = [`${res.status} ${res.statusText}`];
  }
  return new ApiError(res.status, messages);
}

export interface CallOptions {
  body?: unknown;
  /** Extra request headers. */
  headers?: Record<string, string>;
  /** Do not treat 401 as the end of the session (the login form itself). */
  quiet401?: boolean;
}

/** Call the API; the parsed JSON answer (undefined for an empty one), or an ApiError. */
export async function api<T = unknown>(method: string, path: string, opts: CallOptions = {}): Promise<T> {
  const headers: Record<string, string> = { ...UI_HEADER, Accept: "application/json", ...(opts.headers ?? {}) };
  let body: string | undefined;
  if (opts.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(opts.body);
  }
  const res = await fetch(path, { method, headers, body, credentials: "same-origin", cache: "no-store" });
  if (!res.ok) {
    const err = await errorOf(res);
    if (res.status === 401 && !opts.quiet401) onUnauthorized();
    throw err;
  }
  const text = await res.text();
  return (text === "" ? undefined : JSON.parse(text)) as T;
}

/** Text of a route that answers text (job logs). */
export async function apiText(path: string): Promise<string> {
  const res = await fetch(path, { headers: UI_HEADER, credentials: "same-origin", cache: "no-store" });
  if (!res.ok) {
    const err = await errorOf(res);
    if (res.status === 401) onUnauthorized();
    throw err;
  }
  return res.text();
}

/**
 * Upload a file's bytes with PUT, reporting progress: fetch has no upload progress, an
 * XMLHttpRequest does (upload.onprogress).
 */
export function upload(path: string, file: Blob, onProgress: (sent: number, total: number) => void): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", path);
    xhr.setRequestHeader("X-Socle-UI", "1");
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
    // A fast upload (a local link, a small file) may finish before the browser's first progress
    // event: the body being sent in full is reported here, so the bar never rests at 0%.
    xhr.upload.onload = () => onProgress(file.size, file.size);
    xhr.onload = () => {
      let body: unknown;
      try {
        body = xhr.responseText ? JSON.parse(xhr.responseText) : undefined;
      } catch {
        body = undefined;
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(file.size, file.size);
        resolve(body);
      }
      else {
        const msgs = (body as { Messages?: unknown } | undefined)?.Messages;
        if (xhr.status === 401) onUnauthorized();
        reject(new ApiError(xhr.status, Array.isArray(msgs) ? msgs.map(String) : [`HTTP ${xhr.status}`]));
      }
    };
    xhr.onerror = () => reject(new ApiError(0, ["the upload was interrupted (network error)"]));
    xhr.send(file);
  });
}

/** What the event stream delivers (api/events.ts EventMessage). */
export interface StreamMessage {
  Seq: number;
  Time: string;
  Type: string;
  Action: string;
  Key: string;
  Object: Record<string, unknown>;
}

export type StreamState = "connecting" | "open" | "closed";

/**
 * Follow GET /api/v3/events with `query` (type=machines&...), calling `onEvent` for each event.
 * Read with fetch rather than EventSource: the stream names each event "<Type>.<Action>", which an
 * EventSource only delivers to a listener per name, and fetch sends X-Socle-UI like every call.
 * A dropped stream is reopened after the server's `retry`, resuming from the last id seen; a 401
 * or 403 ends it, as does a 400 (a filter the server does not know). No stream while `query` is
 * undefined.
 */
export function useEvents(query: string | undefined, onEvent: (m: StreamMessage) => void): StreamState {
  const [state, setState] = useState<StreamState>("connecting");
  const handler = useRef(onEvent);
  handler.current = onEvent;
  useEffect(() => {
    if (query === undefined) {
      setState("closed");
      return;
    }
    const abort = new AbortController();
    let lastId: string | undefined;
    let retryMs = 2000;
    let stopped = false;
    const run = async () => {
      while (!stopped) {
        try {
          const headers: Record<string, string> = { ...UI_HEADER, Accept: "text/event-stream" };
          if (lastId !== undefined) headers["Last-Event-ID"] = lastId;
          const res = await fetch(`/api/v3/events${query ? `?${query}` : ""}`, { headers, credentials: "same-origin", signal: abort.signal, cache: "no-store" });
          if (res.status === 400 || res.status === 401 || res.status === 403) {
            if (res.status === 401) onUnauthorized();
            setState("closed");
            return;
          }
          if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
          setState("open");
          const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
          let buf = "";
          for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            buf += value;
            let end: number;
            while ((end = buf.indexOf("\n\n")) >= 0) {
              const block = buf.slice(0, end);
              buf = buf.slice(end + 2);
              let data = "";
              for (const line of block.split("\n")) {
                if (line.startsWith("data:")) data += line.slice(5).trimStart();
                else if (line.startsWith("id:")) lastId = line.slice(3).trim();
                else if (line.startsWith("retry:")) retryMs = Number(line.slice(6).trim()) || retryMs;
              }
              if (data === "") continue;
              try {
                const msg = JSON.parse(data) as StreamMessage;
                if (typeof msg.Type === "string") handler.current(msg);
              } catch {
                // A gap notice or a line this page does not know: nothing to show.
              }
            }
          }
        } catch {
          if (stopped) return;
        }
        if (stopped) return;
        setState("connecting");
        await new Promise((r) => setTimeout(r, retryMs));
      }
    };
    void run();
    return () => {
      stopped = true;
      abort.abort();
    };
  }, [query]);
  return state;
}

/** Load `path` as JSON; reload() fetches again (an event said it changed). */
export function useApi<T>(path: string | undefined): { data: T | undefined; error: ApiError | undefined; loading: boolean; reload: () => void } {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    if (path === undefined) return;
    let live = true;
    setLoading(true);
    api<T>("GET", path)
      .then((d) => {
        if (!live) return;
        setData(d);
        setError(undefined);
      })
      .catch((e: unknown) => {
        if (!live) return;
        setError(e instanceof ApiError ? e : new ApiError(0, [String(e)]));
      })
      .finally(() => live && setLoading(false));
    return () => {
      live = false;
    };
  }, [path, tick]);
  return { data, error, loading, reload: () => setTick((t) => t + 1) };
}

/** Call `fn` at most once per `ms`, at the end of a burst (a batch of changes becomes one reload). */
export function useDebounced(fn: () => void, ms: number): () => void {
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const latest = useRef(fn);
  latest.current = fn;
  useEffect(() => () => clearTimeout(timer.current), []);
  return () => {
    if (timer.current !== undefined) return;
    timer.current = setTimeout(() => {
      timer.current = undefined;
      latest.current();
    }, ms);
  };
}

export const enc = encodeURIComponent;
