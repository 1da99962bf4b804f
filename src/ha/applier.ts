// The standby's side of replication: apply the active's changes with the active's Seq numbers,
// strictly in order, and acknowledge each batch once it is durable here. A snapshot (the standby
// fell too far behind, or holds a tail nobody acknowledged) is collected whole, then replaces the
// store in one step (the caller closes the store, imports, reopens), so a standby is never left
// holding half of one.
//
// Frames are handled one at a time in arrival order; a frame that cannot be applied (a gap, a
// damaged chunk) ends the connection and the next one starts from the Seq this store really has.

import type { Logger } from "../log/logger.ts";
import type { ReplicaStore, StoreSnapshot } from "../store/replica.ts";
import type { ChangesMessage, SnapMessage } from "./messages.ts";

export interface ApplierOptions {
  /** The store replicated into (may change after a snapshot). */
  store: () => ReplicaStore;
  /** Replace the whole store with `snap` and return the reopened store. */
  replace: (snap: StoreSnapshot) => Promise<ReplicaStore>;
  /** Tell the active that everything up to `seq` is durable here. */
  ack: (seq: number) => void;
  /** A frame could not be applied: the connection must end. */
  fail: (reason: string) => void;
  log: Logger;
  /** Refuse a snapshot larger than this many objects (memory bound while it is collected). */
  maxSnapshotObjects?: number;
  /** Start handling frames only once this settles (the previous connection's applier is done). */
  after?: Promise<void>;
}

export class Applier {
  readonly #o: ApplierOptions;
  #chain: Promise<void> = Promise.resolve();
  #snap: StoreSnapshot | null = null;
  #nextPart = 0;
  #failed = false;
  /** A snapshot is being installed (the store is closed and replaced meanwhile). */
  #snapBusy = false;
  /** The last Seq handed to the store (applied, or queued there). */
  #queuedSeq = 0;
  /** Frames in the chain that wait their turn (snapshot parts, and frames behind them). */
  #waiting = 0;
  #applied = 0;
  #snapshots = 0;

  constructor(opts: ApplierOptions) {
    this.#o = opts;
    if (opts.after) this.#chain = opts.after.catch(() => {});
  }

  /** Changes applied since start. */
  get applied(): number {
    return this.#applied;
  }

  get snapshotsReceived(): number {
    return this.#snapshots;
  }

  /** Resolves when every frame handed over so far has been handled. */
  idle(): Promise<void> {
    return this.#chain;
  }

  handle(msg: ChangesMessage | SnapMessage): void {
    if (this.#failed) return;
    if (msg.T === "Changes" && this.#pipelined(msg)) return;
    this.#waiting++;
    this.#chain = this.#chain
      .then(() => (this.#failed ? undefined : msg.T === "Changes" ? this.#changes(msg) : this.#snapPart(msg)))
      .finally(() => this.#waiting--);
  }

  /**
   * Changes while no snapshot is pending go to the store at once, without waiting for the frames
   * before them to be durable: the store numbers them in order and makes everything queued
   * meanwhile durable with one synced write (group commit), so a standby keeps up with
   * an active that commits thousands of small batches a second. Acks still leave in order, each
   * once its frame is durable. False: the frame must wait its turn (a snapshot is in progress).
   */
  #pipelined(msg: ChangesMessage): boolean {
    // Only when nothing waits its turn before this frame: it must reach the store after them.
    if (this.#snap || this.#snapBusy || this.#waiting > 0) return false;
    let store: ReplicaStore;
    try {
      store = this.#o.store();
    } catch {
      return false;
    }
    const floor = Math.max(store.seq, this.#queuedSeq);
    // Frames resent after a reconnect may overlap what is here or queued already.
    const list = msg.list.length > 0 && msg.list[0]!.Seq <= floor ? msg.list.filter((c) => c.Seq > floor) : msg.list;
    if (list.length === 0) return true;
    const last = list[list.length - 1]!.Seq;
    this.#queuedSeq = last;
    const applied = store.applyReplicated(list);
    // Observed here so an early refusal is never an unhandled rejection; handled in the chain.
    applied.catch(() => {});
    this.#chain = this.#chain.then(async () => {
      if (this.#failed) return;
      try {
        await applied;
      } catch (err) {
        return this.#fail(`cannot apply changes ${list[0]!.Seq}-${last}: ${(err as Error).message}`);
      }
      this.#applied += list.length;
      this.#o.ack(last);
    });
    return true;
  }

  async #changes(msg: ChangesMessage): Promise<void> {
    if (this.#snap) return this.#fail(`Changes arrived in the middle of a snapshot (part ${this.#nextPart} expected)`);
    const store = this.#o.store();
    let list = msg.list;
    // Frames resent after a reconnect may overlap what is here already.
    if (list.length > 0 && list[0]!.Seq <= store.seq) list = list.filter((c) => c.Seq > store.seq);
    if (list.length === 0) return;
    try {
      await store.applyReplicated(list);
    } catch (err) {
      return this.#fail(`cannot apply changes ${list[0]!.Seq}-${list[list.length - 1]!.Seq}: ${(err as Error).message}`);
    }
    this.#applied += list.length;
    this.#queuedSeq = Math.max(this.#queuedSeq, store.seq);
    this.#o.ack(store.seq);
  }

  async #snapPart(msg: SnapMessage): Promise<void> {
    if (msg.part === 0) {
      this.#snapBusy = true;
      this.#snap = { seq: msg.seq, entries: [] };
      this.#nextPart = 0;
    }
    const snap = this.#snap;
    if (!snap || msg.part !== this.#nextPart || msg.seq !== snap.seq) {
      return this.#fail(`snapshot part ${msg.part} at Seq ${msg.seq} out of order (expected part ${this.#nextPart}${snap ? ` at Seq ${snap.seq}` : ""})`);
    }
    const max = this.#o.maxSnapshotObjects ?? 5_000_000;
    if (snap.entries.length + msg.entries.length > max) return this.#fail(`snapshot larger than ${max} objects`);
    for (const e of msg.entries) snap.entries.push(e);
    this.#nextPart++;
    if (!msg.last) return;
    this.#snap = null;
    try {
      const store = await this.#o.replace(snap);
      this.#queuedSeq = store.seq;
      this.#snapBusy = false;
      this.#snapshots++;
      this.#o.log.info("HA store replaced by the active's snapshot", { seq: snap.seq, objects: snap.entries.length });
      this.#o.ack(store.seq);
    } catch (err) {
      return this.#fail(`cannot install the snapshot at Seq ${snap.seq}: ${(err as Error).message}`);
    }
  }

  #fail(reason: string): void {
    this.#failed = true;
    this.#snap = null;
    this.#o.log.error("HA replication stopped", { reason });
    this.#o.fail(reason);
  }
}
