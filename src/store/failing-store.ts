// A Store whose every write rejects with an Unavailable SocleError, as a full disk or a failed
// fdatasync would make the file store do. For the failure branches of code above the store.
// Reads answer from the objects it was given (frozen), so a caller can find something and then
// fail to change it. `failOpen` makes open() fail too.

import { SocleError } from "../model/errors.ts";
import type { Change, ModelObject } from "../model/object.ts";
import type { Store } from "./store.ts";
import { deepFreeze } from "./freeze.ts";

export interface FailingStoreOptions {
  /** type -> key -> object, visible through get/list/count. */
  objects?: Record<string, Record<string, ModelObject>>;
  /** Reason included in every error message. */
  reason?: string;
  failOpen?: boolean;
}

export class FailingStore implements Store {
  readonly seq = 0;
  private readonly objects = new Map<string, Map<string, ModelObject>>();
  private readonly reason: string;
  private readonly failOpen: boolean;

  constructor(opts: FailingStoreOptions = {}) {
    this.reason = opts.reason ?? "injected failure (failing store)";
    this.failOpen = opts.failOpen ?? false;
    for (const [type, objs] of Object.entries(opts.objects ?? {})) {
      const keys = Object.keys(objs).sort();
      this.objects.set(type, new Map(keys.map((k) => [k, deepFreeze(structuredClone(objs[k] as ModelObject))])));
    }
  }

  async open(): Promise<void> {
    if (this.failOpen) throw new SocleError("Unavailable", "store", "", `cannot open store: ${this.reason}`);
  }

  async close(): Promise<void> {}

  get(type: string, key: string): ModelObject | undefined {
    return this.objects.get(type)?.get(key);
  }

  list(type: string): ModelObject[] {
    return [...(this.objects.get(type)?.values() ?? [])];
  }

  count(type: string): number {
    return this.objects.get(type)?.size ?? 0;
  }

  scanField(type: string, field: string, fn: (key: string, value: unknown) => void): void {
    // As the other stores: a name every object inherits is refused (layered-state.ts).
    if (field in Object.prototype) throw new Error(`scan ${type}: field "${field}" is a name every object inherits`);
    for (const [key, obj] of this.objects.get(type) ?? []) fn(key, obj[field]);
  }

  put(type: string, key: string, _obj: ModelObject): Promise<Change> {
    return Promise.reject(new SocleError("Unavailable", type, key, `cannot put ${type} "${key}": store unavailable: ${this.reason}`));
  }

  delete(type: string, key: string): Promise<Change> {
    return Promise.reject(new SocleError("Unavailable", type, key, `cannot delete ${type} "${key}": store unavailable: ${this.reason}`));
  }

  subscribe(_fn: (change: Change) => void): () => void {
    return () => {};
  }
}
