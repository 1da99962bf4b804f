// The store the active node hands to everything else: a write resolves only once the standby
// holds it durably. This one hook gives both promises of the pair: a lease is on the partner
// before its DHCPACK leaves (the DHCP server answers only after saveLease resolved), and an API
// write acknowledged to a client survives the active's death.
//
// When the standby does not confirm within the sync timeout, the writes waiting at that moment
// fail with Unavailable (the DHCP server sends no ACK and the client retries; the API answers 503)
// and the node continues alone ("solo"): later writes resolve once durable here, until the standby
// has confirmed everything again. The local write that timed out stays: it is durable and
// published, and nobody was told it succeeded, which a client must allow for any 503.
//
// With no standby streaming (unpaired, partner down, catching up) writes resolve locally.

import { SocleError } from "../model/errors.ts";
import type { Change, ModelObject } from "../model/object.ts";
import type { ScanOptions, Store } from "../store/store.ts";
import type { Feeder } from "./feeder.ts";

export type SyncMode = "sync" | "solo";

export interface ReplicatedStoreOptions {
  feeder: Feeder;
  /** Bound on waiting for the standby, read per write (a pref). */
  timeoutMs: () => number;
  /** Told when writes stop or start waiting for the standby. */
  onMode?: (mode: SyncMode, why: string) => void;
}

export class ReplicatedStore implements Store {
  readonly #inner: Store;
  readonly #o: ReplicatedStoreOptions;
  #solo = false;
  #timeouts = 0;

  constructor(inner: Store, opts: ReplicatedStoreOptions) {
    this.#inner = inner;
    this.#o = opts;
  }

  /** Writes currently wait for the standby. */
  get mode(): SyncMode {
    return this.#waits() ? "sync" : "solo";
  }

  /** Leave solo mode if the standby has confirmed everything since (called on every tick, not only on a write). */
  refreshMode(): SyncMode {
    return this.mode;
  }

  /** Writes that failed because the standby did not confirm in time. */
  get timeouts(): number {
    return this.#timeouts;
  }

  open(): Promise<void> {
    return this.#inner.open();
  }
  close(): Promise<void> {
    return this.#inner.close();
  }
  get(type: string, key: string): ModelObject | undefined {
    return this.#inner.get(type, key);
  }
  list(type: string): ModelObject[] {
    return this.#inner.list(type);
  }
  count(type: string): number {
    return this.#inner.count(type);
  }
  scanField(type: string, field: string, fn: (key: string, value: unknown) => void, opts?: ScanOptions): void {
    this.#inner.scanField(type, field, fn, opts);
  }
  get seq(): number {
    return this.#inner.seq;
  }
  subscribe(fn: (change: Change) => void): () => void {
    return this.#inner.subscribe(fn);
  }

  // Whether a write waits is decided when it is made: by the time it is durable here, the standby
  // cannot have confirmed it yet, so deciding then would keep a node solo forever.
  async put(type: string, key: string, obj: ModelObject): Promise<Change> {
    const wait = this.#waits();
    const c = await this.#inner.put(type, key, obj);
    return wait ? this.#confirm(c) : c;
  }

  async delete(type: string, key: string): Promise<Change> {
    const wait = this.#waits();
    const c = await this.#inner.delete(type, key);
    return wait ? this.#confirm(c) : c;
  }

  #waits(): boolean {
    const f = this.#o.feeder;
    if (this.#solo && f.synced) {
      this.#solo = false;
      this.#o.onMode?.("sync", "the standby confirmed every change again");
    }
    return !this.#solo && f.streaming;
  }

  async #confirm(c: Change): Promise<Change> {
    const limit = this.#o.timeoutMs();
    const r = await this.#o.feeder.waitAcked(c.Seq, limit);
    if (r !== "timeout") return c; // "detached": the standby went away; the node is alone now.
    this.#timeouts++;
    if (!this.#solo) {
      this.#solo = true;
      this.#o.onMode?.("solo", `the standby did not confirm Seq ${c.Seq} within ${limit} ms`);
    }
    throw new SocleError("Unavailable", c.Type, c.Key, `${c.Action === "delete" ? "delete" : "write"} of ${c.Type} "${c.Key}" not confirmed by the HA partner within ${limit} ms; retry`);
  }
}
