// The active node's side of replication: it brings a connected standby up to date and then
// streams every committed change to it, and tells writers when the standby has a change durably
// (sync before answer: replicated-store.ts waits on `waitAcked` before a write resolves, which is
// how a DHCPACK leaves only once the partner holds the lease).
//
// Catch-up first, then live: the feeder subscribes to the store before reading its history, so
// no change falls between the two; live changes at or below what catch-up sent are skipped.
// A standby whose Seq the store no longer holds (compacted away), or that is ahead of us (a tail
// it wrote but nobody acknowledged), gets the whole store as a snapshot and continues from there.
// All changes of one group commit go out as one Changes frame.

import type { Change } from "../model/object.ts";
import type { Logger } from "../log/logger.ts";
import type { ReplicaStore } from "../store/replica.ts";
import type { HaConnection } from "./transport.ts";

export interface FeederOptions {
  store: ReplicaStore;
  log: Logger;
  /** Changes per frame at most (catch-up reads this many at a time). */
  batch?: number;
  /** Snapshot entries per Snap frame. */
  snapChunk?: number;
}

export type AckWait = "acked" | "timeout" | "detached";

interface Waiter {
  seq: number;
  resolve: (r: AckWait) => void;
  timer: ReturnType<typeof setTimeout>;
}

export class Feeder {
  readonly #store: ReplicaStore;
  readonly #log: Logger;
  readonly #batch: number;
  readonly #snapChunk: number;
  #conn: HaConnection | null = null;
  /** Bumped at every attach/detach: a catch-up of an old connection stops. */
  #epoch = 0;
  #live = false;
  #sent = 0;
  #acked = 0;
  #pending: Change[] = [];
  #flushQueued = false;
  #waiters: Waiter[] = [];
  #unsubscribe: (() => void) | null = null;
  #snapshots = 0;

  constructor(opts: FeederOptions) {
    this.#store = opts.store;
    this.#log = opts.log;
    this.#batch = opts.batch ?? 1000;
    this.#snapChunk = opts.snapChunk ?? 2000;
  }

  /** Highest Seq the standby confirmed durable. */
  get ackedSeq(): number {
    return this.#acked;
  }

  /** A standby is attached and has confirmed everything committed so far. */
  get synced(): boolean {
    return this.#conn !== null && this.#live && this.#acked >= this.#store.seq;
  }

  /** Attached and streaming (catch-up done): new writes can be confirmed. */
  get streaming(): boolean {
    return this.#conn !== null && this.#live;
  }

  get attached(): boolean {
    return this.#conn !== null;
  }

  /** Full snapshots sent since start. */
  get snapshotsSent(): number {
    return this.#snapshots;
  }

