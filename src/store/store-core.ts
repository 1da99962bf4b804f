// What the file store and the memory store share: input checks, read-only rules, Seq assignment,
// group commit, apply-after-durable, and the change feed. A subclass only says how a batch of
// changes becomes durable (`persist`) and how state is loaded.
//
// Writes are checked and numbered when called, against the "tip" (committed state plus writes
// still pending), so put-then-delete in one tick behaves as if sequential. They become visible to
// get/list, and are published, only after `persist` resolved: a reader never sees a change that a
// crash could still take back. All writes queued while a batch is being persisted form the next
// batch (group commit: one write() and one fdatasync for all of them in the file store).
//
// Replication (replica.ts): the core keeps the most recent committed changes in a ring, so a
// standby can ask for what it missed (changesSince), and takes changes numbered elsewhere
// (applyReplicated) through the same queue, persist, apply and publish path as local writes, so
// everything that follows `subscribe` on the standby stays as current as on the active node.

import { SocleError, badRequest, conflict, notFound } from "../model/errors.ts";
import type { Change, ChangeAction, ModelObject } from "../model/object.ts";
import { nullLogger, type Logger } from "../log/logger.ts";
import type { ReadOnlyLayer, ScanOptions } from "./store.ts";
import type { ReplicaEntry, ReplicaStore, StoreSnapshot } from "./replica.ts";
import { LayeredState, type WritableView } from "./layered-state.ts";
import { deepFreeze, frozenFromJSON } from "./freeze.ts";

/** A change on its way to durability, with the object already serialised once. */
export interface PendingWrite {
  change: Change;
  /** JSON of change.Object for create/update; null for delete. */
  json: string | null;
}

interface Queued extends PendingWrite {
  /** Numbered on the peer (applyReplicated), not here. */
  replicated: boolean;
  resolve: (c: Change) => void;
  reject: (e: unknown) => void;
}

interface Control {
  run: () => Promise<void>;
  resolve: () => void;
  reject: (e: unknown) => void;
}

type Phase = "new" | "open" | "closing" | "closed" | "failed";

const TYPE_RE = /^[a-z][a-z0-9_-]{0,63}$/;
const MAX_KEY_LENGTH = 1024;
const ACTIONS: ReadonlySet<string> = new Set(["create", "update", "delete"]);
/** Committed changes kept in memory for changesSince. */
export const DEFAULT_HISTORY_LIMIT = 20_000;
/**
 * ... and at most this many bytes of them (their objects' JSON plus CHANGE_OVERHEAD each): twice
 * the journal a file store writes between compactions (16 MiB), so under a DHCP load (about 450
 * bytes a lease) the count bound is the one that bites, and an HA standby back after a short break,
 * a merge after a split or a webhook's redelivery still find their changes in memory. The byte
 * bound is for large objects (machines with big Params), of which 20,000 changes could otherwise
 * hold hundreds of MB. The file store reads older changes back from its journal.
 */
export const DEFAULT_HISTORY_BYTES = 32 << 20;
/** What a change costs besides its object's JSON: the Change itself, Time, Key (an estimate). */
const CHANGE_OVERHEAD = 96;
const DEFAULT_CHANGES_LIMIT = 1000;
/** exportSnapshot gives the event loop a turn after this many objects. */
const EXPORT_SLICE = 512;

/** Why `type` cannot name a store type, or null. */
export function typeProblem(type: unknown): string | null {
  return typeof type === "string" && TYPE_RE.test(type) ? null : `invalid store type "${String(type)}": want lower-case letters, digits, "-" or "_"`;
}

/** Why `key` cannot be a store key, or null. */
export function keyProblem(key: unknown): string | null {
  if (typeof key === "string" && key.length > 0 && key.length <= MAX_KEY_LENGTH) return null;
  const why = typeof key !== "string" ? "not a string" : key.length === 0 ? "empty" : `longer than ${MAX_KEY_LENGTH} characters`;
  return `invalid key "${String(key).slice(0, 64)}": ${why}`;
}

