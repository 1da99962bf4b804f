// The client side of the API's long-poll: GET one object with `If-None-Match: <etag>` and
// `Prefer: wait=<duration>`; the server answers 200 as soon as the object differs from what we
// hold, or 304 when the wait ends. `machines wait` and `jobs log --follow` watch objects this way.
// A server that does not hold the request (no ETag, or a 304 at once) is asked at most once a
// second instead, so a watch never turns into a busy loop.

import { formatDuration } from "../model/duration.ts";
import type { ApiClient } from "./api-client.ts";
import { CliError } from "./cli-error.ts";

/** The longest wait one request asks for (the server's own limit is 10 minutes). */
export const MAX_POLL_WAIT_MS = 5 * 60_000;
/** Least time between two requests when the server does not hold them. */
const MIN_INTERVAL_MS = 1000;
/** Time for the answer to arrive once the server's wait is over. */
const ANSWER_SLACK_MS = 30_000;

export interface Watched {
  obj: Record<string, unknown>;
  etag: string | undefined;
}

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

function watched(path: string, body: unknown, headers: Headers): Watched {
  if (!isRecord(body)) throw new CliError(`GET ${path}: expected an object, got ${JSON.stringify(body)?.slice(0, 80)}`);
  return { obj: body, etag: headers.get("etag") ?? undefined };
}

/** The object at `path` (keyPath form) and its ETag. */
export async function fetchObject(api: ApiClient, path: string): Promise<Watched> {
  const r = await api.exchange("GET", path);
  return watched(path, r.body, r.headers);
}

/**
 * The object at `path` once it differs from `held`, or `held` itself (changed: false) when
 * `waitMs` passed without a change. Deleted: the API's 404 is thrown.
 */
export async function awaitChange(
  api: ApiClient,
  path: string,
  held: Watched,
  waitMs: number,
  signal?: AbortSignal,
): Promise<{ changed: boolean; now: Watched }> {
  // Whole seconds, rounded up (RFC 7240 counts the wait in seconds): a wait computed from a
  // deadline (999 ms left) asks for the second it means, not a spelling that depends on timing.
  const wait = Math.min(Math.max(1000, Math.ceil(waitMs / 1000) * 1000), MAX_POLL_WAIT_MS);
  const started = Date.now();
  const headers: Record<string, string> = held.etag ? { "If-None-Match": held.etag, Prefer: `wait=${formatDuration(wait)}` } : {};
  const r = await api.exchange("GET", path, { headers, accept: [304], timeoutMs: wait + ANSWER_SLACK_MS, ...(signal ? { signal } : {}) });
  const now = r.status === 304 ? held : watched(path, r.body, r.headers);
  const changed = r.status !== 304 && JSON.stringify(now.obj) !== JSON.stringify(held.obj);
  if (!changed) {
    // Not held by the server (or the change was invisible): pace the next request.
    const rest = Math.min(MIN_INTERVAL_MS, wait) - (Date.now() - started);
    if (rest > 0) await sleep(rest, signal);
  }
  return { changed, now };
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
