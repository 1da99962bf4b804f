// Failure detection for the standby, pure: no sockets, no timers; every call takes `now` (ms).
//
// HeartbeatBook: the last frame heard on each path to the partner (peer link, LAN). A path is up
// while its last frame is younger than haHeartbeatTimeout; the partner is silent when every path
// is down. Any frame counts, not only Hb: a busy replication stream is proof of life too.
//
// UnackedTracker: Kea's "max-unacked-clients" idea. A silent partner may only have a cut link; what
// proves it is dead is a DHCP client it leaves unanswered. Kea reads that from `secs` alone
// (secs > max-ack-delay); Socle's standby receives every broadcast the active receives and sees the
// active's broadcast replies, so it first watches retransmissions: two transmissions of one
// exchange (same chaddr and xid) at least haMaxAckDelay apart with no reply seen between them.
// `secs` is the fallback for a client whose first transmission the standby missed:
// - RFC 2131 says seconds since the client began acquisition; EDK2, PXE ROMs and udhcpc mostly do.
// - iPXE does not: since 2010 (commit 6d11229e8) it abuses `secs` as session metadata, and since
//   2015 (ed0d7c4f6) it is `(count << 2) | (DHCPOFFER seen ? 2 : 0) | (ProxyDHCPOFFER seen ? 1 : 0)`
//   where `count` is incremented at each retransmission-timer expiry BEFORE the packet is built,
//   so the first DHCPDISCOVER already carries count 1: `(secs >> 2) - 1` transmissions came
//   before this one. The count runs on across DISCOVER and REQUEST (one session, one xid), and an
//   STP-blocked link bumps it without sending ("deferring discovery"), so it is only trusted while
//   bit 1 is clear: no DHCPOFFER yet means every earlier transmission went unanswered. iPXE's
//   DISCOVER timeouts start at 1 s and double up to 10 s, so n earlier transmissions mean at least
//   1, 3, 7, 15, 25, 35 ... seconds of waiting.
// Only requests the standby's own handler would answer should be fed in (a matching subnet, not
// proxy-only), so clients the active ignores by policy never look unanswered.
//
// Memory stays bounded under a boot storm: at most `maxClients` tracked (the least recently heard
// is dropped first) and each entry expires `entryTtlMs` after its client's last transmission.

export interface PathStatus {
  path: string;
  up: boolean;
  /** Milliseconds since the last frame on this path; undefined when none was ever heard. */
  ageMs: number | undefined;
  rttMs: number | undefined;
}

export class HeartbeatBook {
  readonly #timeoutMs: number;
  readonly #paths = new Map<string, { lastMs: number | undefined; rttMs: number | undefined }>();

  /** `paths`: names of the configured paths ("peer", "lan"); frames on other names add a path. */
  constructor(paths: readonly string[], timeoutMs: number) {
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new RangeError(`HeartbeatBook: invalid heartbeat timeout ${timeoutMs} ms`);
    this.#timeoutMs = timeoutMs;
    for (const p of paths) this.#paths.set(p, { lastMs: undefined, rttMs: undefined });
  }

  /** Any frame from the partner on `path` at `now`; `rttMs` from an HbAck when known. */
  heard(path: string, now: number, rttMs?: number): void {
    const p = this.#paths.get(path);
    if (p) {
      p.lastMs = p.lastMs === undefined ? now : Math.max(p.lastMs, now);
      if (rttMs !== undefined) p.rttMs = rttMs;
    } else {
      this.#paths.set(path, { lastMs: now, rttMs });
    }
  }

  pathUp(path: string, now: number): boolean {
    const last = this.#paths.get(path)?.lastMs;
    return last !== undefined && now - last < this.#timeoutMs;
  }

