// Slows down password guessing. LoginThrottle counts failures per key: the first few cost
// nothing (people mistype); from the Nth failure on, each further failure closes the door for a
// delay that doubles up to a cap. A success, or a quiet period as long as the window, forgets the
// key. Pure: the caller passes the clock, and memory is bounded by evicting the least recently
// failed key.
//
// LoginLimiter keeps two of them. One per (user name, address) stops guessing one account's
// password. One per address alone, with a larger allowance, stops spraying: trying a common
// password against many user names from one place, which never fails twice for the same key of
// the first. A success forgets only the first: an attacker holding one good account must not be
// able to wipe its address's record by logging in between guesses. IPv6 addresses count per /64,
// the block one host is usually given.
//
// Usage in the API: check() before verifying the password (answer 429 with Retry-After when not
// allowed, without looking at the password); fail() after a wrong password; succeed() after a
// right one.

import { isIPv6 } from "node:net";

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

export interface LoginLimiterOptions {
  /** Per (user name, address). Defaults as LoginThrottle's. */
  perUser?: ThrottleOptions;
  /** Per address across all user names. Default maxFailures 20, otherwise as LoginThrottle's. */
  perAddress?: ThrottleOptions;
}

/** Which door is closed: this user from this address, or this address for everyone. */
export type ThrottledBy = "user" | "address";

export class LoginLimiter {
  readonly perUser: LoginThrottle;
  readonly perAddress: LoginThrottle;

  constructor(opts: LoginLimiterOptions = {}) {
    this.perUser = new LoginThrottle(opts.perUser);
    this.perAddress = new LoginThrottle({ maxFailures: 20, ...opts.perAddress });
  }

  /** May a login as `user` from `remote` go ahead at `now`? If not, why and for how long. */
  check(user: string, remote: string, now: number): { allowed: boolean; retryAfterMs: number; by?: ThrottledBy } {
    const u = this.perUser.check(LoginThrottle.key(user, remote), now);
    const a = this.perAddress.check(addressKey(remote), now);
    if (u.allowed && a.allowed) return { allowed: true, retryAfterMs: 0 };
    return a.retryAfterMs > u.retryAfterMs
      ? { allowed: false, retryAfterMs: a.retryAfterMs, by: "address" }
      : { allowed: false, retryAfterMs: u.retryAfterMs, by: "user" };
  }

  fail(user: string, remote: string, now: number): void {
    this.perUser.fail(LoginThrottle.key(user, remote), now);
    this.perAddress.fail(addressKey(remote), now);
  }

  /** Forgets this user's failures from this address; the address's own count stays. */
  succeed(user: string, remote: string): void {
    this.perUser.succeed(LoginThrottle.key(user, remote));
  }
}

/**
 * The address key failures are counted under: an IPv4 address as it is (also when written as an
 * IPv4-mapped IPv6 address, as dual-stack listeners report them), an IPv6 address as its /64
 * ("2001:db8:1:2::/64"), anything else (an empty or unparsable address) as it is.
 */
export function addressKey(remote: string): string {
  const bare = remote.split("%")[0] ?? "";
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(bare);
  if (mapped) return mapped[1]!;
  if (!isIPv6(bare)) return remote;
  const half = bare.split("::");
  const groups = (part: string | undefined) => (part ? part.split(":") : []);
  // A trailing dotted quad fills two groups; it can only sit in the low 64 bits we drop.
  const width = (gs: string[]) => gs.reduce((n, g) => n + (g.includes(".") ? 2 : 1), 0);
  let all: string[];
  if (half.length === 2) {
    const head = groups(half[0]);
    const tail = groups(half[1]);
    all = [...head, ...Array<string>(8 - width(head) - width(tail)).fill("0"), ...tail];
  } else {
    all = groups(bare);
  }
  const prefix = all.slice(0, 4).map((g) => parseInt(g, 16).toString(16));
  return `${prefix.join(":")}::/64`;
}