/**
 * Check a snapshot received from elsewhere before loading it: Seq, each entry's Type, Key and
 * Object, no key twice. Throws BadRequest naming the entry and field.
 */
export function checkSnapshot(snap: StoreSnapshot): void {
  const s = snap as Partial<StoreSnapshot> | null;
  if (s === null || typeof s !== "object") throw badRequest("store", "", "cannot load snapshot: not an object");
  if (!Number.isSafeInteger(s.seq) || (s.seq as number) < 0) {
    throw badRequest("store", "", `cannot load snapshot: "seq" ${JSON.stringify(s.seq)} is not a non-negative integer`);
  }
  if (!Array.isArray(s.entries)) throw badRequest("store", "", `cannot load snapshot at Seq ${s.seq}: "entries" is not a list`);
  const seen = new Set<string>();
  for (let i = 0; i < s.entries.length; i++) {
    const e = s.entries[i] as Partial<ReplicaEntry> | null;
    const at = `cannot load snapshot at Seq ${s.seq}: entry #${i + 1}`;
    if (e === null || typeof e !== "object") throw badRequest("store", "", `${at} is not an object`);
    const tp = typeProblem(e.Type);
    if (tp) throw badRequest(String(e.Type), String(e.Key), `${at}: "Type": ${tp}`);
    const kp = keyProblem(e.Key);
    if (kp) throw badRequest(String(e.Type), String(e.Key), `${at}: "Key": ${kp}`);
    const obj = e.Object as unknown;
    if (obj === null || typeof obj !== "object" || Array.isArray(obj)) {
      throw badRequest(e.Type as string, e.Key as string, `${at} (${e.Type} "${e.Key}"): "Object" is not a JSON object`);
    }
    const id = `${e.Type}\u0000${e.Key}`;
    if (seen.has(id)) throw badRequest(e.Type as string, e.Key as string, `${at}: ${e.Type} "${e.Key}" appears twice`);
    seen.add(id);
  }
}

export interface StoreCoreOptions {
  /** Committed changes kept in memory for changesSince (default 20,000). */
  historyLimit?: number;
  /** ... and their size bound (default DEFAULT_HISTORY_BYTES); the newest change is always kept. */
  historyBytes?: number;
  /**
   * How long after open the objects loaded at open start being frozen in the background (default
   * FREEZE_DELAY_MS). A read freezes what it returns meanwhile; the delay keeps the freezing's
   * slices out of a server's start-up, which builds its indexes right after open.
   */
  freezeDelayMs?: number;
}

/** See StoreCoreOptions.freezeDelayMs: about a large server's start-up (100k machines: ~1.5 s after open). */
export const FREEZE_DELAY_MS = 3000;

/**
 * The newest committed changes, oldest first, in a fixed-size ring bounded by count and by bytes.
 * Committed Seq numbers are contiguous (a failed persist stops the store), so a change is found by
 * arithmetic.
 */
export class ChangeRing {
  private readonly buf: (Change | undefined)[];
  private readonly sizes: Float64Array;
  private head = 0;
  private size = 0;
  private bytesHeld = 0;