  /** The newest frame on any path: the partner's last proof of life (undefined: never heard). */
  lastHeard(): number | undefined {
    let last: number | undefined;
    for (const p of this.#paths.values()) if (p.lastMs !== undefined && (last === undefined || p.lastMs > last)) last = p.lastMs;
    return last;
  }

  /** Every path down: nothing heard for haHeartbeatTimeout on any of them (or never heard). */
  peerSilent(now: number): boolean {
    const last = this.lastHeard();
    return last === undefined || now - last >= this.#timeoutMs;
  }

  status(now: number): PathStatus[] {
    return [...this.#paths].map(([path, p]) => ({
      path,
      up: this.pathUp(path, now),
      ageMs: p.lastMs === undefined ? undefined : now - p.lastMs,
      rttMs: p.rttMs,
    }));
  }
}

export interface RequestSeen {
  /** chaddr, lower-case colon form. */
  mac: string;
  xid: number;
  /** The `secs` field as received. */
  secs: number;
  /** User class "iPXE" or iPXE's encapsulated options (175) present: `secs` is a counter. */
  isIpxe: boolean;
  now: number;
}

export interface ReplySeen {
  mac: string;
  xid: number;
  now: number;
}

/** Why a client counts as unacked, for `ha status`. */
export type UnackedReason = "retransmitted" | "secs";

export interface UnackedClient {
  mac: string;
  /** When the transmission that made it unacked arrived. */
  atMs: number;
  why: UnackedReason;
}

export interface UnackedTrackerOptions {
  /** haMaxAckDelay. */
  maxAckDelayMs: number;
  /** Most clients tracked at once; the least recently heard is dropped beyond it. Default 4096. */
  maxClients?: number;
  /** An entry is dropped this long after its client's last transmission. Default 60 s. */
  entryTtlMs?: number;
}

interface ClientEntry {
  xid: number;
  /** First transmission of this exchange not followed by a reply (undefined: answered, none since). */
  pendingSinceMs: number | undefined;
  lastTxMs: number;
  lastReplyMs: number | undefined;
  unackedAtMs: number | undefined;
  why: UnackedReason | undefined;
}

const IPXE_DHCPOFFER_SEEN = 0x02;
const IPXE_FIRST_TIMEOUT_S = 1;
const IPXE_LAST_TIMEOUT_S = 10;

/**
 * Seconds an iPXE client has waited at least, from its `secs` field; undefined when the field
 * tells nothing (an offer was seen, or this is its first transmission).
 */
export function ipxeWaitedSeconds(secs: number): number | undefined {
  if ((secs & IPXE_DHCPOFFER_SEEN) !== 0) return undefined;
  const earlier = (secs >>> 2) - 1;
  if (earlier < 1) return undefined;
  let waited = 0;
  let timeout = IPXE_FIRST_TIMEOUT_S;
  for (let i = 0; i < earlier; i++) {
    waited += timeout;
    timeout = Math.min(timeout * 2, IPXE_LAST_TIMEOUT_S);
  }
  return waited;
}

/** Seconds the client says it has waited (per its kind), or undefined when it says nothing. */
function waitedSeconds(secs: number, isIpxe: boolean): number | undefined {
  if (isIpxe) return ipxeWaitedSeconds(secs);
  return secs >= 1 ? secs : undefined;
}

export class UnackedTracker {
  readonly #maxAckDelayMs: number;
  readonly #maxClients: number;
  readonly #ttlMs: number;
  /** Ordered by last transmission, oldest first (an entry is re-inserted on every request). */
  readonly #clients = new Map<string, ClientEntry>();
  #lastRequestMs: number | undefined;
  #lastReplyMs: number | undefined;
  #evicted = 0;

  constructor(opts: UnackedTrackerOptions) {
    const { maxAckDelayMs, maxClients = 4096, entryTtlMs = 60_000 } = opts;
    if (!Number.isFinite(maxAckDelayMs) || maxAckDelayMs < 0) throw new RangeError(`UnackedTracker: invalid maxAckDelayMs ${maxAckDelayMs}`);
    if (!Number.isInteger(maxClients) || maxClients < 1) throw new RangeError(`UnackedTracker: invalid maxClients ${maxClients}`);
    if (!Number.isFinite(entryTtlMs) || entryTtlMs <= maxAckDelayMs) {
      throw new RangeError(`UnackedTracker: entryTtlMs ${entryTtlMs} must be longer than maxAckDelayMs ${maxAckDelayMs}`);
    }
    this.#maxAckDelayMs = maxAckDelayMs;
    this.#maxClients = maxClients;
    this.#ttlMs = entryTtlMs;
  }

