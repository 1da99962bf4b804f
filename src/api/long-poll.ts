// Long-polling one object: GET /api/v3/<type>/<key> with `If-None-Match: <etag>` and
// `Prefer: wait=<duration>` (RFC 7240) is held until what the client would read differs from
// what it holds, or the wait ends (304). Agents wait for their next instruction this way, and
// `socle machines wait` for a field's value, without polling.
//
// The ETag is strong and names the representation: a hash of the exact JSON the reader gets (after
// redaction and read-time status), so it changes with every change the reader can see, whoever
// made it (clients, the job scheduler, a BootEnv's files appearing on disk), and two readers who
// see different things (Secure values in clear or not) never share one. A change that only
// touches what the reader cannot see (a machine's Secret) does not end its wait.
//
// Waiting costs a timer and an entry in a map keyed by object: the store's change feed wakes only
// the waiters of the object that changed, and the feed is subscribed to only while someone waits.

import { createHash } from "node:crypto";
import type { Store } from "../store/store.ts";
import { badRequest } from "../model/errors.ts";
import { formatDuration, parseDuration } from "../model/duration.ts";

/** Longest wait a client may ask for; longer ones are cut to this. */
const MAX_WAIT_MS = 10 * 60_000;

/**
 * The wait a `Prefer` header asks for, in ms (clamped to MAX_WAIT_MS), or undefined when it asks
 * for none. Other preferences are ignored (RFC 7240 §2); of several `wait`s the first counts.
 * A `wait` that is not a duration is 400, naming the header and the value.
 */
export function parsePreferWait(header: string | undefined, model: string, key: string): number | undefined {
  if (header === undefined) return undefined;
  for (const pref of header.split(",")) {
    const [token = ""] = pref.split(";");
    const eq = token.indexOf("=");
    const name = (eq < 0 ? token : token.slice(0, eq)).trim().toLowerCase();
    if (name !== "wait") continue;
    const raw = eq < 0 ? "" : token.slice(eq + 1).trim().replace(/^"(.*)"$/, "$1");
    const ms = parseDuration(raw);
    if (ms === undefined) {
      throw badRequest(model, key, `Prefer: invalid wait "${raw.slice(0, 40)}" in "${header.slice(0, 100)}" (expected seconds or a duration like 30s or 10m, at most ${formatDuration(MAX_WAIT_MS)})`);
    }
    return Math.min(ms, MAX_WAIT_MS);
  }
  return undefined;
}

/** The header that says a wait was honoured, in seconds as RFC 7240's example spells it. */
export function preferenceApplied(waitMs: number): Record<string, string> {
  return { "Preference-Applied": `wait=${waitMs / 1000}` };
}

/** A strong ETag of one representation: 128 bits of SHA-256 of the exact body sent. */
export function representationEtag(text: string): string {
  return `"${createHash("sha256").update(text).digest("base64url").slice(0, 22)}"`;
}

/** If-None-Match against our ETag, with the weak comparison RFC 9110 §13.1.2 prescribes (W/ ignored), and "*". */
export function noneMatchHits(ifNoneMatch: string, etag: string): boolean {
  const opaque = (t: string) => t.trim().replace(/^W\//, "");
  return ifNoneMatch.split(",").some((t) => t.trim() === "*" || opaque(t) === opaque(etag));
}

export type WaitOutcome = "change" | "timeout" | "abort";

/** Waiters of all hubs, for tests that check a client going away frees its waiter. */
let waitersNow = 0;

/** How many long-polls are waiting in this process (a test hook). */
export function pendingLongPolls(): number {
  return waitersNow;
}

/** Wakes the waiters of one object when the store commits a change to it. */
export class ObjectWaiters {
  private readonly waiting = new Map<string, Set<(o: WaitOutcome) => void>>();
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly store: Store) {}

  /**
   * Resolves with "change" at the next committed change of (type, key), "timeout" at `deadline`
   * (ms since the epoch), or "abort" when `signal` fires; whichever comes first, once.
   */
  next(type: string, key: string, deadline: number, signal: AbortSignal): Promise<WaitOutcome> {
    if (signal.aborted) return Promise.resolve("abort");
    const id = `${type}\u0000${key}`;
    return new Promise((resolve) => {
      let set = this.waiting.get(id);
      if (!set) {
        set = new Set();
        this.waiting.set(id, set);
      }
      let settled = false;
      const done = (o: WaitOutcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        set.delete(done);
        if (set.size === 0 && this.waiting.get(id) === set) this.waiting.delete(id);
        waitersNow--;
        if (this.waiting.size === 0) this.unsubscribeNow();
        resolve(o);
      };
      const onAbort = () => done("abort");
      const timer = setTimeout(() => done("timeout"), Math.max(0, deadline - Date.now()));
      // A server stopping must not wait for the longest poll.
      (timer as { unref?: () => void }).unref?.();
      signal.addEventListener("abort", onAbort, { once: true });
      set.add(done);
      waitersNow++;
      this.unsubscribe ??= this.store.subscribe((c) => {
        const woken = this.waiting.get(`${c.Type}\u0000${c.Key}`);
        if (woken) for (const w of [...woken]) w("change");
      });
    });
  }

  private unsubscribeNow(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }
}
