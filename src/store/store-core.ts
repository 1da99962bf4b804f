// What the file store and the memory store share: input checks, read-only rules, Seq assignment,
// group commit, apply-after-durable, and the change feed. A subclass only says how a batch of
// changes becomes durable (`persist`) and how state is loaded.
//
// Writes are checked and numbered when called, against the "tip" (committed state plus writes
// still pending), so put-then-delete in one tick behaves as if sequential. They become visible to
// get/list, and are published, only after `persist` resolved: a reader never sees a change that a
// crash could still take back. All writes queued while a batch is being persisted form the next
// batch (group commit: one write() and one fdatasync for all of them in the file store).

import { SocleError, badRequest, conflict, notFound } from "../model/errors.ts";
import type { Change, ChangeAction, ModelObject } from "../model/object.ts";
import { nullLogger, type Logger } from "../log/logger.ts";
import type { ReadOnlyLayer, Store } from "./store.ts";
import { LayeredState } from "./layered-state.ts";
import { frozenFromJSON } from "./freeze.ts";

/** A change on its way to durability, with the object already serialised once. */
export interface PendingWrite {
  change: Change;
  /** JSON of change.Object for create/update; null for delete. */
  json: string | null;
}

interface Queued extends PendingWrite {
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

export abstract class StoreCore implements Store {
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

  constructor(layer: ReadOnlyLayer, log: Logger = nullLogger) {
    this.state = new LayeredState(layer);
    this.log = log;
  }

  abstract open(): Promise<void>;
  abstract close(): Promise<void>;
  /** Make the batch durable, in order; reject if it may not be. Called one batch at a time. */
  protected abstract persist(batch: readonly PendingWrite[]): Promise<void>;
  /** Called after a batch was applied and published (compaction triggers hook in here). */
  protected afterCommit(): void {}
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
    this.state.freezeInBackground().catch((err) => this.log.error("freezing loaded objects failed", { error: err }));
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
    if (typeof type !== "string" || !TYPE_RE.test(type)) {
      throw badRequest(String(type), String(key), `cannot ${action} object: invalid store type "${String(type)}": want lower-case letters, digits, "-" or "_"`);
    }
    if (typeof key !== "string" || key.length === 0 || key.length > MAX_KEY_LENGTH) {
      const why = typeof key !== "string" ? "not a string" : key.length === 0 ? "empty" : `longer than ${MAX_KEY_LENGTH} characters`;
      throw badRequest(type, String(key), `cannot ${action} ${type}: invalid key "${String(key).slice(0, 64)}": ${why}`);
    }
    if (this.phase !== "open") {
      const why =
        this.phase === "failed"
          ? `it stopped after a failed write (${this.failure}); restart to recover`
          : this.phase === "new"
            ? "it is not open yet"
            : "it is closed";
      throw new SocleError("Unavailable", type, key, `cannot ${action} ${type} "${key}": ${this.describe()} is unavailable: ${why}`);
    }
    if (this.state.isReadOnly(type, key)) {
      throw conflict(type, key, `cannot ${action} ${type} "${key}": it is read-only (shipped content)`);
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
    return new Promise<Change>((resolve, reject) => {
      this.queue.push({ change, json, resolve, reject });
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
      this.publish(c);
      p.resolve(c);
    }
    this.afterCommit();
  }

  private rejectAll(batch: Queued[]): void {
    for (const p of batch) {
      const c = p.change;
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