  /** A DHCPDISCOVER or DHCPREQUEST the standby received (and its own handler would answer). */
  noteRequest(r: RequestSeen): void {
    this.#lastRequestMs = r.now;
    this.#expire(r.now);
    let e = this.#clients.get(r.mac);
    if (e) this.#clients.delete(r.mac);
    if (!e || e.xid !== r.xid) {
      e = { xid: r.xid, pendingSinceMs: r.now, lastTxMs: r.now, lastReplyMs: undefined, unackedAtMs: undefined, why: undefined };
    } else {
      e.pendingSinceMs ??= r.now;
      e.lastTxMs = r.now;
    }
    if (r.now - e.pendingSinceMs! >= this.#maxAckDelayMs && r.now > e.pendingSinceMs!) {
      e.unackedAtMs = r.now;
      e.why = "retransmitted";
    } else if (e.lastReplyMs === undefined) {
      // `secs` counts from the start of the exchange, answered stretches included: once a reply
      // to this exchange was seen, only the retransmissions since then say anything.
      const waited = waitedSeconds(r.secs, r.isIpxe);
      if (waited !== undefined && waited * 1000 >= this.#maxAckDelayMs) {
        e.unackedAtMs = r.now;
        e.why = "secs";
      }
    }
    this.#clients.set(r.mac, e);
    while (this.#clients.size > this.#maxClients) {
      this.#clients.delete(this.#clients.keys().next().value!);
      this.#evicted++;
    }
  }

  /** A DHCPOFFER/ACK/NAK from the active seen on the LAN (port 68), matched by chaddr and xid. */
  noteReply(r: ReplySeen): void {
    // Only a reply to an exchange seen here is evidence the active lives: anything else on the LAN
    // (another DHCP server, a forged packet) must not hold a takeover back.
    const e = this.#clients.get(r.mac);
    if (!e || e.xid !== r.xid) return;
    this.#lastReplyMs = this.#lastReplyMs === undefined ? r.now : Math.max(this.#lastReplyMs, r.now);
    e.lastReplyMs = r.now;
    e.pendingSinceMs = undefined;
  }

  /** The newest reply from the active seen, for any client. */
  lastReplyAt(): number | undefined {
    return this.#lastReplyMs;
  }

  /** The newest request seen from any client. */
  lastRequestAt(): number | undefined {
    return this.#lastRequestMs;
  }

  /**
   * Clients that became unacked at or after `sinceMs` (the partner's last proof of life) and were
   * not answered after that, oldest first.
   */
  unacked(now: number, sinceMs: number): UnackedClient[] {
    this.#expire(now);
    const out: UnackedClient[] = [];
    for (const [mac, e] of this.#clients) {
      if (e.unackedAtMs === undefined || e.unackedAtMs < sinceMs) continue;
      if (e.lastReplyMs !== undefined && e.lastReplyMs >= e.unackedAtMs) continue;
      out.push({ mac, atMs: e.unackedAtMs, why: e.why! });
    }
    return out.sort((a, b) => a.atMs - b.atMs);
  }

  unackedCount(now: number, sinceMs: number): number {
    return this.unacked(now, sinceMs).length;
  }

  /** Clients tracked now (bounded by maxClients). */
  get size(): number {
    return this.#clients.size;
  }

  /** Entries dropped because the cap was reached (not by expiry). */
  get evicted(): number {
    return this.#evicted;
  }

  #expire(now: number): void {
    for (const [mac, e] of this.#clients) {
      if (now - e.lastTxMs < this.#ttlMs) break;
      this.#clients.delete(mac);
    }
  }
}