  constructor(
    readonly capacity: number,
    readonly maxBytes: number = Number.POSITIVE_INFINITY,
  ) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new Error(`change history limit ${capacity} is not a positive integer`);
    if (!(maxBytes > 0)) throw new Error(`change history byte limit ${maxBytes} is not positive`);
    this.buf = new Array<Change | undefined>(capacity);
    this.sizes = new Float64Array(capacity);
  }

  /** Changes held now. */
  get length(): number {
    return this.size;
  }

  /** Their bytes as counted by push. */
  get bytes(): number {
    return this.bytesHeld;
  }

  /** Seq of the oldest change held, or undefined when empty. */
  get firstSeq(): number | undefined {
    return this.size === 0 ? undefined : (this.buf[this.head] as Change).Seq;
  }

  /** Add the newest change, `bytes` its size; the oldest go while either bound is exceeded. */
  push(c: Change, bytes = 0): void {
    const last = this.size === 0 ? undefined : (this.buf[(this.head + this.size - 1) % this.capacity] as Change).Seq;
    if (last !== undefined && c.Seq !== last + 1) throw new Error(`change history: Seq ${c.Seq} follows Seq ${last}`);
    if (this.size === this.capacity) this.dropOldest();
    const at = (this.head + this.size) % this.capacity;
    this.buf[at] = c;
    this.sizes[at] = bytes;
    this.size++;
    this.bytesHeld += bytes;
    while (this.bytesHeld > this.maxBytes && this.size > 1) this.dropOldest();
  }

  private dropOldest(): void {
    this.bytesHeld -= this.sizes[this.head] as number;
    this.buf[this.head] = undefined; // let the superseded object go
    this.head = (this.head + 1) % this.capacity;
    this.size--;
  }

  /** Changes with Seq > `after`, at most `limit`; undefined unless the ring holds Seq after+1. */
  since(after: number, limit: number): Change[] | undefined {
    const first = this.firstSeq;
    if (first === undefined || after + 1 < first || after + 1 > first + this.size - 1) return undefined;
    const out: Change[] = [];
    for (let i = after + 1 - first; i < this.size && out.length < limit; i++) {
      out.push(this.buf[(this.head + i) % this.capacity] as Change);
    }
    return out;
  }
}

export abstract class StoreCore implements ReplicaStore {
  protected readonly state: LayeredState;
  protected readonly log: Logger;
  private phase: Phase = "new";
  private failure: string | null = null;
  private assigned = 0;
  private committed = 0;
  private readonly tip = new Map<string, { seq: number; obj: ModelObject | null }>();
  private queue: Queued[] = [];
  private readonly controls: Control[] = [];
  private running = false;
  private idleWaiters: Array<() => void> = [];
  private readonly subscribers = new Set<(c: Change) => void>();
  private readonly history: ChangeRing;
  private readonly freezeDelayMs: number;
  private freezing: Promise<void> | null = null;
  /** Local (not replicated) writes queued or being persisted. */
  private localPending = 0;
  /** Settles when the point-in-time view in use ends (LayeredState holds one at a time). */
  private viewTurn: Promise<void> = Promise.resolve();

  constructor(layer: ReadOnlyLayer, log: Logger = nullLogger, opts: StoreCoreOptions = {}) {
    this.state = new LayeredState(layer);
    this.log = log;
    this.history = new ChangeRing(opts.historyLimit ?? DEFAULT_HISTORY_LIMIT, opts.historyBytes ?? DEFAULT_HISTORY_BYTES);
    this.freezeDelayMs = opts.freezeDelayMs ?? FREEZE_DELAY_MS;
  }

  abstract open(): Promise<void>;
  abstract close(): Promise<void>;
  /** Make the batch durable, in order; reject if it may not be. Called one batch at a time. */
  protected abstract persist(batch: readonly PendingWrite[]): Promise<void>;
  /** Called after a batch was applied and published (compaction triggers hook in here). */
  protected afterCommit(): void {}
  /**
   * Committed changes older than the in-memory ring: Seq after+1 .. at most `upTo`, at most
   * `limit` of them, starting exactly at after+1; undefined when they are no longer held.
   */
  protected async readHistory(_after: number, _upTo: number, _limit: number): Promise<Change[] | undefined> {
    return undefined;
  }
  /** Store name for messages ("file store \"/var/lib/socle\"", "memory store"). */
  protected abstract describe(): string;

  get seq(): number {
    return this.committed;
  }

  get(type: string, key: string): ModelObject | undefined {
    return this.state.get(type, key);
  }

  list(type: string): ModelObject[] {
    return this.state.list(type);
  }

  count(type: string): number {
    return this.state.count(type);
  }

  scanField(type: string, field: string, fn: (key: string, value: unknown) => void, opts?: ScanOptions): void {
    this.state.scanField(type, field, fn, opts?.freeze ?? true);
  }

