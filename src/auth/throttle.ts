// Slows down password guessing per (user name, remote address). The first few failures cost
// nothing (people mistype); from the Nth failure on, each further failure closes the door for a
// delay that doubles up to a cap. A success, or a quiet period as long as the window, forgets the
// key. Pure: the caller passes the clock, and memory is bounded by evicting the least recently
// failed key.
//
// Usage in the API: check() before verifying the password (answer 429 with Retry-After when not
// allowed, without looking at the password); fail() after a wrong password; succeed() after a
// right one.

export interface ThrottleOptions {
  /** Failures tolerated before delays start. Default 5. */
  maxFailures?: number;
  /** A key with no failure for this long is forgotten. Default 15 minutes. */
  windowMs?: number;
  /** Delay after the maxFailures-th failure. Default 1 s. */
  baseDelayMs?: number;
  /** Delays double up to this. Default 30 s. */
  maxDelayMs?: number;
  /** Keys remembered at most; the least recently failed is dropped beyond. Default 10 000. */
  maxEntries?: number;
}

interface Entry {
  failures: number;
  lastFailure: number;
  blockedUntil: number;
}

export class LoginThrottle {
  readonly maxFailures: number;
  readonly windowMs: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  readonly maxEntries: number;
  // Map iteration order is insertion order; fail() re-inserts, so the first key is the stalest.
  private readonly entries = new Map<string, Entry>();

  constructor(opts: ThrottleOptions = {}) {
    this.maxFailures = positiveInt("maxFailures", opts.maxFailures ?? 5);
    this.windowMs = positiveInt("windowMs", opts.windowMs ?? 15 * 60_000);
    this.baseDelayMs = positiveInt("baseDelayMs", opts.baseDelayMs ?? 1000);
    this.maxDelayMs = positiveInt("maxDelayMs", opts.maxDelayMs ?? 30_000);
    this.maxEntries = positiveInt("maxEntries", opts.maxEntries ?? 10_000);
    if (this.maxDelayMs < this.baseDelayMs) {
      throw new RangeError(`throttle maxDelayMs ${this.maxDelayMs} is below baseDelayMs ${this.baseDelayMs}`);
    }
  }

  /** The throttle key of a login attempt. NUL cannot occur in a user name sent over HTTP. */
  static key(user: string, remoteAddress: string): string {
    return `${user}\u0000${remoteAddress}`;
  }

  /** May an attempt for `key` go ahead at `now`? If not, how long until it may. */
  check(key: string, now: number): { allowed: boolean; retryAfterMs: number } {
    const e = this.live(key, now);
    if (!e || now >= e.blockedUntil) return { allowed: true, retryAfterMs: 0 };
    // Clamp: a clock stepped backwards must not produce a wait longer than the cap.
    return { allowed: false, retryAfterMs: Math.min(e.blockedUntil - now, this.maxDelayMs) };
  }

  /** Record a failed attempt for `key` at `now`. */
  fail(key: string, now: number): void {
    const e = this.live(key, now) ?? { failures: 0, lastFailure: now, blockedUntil: 0 };
    e.failures++;
    e.lastFailure = now;
    if (e.failures >= this.maxFailures) {
      // Cap the exponent too, so a long attack cannot overflow to Infinity.
      const doublings = Math.min(e.failures - this.maxFailures, 30);
      e.blockedUntil = now + Math.min(this.baseDelayMs * 2 ** doublings, this.maxDelayMs);
    }
    this.entries.delete(key);
    this.entries.set(key, e);
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
  }

  /** A successful login forgets the key's failures. */
  succeed(key: string): void {
    this.entries.delete(key);
  }

  /** Number of keys remembered (for metrics and tests). */
  get size(): number {
    return this.entries.size;
  }

  /** The key's entry, unless its window has passed (then it is dropped). */
  private live(key: string, now: number): Entry | undefined {
    const e = this.entries.get(key);
    if (e && now - e.lastFailure >= this.windowMs) {
      this.entries.delete(key);
      return undefined;
    }
    return e;
  }
}

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v <= 0) throw new RangeError(`throttle ${name} "${v}" is not a positive integer`);
  return v;
}