  lag(): { seq: number; bytes: number } {
    return { seq: Math.max(0, this.#store.seq - this.#acked), bytes: this.#conn?.bufferedBytes ?? 0 };
  }

  /**
   * Serve `conn`, whose store is at `peerSeq`. Replaces any earlier connection. `snapshot`: the
   * peer's store holds changes this node never had (its tail), so it gets the whole store.
   */
  async attach(conn: HaConnection, peerSeq: number, opts: { snapshot?: boolean; why?: string } = {}): Promise<void> {
    this.detach("replaced by a new connection");
    const epoch = ++this.#epoch;
    this.#conn = conn;
    this.#live = false;
    const sharesHistory = !opts.snapshot && peerSeq <= this.#store.seq;
    this.#acked = sharesHistory ? peerSeq : 0;
    this.#pending = [];
    this.#unsubscribe = this.#store.subscribe((c) => this.#onChange(c));
    try {
      let from = peerSeq;
      let first = sharesHistory ? await this.#store.changesSince(from, this.#batch) : undefined;
      if (first === undefined) {
        from = await this.#sendSnapshot(conn, epoch, peerSeq, opts.why);
        if (epoch !== this.#epoch) return;
        first = [];
      }
      this.#sent = from;
      let list: Change[] | undefined = first;
      while (list && list.length > 0) {
        if (epoch !== this.#epoch) return;
        conn.send({ T: "Changes", list });
        this.#sent = list[list.length - 1]!.Seq;
        list = await this.#store.changesSince(this.#sent, this.#batch);
      }
      if (epoch !== this.#epoch) return;
      if (list === undefined) {
        // Compacted between two reads while catching up: start again from a snapshot.
        this.#log.warn("HA catch-up overtaken by compaction; sending a snapshot");
        return this.attach(conn, this.#sent);
      }
      // Caught up to the store's Seq at this instant; what was published meanwhile and not sent
      // is in #pending and goes out now.
      this.#live = true;
      this.#flush();
    } catch (err) {
      if (epoch === this.#epoch) {
        this.#log.error("HA catch-up failed; dropping the standby's connection", { error: err });
        conn.close(`catch-up failed: ${(err as Error).message}`);
        this.detach("catch-up failed");
      }
    }
  }

  /** The standby confirmed everything up to `seq` durable; false when the ack is refused (beyond what was sent). */
  onAck(seq: number): boolean {
    if (seq <= this.#acked) return seq === this.#acked;
    if (seq > this.#sent || seq > this.#store.seq) {
      this.#log.warn("HA standby acknowledged a Seq this node has not sent it; ignored", { seq, sent: this.#sent });
      return false;
    }
    this.#acked = seq;
    const keep: Waiter[] = [];
    for (const w of this.#waiters) {
      if (w.seq <= seq) {
        clearTimeout(w.timer);
        w.resolve("acked");
      } else keep.push(w);
    }
    this.#waiters = keep;
    return true;
  }

  /** Resolves when the standby holds `seq` durably, after `timeoutMs`, or when it goes away. */
  waitAcked(seq: number, timeoutMs: number): Promise<AckWait> {
    if (this.#acked >= seq) return Promise.resolve("acked");
    if (!this.#conn) return Promise.resolve("detached");
    return new Promise((resolve) => {
      const w: Waiter = {
        seq,
        resolve,
        timer: setTimeout(() => {
          this.#waiters = this.#waiters.filter((x) => x !== w);
          resolve("timeout");
        }, timeoutMs),
      };
      this.#waiters.push(w);
    });
  }

  /** Stop serving the current connection (it closed, timed out, or the node stepped down). */
  detach(reason: string): void {
    if (!this.#conn) return;
    this.#epoch++;
    this.#conn = null;
    this.#live = false;
    this.#pending = [];
    this.#unsubscribe?.();
    this.#unsubscribe = null;
    for (const w of this.#waiters) {
      clearTimeout(w.timer);
      w.resolve("detached");
    }
    this.#waiters = [];
    this.#log.info("HA standby detached", { reason });
  }

  #onChange(c: Change): void {
    this.#pending.push(c);
    if (!this.#live || this.#flushQueued) return;
    this.#flushQueued = true;
    // The store publishes a whole group commit synchronously: one frame for all of it.
    queueMicrotask(() => {
      this.#flushQueued = false;
      this.#flush();
    });
  }

  #flush(): void {
    const conn = this.#conn;
    if (!conn || !this.#live) return;
    const out = this.#pending.filter((c) => c.Seq > this.#sent);
    this.#pending = [];
    for (let i = 0; i < out.length; i += this.#batch) {
      const list = out.slice(i, i + this.#batch);
      if (list[0]!.Seq !== this.#sent + 1) {
        // Cannot happen while the store publishes in Seq order; if it ever does, resend from
        // history rather than leave a gap the standby would refuse.
        this.#log.error("HA feed out of order; restarting catch-up", { expected: this.#sent + 1, got: list[0]!.Seq });
        void this.attach(conn, this.#acked);
        return;
      }
      conn.send({ T: "Changes", list });
      this.#sent = list[list.length - 1]!.Seq;
    }
  }

  async #sendSnapshot(conn: HaConnection, epoch: number, peerSeq: number, given: string | undefined): Promise<number> {
    const snap = await this.#store.exportSnapshot();
    if (epoch !== this.#epoch) return snap.seq;
    this.#snapshots++;
    const why =
      given ??
      (peerSeq > snap.seq ? "the standby holds changes this node never had (written alone, never confirmed): they are dropped" : "the standby's Seq is no longer in this node's journal");
    this.#log.info(`HA sending the whole store: ${why}`, { peerSeq, seq: snap.seq, objects: snap.entries.length });
    const n = snap.entries.length;
    let part = 0;
    for (let i = 0; i === 0 || i < n; i += this.#snapChunk) {
      if (epoch !== this.#epoch) return snap.seq;
      const entries = snap.entries.slice(i, i + this.#snapChunk);
      conn.send({ T: "Snap", seq: snap.seq, part: part++, entries, last: i + this.#snapChunk >= n });
      // Let the socket drain between chunks of a large store.
      if (conn.bufferedBytes > 8 << 20) await Bun.sleep(5);
    }
    return snap.seq;
  }
}
