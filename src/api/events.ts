// The API's event stream, built on the store's change feed: SSE at /api/v3/events and a
// websocket at /api/v3/ws. A ring of recent changes lets a reconnecting client resume from
// Last-Event-ID (or ?since=<seq>) without missing anything still in the ring.

import type { Store } from "../store/store.ts";
import type { Change } from "../model/object.ts";
import { badRequest } from "../model/errors.ts";
import { modelFor } from "../model/registry.ts";
import type { ModelDef } from "../model/model-def.ts";
import type { ModelObject } from "../model/object.ts";

export interface EventFilter {
  types?: Set<string>;
  actions?: Set<string>;
  keys?: Set<string>;
}

export interface EventMessage {
  Seq: number;
  Time: string;
  Type: string;
  Action: string;
  Key: string;
  Object: Record<string, unknown>;
}

const ACTIONS = new Set(["create", "update", "delete", "progress", "conflict", "record"]);
/**
 * Types whose events are not store objects: prefs changes, ISO explodes' progress, the HA pair's
 * merge conflicts, and the boot timeline's records (sent only to streams that ask for them by type).
 */
const OTHER_TYPES = new Set(["prefs", "isos", "ha", "timeline"]);

/**
 * A transient event, not a store change: never in the ring, so a reconnecting client does not get
 * it again (an ISO explode's progress, from iso-import.ts). It carries the store's sequence number
 * at the time, so Last-Event-ID still resumes the store's changes exactly.
 */
export interface Notice {
  Type: string;
  /** progress: an ISO explode; conflict: an object both nodes of an HA pair changed while both served; record: a boot timeline event. */
  Action: "progress" | "conflict" | "record";
  Key: string;
  Object: Record<string, unknown>;
}

/** What a stream delivers: a store change, or a notice. */
export type StreamEvent = Change | (Notice & { Seq: number; Time: string });

export class EventHub {
  private readonly ring: Change[] = [];
  private readonly listeners = new Set<(c: StreamEvent) => void>();
  /** Open streams per type they asked for by name (a type only some streams want is only made for them). */
  private readonly wanted = new Map<string, number>();
  private readonly unsubscribe: () => void;

  constructor(private readonly store: Store, private readonly ringSize = 1024) {
    this.unsubscribe = store.subscribe((c) => {
      this.ring.push(c);
      if (this.ring.length > this.ringSize) this.ring.shift();
      for (const l of this.listeners) l(c);
    });
  }

  /** Changes after `seq` still held in the ring, and whether the ring reaches back that far. */
  since(seq: number): { changes: Change[]; complete: boolean } {
    const first = this.ring[0];
    const complete = !first || first.Seq <= seq + 1;
    return { changes: this.ring.filter((c) => c.Seq > seq), complete };
  }

  listen(fn: (c: StreamEvent) => void, types?: ReadonlySet<string>): () => void {
    this.listeners.add(fn);
    for (const t of types ?? []) this.wanted.set(t, (this.wanted.get(t) ?? 0) + 1);
    let open = true;
    return () => {
      if (!open) return;
      open = false;
      this.listeners.delete(fn);
      for (const t of types ?? []) {
        const n = (this.wanted.get(t) ?? 1) - 1;
        if (n > 0) this.wanted.set(t, n);
        else this.wanted.delete(t);
      }
    };
  }

  /** Whether an open stream asked for events of `type` by name. */
  wants(type: string): boolean {
    return this.wanted.has(type);
  }

  /** Deliver a notice to the streams open now. */
  notify(n: Notice): void {
    const e = { ...n, Seq: this.store.seq, Time: new Date().toISOString() };
    for (const l of this.listeners) l(e);
  }

  close(): void {
    this.unsubscribe();
    this.listeners.clear();
  }
}

/** Parse `type=machines,leases&action=create&key=...` (repeatable or comma lists). */
export function parseEventFilter(params: URLSearchParams): EventFilter {
  const list = (name: string) => {
    const values = params.getAll(name).flatMap((v) => v.split(",")).map((v) => v.trim()).filter(Boolean);
    return values.length ? new Set(values) : undefined;
  };
  const filter: EventFilter = { types: list("type"), actions: list("action"), keys: list("key") };
  for (const t of filter.types ?? []) {
    if (!OTHER_TYPES.has(t) && !modelFor(t)) throw badRequest("events", "", `type: unknown type "${t}"`);
  }
  for (const a of filter.actions ?? []) {
    if (!ACTIONS.has(a)) throw badRequest("events", "", `action: unknown action "${a}" (expected create, update, delete, progress, conflict or record)`);
  }
  return filter;
}

export function matches(f: EventFilter, c: StreamEvent): boolean {
  // Timeline records come by the thousand in a boot storm: only to streams that name the type.
  if (c.Type === "timeline" && !f.types?.has("timeline")) return false;
  return (!f.types || f.types.has(c.Type)) && (!f.actions || f.actions.has(c.Action)) && (!f.keys || f.keys.has(c.Key));
}

/**
 * The change as one client may see it: its object through `redact` (ObjectService.redact with
 * the client's getSecure access: secret fields removed, Secure param values the marker or in
 * clear). The store's change holds sealed values; a stream never sends one.
 */
export function toMessage(c: StreamEvent, redact: (def: ModelDef, obj: ModelObject) => ModelObject): EventMessage {
  const def = modelFor(c.Type);
  const obj = def ? redact(def, c.Object) : c.Object;
  return { Seq: c.Seq, Time: c.Time, Type: c.Type, Action: c.Action, Key: c.Key, Object: obj };
}