  subscribe(fn: (change: Change) => void): () => void {
    // Wrap so that the same function subscribed twice gets two deliveries and two unsubscribes.
    const entry = (c: Change) => fn(c);
    this.subscribers.add(entry);
    return () => {
      this.subscribers.delete(entry);
    };
  }

  put(type: string, key: string, obj: ModelObject): Promise<Change> {
    try {
      this.checkWritable("put", type, key);
      if (obj === null || typeof obj !== "object" || Array.isArray(obj)) {
        const got = obj === null ? "null" : Array.isArray(obj) ? "an array" : typeof obj;
        throw badRequest(type, key, `cannot put ${type} "${key}": object must be a JSON object, got ${got}`);
      }
      let json: string;
      try {
        json = JSON.stringify(obj);
      } catch (err) {
        throw badRequest(type, key, `cannot put ${type} "${key}": not serialisable as JSON: ${(err as Error).message}`);
      }
      const exists = this.tipExists(type, key);
      const frozen = frozenFromJSON(json);
      return this.enqueue(type, key, exists ? "update" : "create", frozen, json);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  delete(type: string, key: string): Promise<Change> {
    try {
      this.checkWritable("delete", type, key);
      const ck = composite(type, key);
      const pending = this.tip.get(ck);
      const current = pending ? pending.obj : (this.state.getWritable(type, key) ?? null);
      if (current === null) throw notFound(type, key);
      return this.enqueue(type, key, "delete", current, null);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  // ---- replication (replica.ts) ---------------------------------------------------------------

  async changesSince(seq: number, limit: number = DEFAULT_CHANGES_LIMIT): Promise<Change[] | undefined> {
    if (!Number.isSafeInteger(seq) || seq < 0) {
      throw badRequest("store", String(seq), `cannot read changes since Seq ${String(seq)}: want a non-negative integer`);
    }
    if (!Number.isSafeInteger(limit) || limit < 1) {
      throw badRequest("store", String(seq), `cannot read changes since Seq ${seq}: limit ${String(limit)} is not a positive integer`);
    }
    const upTo = this.committed;
    if (seq > upTo) return undefined;
    if (seq === upTo) return [];
    const held = this.history.since(seq, limit);
    if (held) return held;
    const older = await this.readHistory(seq, upTo, limit);
    if (!older || older.length === 0 || older[0]?.Seq !== seq + 1) return undefined;
    return older;
  }

  async exportSnapshot(): Promise<StoreSnapshot> {
    if (this.phase === "new" || this.phase === "closed") {
      throw new SocleError("Unavailable", "store", "", `cannot export a snapshot: ${this.describe()} is ${this.phase === "new" ? "not open yet" : "closed"}`);
    }
    const out = await this.readAtPoint(
      async () => true,
      async (view, seq) => {
        const entries: ReplicaEntry[] = [];
        for (const type of view.types) {
          for (const [key, obj] of view.entries(type)) {
            entries.push({ Type: type, Key: key, Object: deepFreeze(obj) });
            if (entries.length % EXPORT_SLICE === 0) await new Promise((resolve) => setImmediate(resolve));
          }
        }
        return { seq, entries };
      },
    );
    return out as StoreSnapshot;
  }

  applyReplicated(changes: readonly Change[]): Promise<void> {
    try {
      if (!Array.isArray(changes)) throw badRequest("store", "", "cannot apply replicated changes: want a list of changes");
      if (changes.length === 0) return Promise.resolve();
      this.checkOpen("apply replicated changes", "store", "");
      const first = changes[0] as Change;
      if (this.localPending > 0) {
        throw conflict(
          "store",
          String(first?.Seq),
          `cannot apply replicated changes: ${this.localPending} local write(s) pending (store is at Seq ${this.committed}, ` +
            `numbered up to Seq ${this.assigned}); a store that follows a peer takes no local writes`,
        );
      }
      // Check the whole list before queueing any of it: a refused list changes nothing.
      const overlay = new Map<string, ModelObject | null>();
      const accepted: PendingWrite[] = [];
      let expect = this.assigned + 1;
      for (let i = 0; i < changes.length; i++) {
        const c = changes[i] as Change;
        const write = this.checkReplicated(c, i, expect, overlay);
        accepted.push(write);
        expect++;
      }
      const done: Promise<Change>[] = [];
      for (const w of accepted) {
        const c = w.change;
        this.tip.set(composite(c.Type, c.Key), { seq: c.Seq, obj: c.Action === "delete" ? null : c.Object });
        this.assigned = c.Seq;
        done.push(new Promise<Change>((resolve, reject) => this.queue.push({ ...w, replicated: true, resolve, reject })));
      }
      this.kick();
      return Promise.all(done).then(() => undefined);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** One replicated change checked against the tip plus `overlay` (earlier changes of its list). */
  private checkReplicated(c: Change, i: number, expect: number, overlay: Map<string, ModelObject | null>): PendingWrite {
    const seq = (c as Partial<Change> | null)?.Seq;
    if (c === null || typeof c !== "object" || !Number.isSafeInteger(seq)) {
      throw badRequest("store", "", `cannot apply replicated change #${i + 1}: "Seq" ${JSON.stringify(seq)} is not an integer`);
    }
    if (seq !== expect) {
      const why =
        i === 0
          ? `replication gap: store is at Seq ${expect - 1}, change has Seq ${seq}`
          : `replication gap: change #${i + 1} has Seq ${seq} after Seq ${expect - 1} (the list must be contiguous)`;
      throw conflict("store", String(seq), why);
    }
    const where = `replicated change Seq ${seq}`;
    const bad = (field: string, value: unknown, why: string) =>
      badRequest("store", String(seq), `cannot apply ${where}: "${field}" ${JSON.stringify(value)?.slice(0, 80) ?? String(value)} ${why}`);
    if (typeof c.Time !== "string" || Number.isNaN(Date.parse(c.Time))) throw bad("Time", c.Time, "is not an ISO-8601 time");
    if (typeof c.Action !== "string" || !ACTIONS.has(c.Action)) throw bad("Action", c.Action, 'is not "create", "update" or "delete"');
    const tp = typeProblem(c.Type);
    if (tp) throw badRequest(String(c.Type), String(c.Key), `cannot apply ${where}: ${tp}`);
    const kp = keyProblem(c.Key);
    if (kp) throw badRequest(c.Type, String(c.Key), `cannot apply ${where}: ${kp}`);
    const obj = c.Object as unknown;
    if (obj === null || typeof obj !== "object" || Array.isArray(obj)) throw bad("Object", obj, "is not a JSON object");
    const { Type: type, Key: key, Action: action } = c;
    if (this.state.isReadOnly(type, key)) {
      throw conflict(type, key, `cannot apply ${where} (${action} ${type} "${key}"): it is read-only (shipped content)`);
    }
    const ck = composite(type, key);
    const exists = overlay.has(ck) ? overlay.get(ck) !== null : this.tipExists(type, key);
    if ((action === "create") === exists || (action === "delete" && !exists)) {
      throw conflict(
        type,
        key,
        `cannot apply ${where}: ${action} ${type} "${key}" but it ${exists ? "exists" : "does not exist"} here; ` +
          `the stores have diverged and this one needs a full snapshot`,
      );
    }
    let json: string;
    try {
      json = JSON.stringify(obj);
    } catch (err) {
      throw bad("Object", "…", `is not serialisable as JSON: ${(err as Error).message}`);
    }
    const frozen = frozenFromJSON(json);
    overlay.set(ck, action === "delete" ? null : frozen);
    const change: Change = Object.freeze({ Seq: seq, Time: c.Time, Type: type, Action: action, Key: key, Object: frozen });
    return { change, json: action === "delete" ? null : json };
  }

  // ---- for subclasses -------------------------------------------------------------------------

  /** Loading only: install a committed object without publishing it (frozen on first read). */
  protected load(type: string, key: string, obj: ModelObject | null): void {
    this.state.apply(type, key, obj, true);
  }

  /** Accept writes from now on; numbering continues after `seq`. */
  protected markOpen(seq: number): void {
    if (this.phase !== "new") throw new Error(`open ${this.describe()}: already ${this.phase}`);
    for (const s of this.state.finishLoad()) {
      this.log.warn("writable object hidden by read-only content with the same key", {
        type: s.type,
        key: s.key,
      });
    }
    this.assigned = seq;
    this.committed = seq;
    this.phase = "open";
    if (this.freezeDelayMs <= 0) void this.freezeLoaded();
    else {
      setTimeout(() => {
        if (this.phase === "open") void this.freezeLoaded(); // closed meanwhile: nothing reads them
      }, this.freezeDelayMs).unref();
    }
  }

  /**
   * Freeze the objects loaded at open now (in slices, as the background pass does) rather than
   * FREEZE_DELAY_MS after open; resolves when they all are. Calls share one pass. For measuring
   * a store's memory as it settles: a frozen array costs JSC several times an unfrozen one.
   */
  freezeLoaded(): Promise<void> {
    this.freezing ??= this.state.freezeInBackground().catch((err) => this.log.error("freezing loaded objects failed", { error: err }));
    return this.freezing;
  }

  protected get isOpen(): boolean {
    return this.phase === "open";
  }

  /** The failure that stopped writes, if any. */
  protected get failed(): string | null {
    return this.failure;
  }

  /** Refuse new writes, wait for pending ones (and queued control tasks) to finish. */
  protected async beginClose(): Promise<boolean> {
    if (this.phase === "closed" || this.phase === "closing") return false;
    const wasOpen = this.phase === "open" || this.phase === "failed";
    if (this.phase !== "failed") this.phase = "closing";
    await this.idle();
    return wasOpen;
  }

  protected markClosed(): void {
    this.phase = "closed";
  }

  /**
   * A consistent read of the writable layer without stopping writes: `atPoint` runs with no batch
   * in flight (after the writes queued so far); unless it returns false, a point-in-time view
   * begins there, at Seq `seq`, and `read` reads it across event-loop turns while writes go on.
   * LayeredState keeps one view at a time, so callers take turns. Undefined when skipped.
   */
  protected async readAtPoint<T>(atPoint: () => Promise<boolean>, read: (view: WritableView, seq: number) => Promise<T>): Promise<T | undefined> {
    const before = this.viewTurn;
    let done!: () => void;
    this.viewTurn = new Promise<void>((resolve) => (done = resolve));
    try {
      await before;
      let view: WritableView | null = null;
      let seq = 0;
      await this.exclusive(async () => {
        if (!(await atPoint())) return;
        seq = this.committed;
        view = this.state.beginView();
      });
      const v = view as WritableView | null;
      if (!v) return undefined;
      try {
        return await read(v, seq);
      } finally {
        v.end();
      }
    } finally {
      done();
    }
  }

  /** Run `fn` with no batch in flight, after the writes queued so far. */
  protected exclusive(fn: () => Promise<void>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.controls.push({ run: fn, resolve, reject });
      this.kick();
    });
  }

  /** Resolves once no write or control task is queued or running. */
  protected idle(): Promise<void> {
    if (!this.running && this.queue.length === 0 && this.controls.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  // ---- internals ------------------------------------------------------------------------------

  private checkWritable(action: string, type: string, key: string): void {
    const tp = typeProblem(type);
    if (tp) throw badRequest(String(type), String(key), `cannot ${action} object: ${tp}`);
    const kp = keyProblem(key);
    if (kp) throw badRequest(type, String(key), `cannot ${action} ${type}: ${kp}`);
    this.checkOpen(`${action} ${type} "${key}"`, type, key);
    if (this.state.isReadOnly(type, key)) {
      throw conflict(type, key, `cannot ${action} ${type} "${key}": it is read-only (shipped content)`);
    }
  }

  /** Throw Unavailable unless open; `what` completes "cannot …". */
  private checkOpen(what: string, type: string, key: string): void {
    if (this.phase !== "open") {
      const why =
        this.phase === "failed"
          ? `it stopped after a failed write (${this.failure}); restart to recover`
          : this.phase === "new"
            ? "it is not open yet"
            : "it is closed";
      throw new SocleError("Unavailable", type, key, `cannot ${what}: ${this.describe()} is unavailable: ${why}`);
    }
  }

  private tipExists(type: string, key: string): boolean {
    const pending = this.tip.get(composite(type, key));
    if (pending) return pending.obj !== null;
    return this.state.getWritable(type, key) !== undefined;
  }

  private enqueue(type: string, key: string, action: ChangeAction, obj: ModelObject, json: string | null): Promise<Change> {
    const seq = ++this.assigned;
    const change: Change = Object.freeze({
      Seq: seq,
      Time: new Date().toISOString(),
      Type: type,
      Action: action,
      Key: key,
      Object: obj,
    });
    this.tip.set(composite(type, key), { seq, obj: action === "delete" ? null : obj });
    this.localPending++;
    return new Promise<Change>((resolve, reject) => {
      this.queue.push({ change, json, replicated: false, resolve, reject });
      this.kick();
    });
  }

  private kick(): void {
    if (this.running) return;
    this.running = true;
    // A microtask, not a timer: every write issued in the current turn joins the first batch.
    queueMicrotask(() => void this.loop());
  }

  private async loop(): Promise<void> {
    try {
      // Terminates: each pass consumes everything queued before it; it only continues while
      // callers keep adding work.
      while (this.queue.length > 0 || this.controls.length > 0) {
        if (this.queue.length > 0) {
          const batch = this.queue;
          this.queue = [];
          await this.commit(batch);
        }
        const controls = this.controls.splice(0);
        for (const c of controls) {
          try {
            await c.run();
            c.resolve();
          } catch (err) {
            c.reject(err);
          }
        }
      }
    } catch (err) {
      // commit() handles persist failures; anything else is a bug, but must not wedge writes.
      this.log.error("store commit loop failed", { error: err });
    } finally {
      this.running = false;
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
      if (this.queue.length > 0 || this.controls.length > 0) this.kick();
    }
  }

  private async commit(batch: Queued[]): Promise<void> {
    if (this.phase === "failed") {
      this.rejectAll(batch);
      return;
    }
    try {
      await this.persist(batch);
    } catch (err) {
      this.failure = `${(err as Error).message ?? String(err)}`;
      this.phase = "failed";
      this.log.error("store write failed; refusing further writes until restart", { error: this.failure });
      this.tip.clear();
      this.assigned = this.committed;
      this.rejectAll(batch);
      this.rejectAll(this.queue.splice(0));
      return;
    }
    for (const p of batch) {
      const c = p.change;
      this.state.apply(c.Type, c.Key, c.Action === "delete" ? null : c.Object);
      this.committed = c.Seq;
      const ck = composite(c.Type, c.Key);
      if (this.tip.get(ck)?.seq === c.Seq) this.tip.delete(ck);
      // A delete's change still holds the object it removed: count it too.
      const size = p.json?.length ?? JSON.stringify(c.Object).length;
      this.history.push(c, CHANGE_OVERHEAD + c.Key.length + size);
      if (!p.replicated) this.localPending--;
      this.publish(c);
      p.resolve(c);
    }
    this.afterCommit();
  }

  private rejectAll(batch: Queued[]): void {
    for (const p of batch) {
      const c = p.change;
      if (!p.replicated) this.localPending--;
      p.reject(
        new SocleError("Unavailable", c.Type, c.Key, `cannot ${c.Action === "delete" ? "delete" : "put"} ${c.Type} "${c.Key}": ${this.describe()} write failed: ${this.failure}`),
      );
    }
  }

  private publish(c: Change): void {
    for (const fn of this.subscribers) {
      try {
        fn(c);
      } catch (err) {
        this.log.error("change subscriber threw; change still committed", { seq: c.Seq, error: err });
      }
    }
  }
}

function composite(type: string, key: string): string {
  return `${type}\u0000${key}`;
}
