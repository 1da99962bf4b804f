// How much registering one source address and one registration token may do
// (POST /api/v3/register, routes-register.ts).
//
// Registration tokens cost nothing to get: the discovery boot file of any unknown MAC carries a
// fresh one, served without credentials. So the limits are where the cost is:
// - per source address, a token bucket over every POST /register (whatever the credential): a
//   discovery client makes one request, five when its answers are lost, so a burst of
//   sourceBurst and then one request per sourceRefillSeconds stops a flood and never a machine;
// - per registration token, a ticket: at most tokenRequests requests in its lifetime, and at most
//   one machine created (the route's rule: a token is single-use, see there). The ticket
//   remembers the machine it created, so a retry of that registration gets the same answer.
//
// State is in memory and bounded: idle buckets and tickets of expired tokens are dropped; when
// maxTracked are live at once, new sources and tokens are refused (429) rather than forgetting
// live ones (forgetting a ticket would let its token register again). After a restart a token
// still in its lifetime gets a fresh ticket: it may create one more machine, for unknown MACs
// only, within minutes (unknownTokenTimeout).

import { createHash } from "node:crypto";
import { SocleError } from "../model/errors.ts";

export interface RegistrationLimits {
  /** Requests one source address may make at once (the bucket's size). */
  sourceBurst: number;
  /** Seconds in which the bucket of a source gains one request back. */
  sourceRefillSeconds: number;
  /** Requests one registration token may make in its lifetime: the first and its retries. */
  tokenRequests: number;
  /** Sources, and registration tokens, tracked at once. */
  maxTracked: number;
}

export const DEFAULT_REGISTRATION_LIMITS: Readonly<RegistrationLimits> = Object.freeze({
  sourceBurst: 10,
  sourceRefillSeconds: 6,
  tokenRequests: 10,
  maxTracked: 100_000,
});

/** What a registration token has done: one machine at most. */
export interface Ticket {
  /** Milliseconds; the ticket is dropped after the token expires. */
  readonly expiresAt: number;
  requests: number;
  /** The machine this token created, from which address, with which MACs. */
  created?: { uuid: string; remote: string; macs: readonly string[] };
  /** A creation under way: other requests with this token wait for it. */
  pending?: Promise<unknown>;
}

interface Bucket {
  level: number;
  at: number;
}

const PRUNE_EVERY_MS = 1000;

function tooMany(msg: string, retryMs: number): SocleError {
  return new SocleError("TooManyRequests", "machines", "", `register: ${msg}; retry in ${Math.max(1, Math.ceil(retryMs / 1000))} s`);
}

export class RegistrationLimiter {
  private readonly sources = new Map<string, Bucket>();
  private readonly tickets = new Map<string, Ticket>();
  private prunedAt = -Infinity;
  readonly limits: Readonly<RegistrationLimits>;

  constructor(limits: Partial<RegistrationLimits> = {}, private readonly now: () => number = Date.now) {
    this.limits = { ...DEFAULT_REGISTRATION_LIMITS, ...limits };
  }

  /** Count one request from `source` (an address), or throw TooManyRequests. */
  admitSource(source: string): void {
    const now = this.now();
    const refillMs = this.limits.sourceRefillSeconds * 1000;
    let b = this.sources.get(source);
    if (!b) {
      if (this.sources.size >= this.limits.maxTracked) this.prune(now);
      if (this.sources.size >= this.limits.maxTracked) throw tooMany("too many sources are registering at once", refillMs);
      b = { level: this.limits.sourceBurst, at: now };
      this.sources.set(source, b);
    }
    b.level = Math.min(this.limits.sourceBurst, b.level + (now - b.at) / refillMs);
    b.at = now;
    if (b.level < 1) throw tooMany("too many registrations from this address", (1 - b.level) * refillMs);
    b.level -= 1;
  }

  /**
   * The ticket of the registration token `token` (made on first sight, to expire at `expiresAt`
   * ms), after counting this request; TooManyRequests once the token has made its requests.
   */
  ticket(token: string, expiresAt: number): Ticket {
    const now = this.now();
    const key = createHash("sha256").update(token).digest("base64url");
    let t = this.tickets.get(key);
    if (t && t.expiresAt <= now) {
      this.tickets.delete(key);
      t = undefined;
    }
    if (!t) {
      if (this.tickets.size >= this.limits.maxTracked) this.prune(now);
      if (this.tickets.size >= this.limits.maxTracked) throw tooMany("too many registration tokens in use at once", 60_000);
      t = { expiresAt, requests: 0 };
      this.tickets.set(key, t);
    }
    if (t.requests >= this.limits.tokenRequests) {
      throw tooMany(`this registration token has made its ${this.limits.tokenRequests} requests; the next boot brings a new one`, Math.max(0, t.expiresAt - now));
    }
    t.requests++;
    return t;
  }

  /** Sources and tickets tracked (tests). */
  get size(): { sources: number; tickets: number } {
    return { sources: this.sources.size, tickets: this.tickets.size };
  }

  /** Drop full (idle) buckets and expired tickets; at most once a second, it is a full scan. */
  private prune(now: number): void {
    if (now - this.prunedAt < PRUNE_EVERY_MS) return;
    this.prunedAt = now;
    const refillMs = this.limits.sourceRefillSeconds * 1000;
    for (const [k, b] of this.sources) if (b.level + (now - b.at) / refillMs >= this.limits.sourceBurst) this.sources.delete(k);
    for (const [k, t] of this.tickets) if (t.expiresAt <= now && !t.pending) this.tickets.delete(k);
  }
}
