// What the partner knows about each address, the ISC failover way: per address, the last lease the
// partner is known to hold ("partner-known"), from a local write the partner acknowledged or from a
// lease replicated from it. While the pair is not synced, the MCLT rule is stated against this
// record: a node may extend a lease only to partner-known expiry + MCLT, because the partner, when
// it takes over, assumes no more than that. A lease written locally but never acknowledged (the
// write whose sync timed out before its DHCPACK, so its client never got it) is NOT partner-known:
// it sits in the unsynced set until an ack covers its Seq, or is superseded.
//
// Pure bookkeeping, no I/O; the controller feeds it from the store feed and the partner's acks.

/** A lease as the partner knows it: which client, and until when (ms since the epoch). */
export interface PartnerLease {
  mac: string;
  expireMs: number;
}

interface Unsynced {
  /** undefined: the local write removed the lease (delete). */
  lease: PartnerLease | undefined;
  seq: number;
}

export class LeaseLedger {
  readonly #known = new Map<string, PartnerLease>();
  readonly #unsynced = new Map<string, Unsynced>();
  /** Local writes in Seq order, for acks to consume from the front. */
  #queue: { addr: string; seq: number }[] = [];
  #head = 0;
  #ackedSeq = 0;

  /** Leases present when the pair was last synced (start-up, or a completed full sync). */
  seed(entries: Iterable<[addr: string, lease: PartnerLease]>): void {
    for (const [addr, lease] of entries) this.#known.set(addr, { ...lease });
  }

  /** The lease the partner knows on `addr`, if any. */
  partnerKnown(addr: string): PartnerLease | undefined {
    return this.#known.get(addr);
  }

  /** A lease change replicated from the partner (this node applies the partner's feed). */
  fromPartner(addr: string, lease: PartnerLease | undefined): void {
    if (lease) this.#known.set(addr, { ...lease });
    else this.#known.delete(addr);
    // The partner's version supersedes anything this node wrote and the partner never acked.
    this.#unsynced.delete(addr);
  }

  /** A lease change written locally with store Seq `seq`; partner-known once an ack covers `seq`. */
  localWrite(addr: string, lease: PartnerLease | undefined, seq: number): void {
    if (!Number.isInteger(seq) || seq <= 0) throw new RangeError(`LeaseLedger.localWrite: invalid seq ${seq} for ${addr}`);
    if (seq <= this.#ackedSeq) {
      this.fromPartner(addr, lease);
      return;
    }
    this.#unsynced.set(addr, { lease: lease ? { ...lease } : undefined, seq });
    this.#queue.push({ addr, seq });
    // A long partition renews the same addresses over and over with no ack to drain the queue:
    // rebuild it from the unsynced set (one entry per address) so it stays bounded by the pool.
    if (this.#queue.length - this.#head > 2 * this.#unsynced.size + 1024) {
      this.#queue = [...this.#unsynced].map(([a, u]) => ({ addr: a, seq: u.seq })).sort((x, y) => x.seq - y.seq);
      this.#head = 0;
    }
  }

  /** The partner acknowledged every change up to `seq`. */
  acked(seq: number): void {
    if (seq <= this.#ackedSeq) return;
    this.#ackedSeq = seq;
    while (this.#head < this.#queue.length && this.#queue[this.#head]!.seq <= seq) {
      const { addr, seq: s } = this.#queue[this.#head++]!;
      const u = this.#unsynced.get(addr);
      if (!u || u.seq !== s) continue; // superseded by a later write (still queued) or by the partner
      this.#unsynced.delete(addr);
      if (u.lease) this.#known.set(addr, u.lease);
      else this.#known.delete(addr);
    }
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
  }

  /** The local write on `addr` the partner has not acknowledged, if any. */
  unsynced(addr: string): PartnerLease | undefined {
    return this.#unsynced.get(addr)?.lease;
  }

  /** Addresses with a local write the partner has not acknowledged (the divergence of leases). */
  unsyncedAddrs(): string[] {
    return [...this.#unsynced.keys()];
  }

  /** The highest Seq the partner acknowledged. */
  get ackedSeq(): number {
    return this.#ackedSeq;
  }

  get size(): number {
    return this.#known.size;
  }

  /** Local writes waiting for an ack, superseded ones included (bounded: see localWrite). */
  get pendingWrites(): number {
    return this.#queue.length - this.#head;
  }
}
