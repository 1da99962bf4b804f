// What the boot core reads: machines, boot environments, templates, profiles, params and prefs,
// and a feed of changes. Objects are the validated store objects (model/schemas), read-only.
// The store-backed implementation is src/adapters/boot-data.ts; tests use memoryBootData below.

import type { ModelObject } from "../model/object.ts";
import { defaultPrefs } from "../model/prefs.ts";

export interface BootPrefs {
  /** Boot environment of unknown machines: "discovery", "ignore" or another bootenv name. */
  unknownBootEnv: string;
  /** Boot environment of a known machine whose BootEnv is "". */
  defaultBootEnv: string;
  /** Token lifetimes in seconds. */
  unknownTokenTimeout: number;
  knownTokenTimeout: number;
}

/** One changed object: `object` is undefined when it was deleted. */
export interface BootDataChange {
  type: "machines" | "bootenvs" | "templates" | "profiles" | "params" | "prefs";
  key: string;
  object: ModelObject | undefined;
}

export interface BootData {
  machine(uuid: string): ModelObject | undefined;
  /** The machine with this MAC (lower-case colon form) among its HardwareAddrs. */
  machineByMac(mac: string): ModelObject | undefined;
  machines(): Iterable<ModelObject>;
  bootEnv(name: string): ModelObject | undefined;
  bootEnvs(): Iterable<ModelObject>;
  template(id: string): ModelObject | undefined;
  templates(): Iterable<ModelObject>;
  profile(name: string): ModelObject | undefined;
  param(name: string): ModelObject | undefined;
  params(): Iterable<ModelObject>;
  /** The `global` profile. */
  globalProfile(): ModelObject | undefined;
  prefs(): BootPrefs;
  /** Called after each change is visible through the getters. Returns the unsubscribe function. */
  subscribe(fn: (change: BootDataChange) => void): () => void;
}

/** Prefs from the stored string map, with defaults and numbers parsed. */
export function bootPrefs(stored: Record<string, unknown> | undefined): BootPrefs {
  const all: Record<string, unknown> = { ...defaultPrefs(), ...(stored ?? {}) };
  const str = (k: string) => (typeof all[k] === "string" ? (all[k] as string) : String(defaultPrefs()[k] ?? ""));
  const num = (k: string) => {
    const n = Number(str(k));
    return Number.isInteger(n) && n > 0 ? n : Number(defaultPrefs()[k]);
  };
  return {
    unknownBootEnv: str("unknownBootEnv"),
    defaultBootEnv: str("defaultBootEnv"),
    unknownTokenTimeout: num("unknownTokenTimeout"),
    knownTokenTimeout: num("knownTokenTimeout"),
  };
}

export interface MemoryBootData extends BootData {
  /** Create, replace (object) or delete (undefined) one object, and notify subscribers. */
  set(type: BootDataChange["type"], key: string, object: ModelObject | undefined): void;
}

/**
 * BootData over plain maps, for tests and previews of content that is not stored (golden files).
 * `objects` are taken as valid (prepare them with the model's defs first).
 */
export function memoryBootData(objects: Partial<Record<BootDataChange["type"], ModelObject[]>> = {}): MemoryBootData {
  const KEYS: Record<BootDataChange["type"], string> = {
    machines: "Uuid",
    bootenvs: "Name",
    templates: "ID",
    profiles: "Name",
    params: "Name",
    prefs: "",
  };
  const maps = new Map<string, Map<string, ModelObject>>();
  const mapOf = (t: string) => {
    let m = maps.get(t);
    if (!m) maps.set(t, (m = new Map()));
    return m;
  };
  let prefs: Record<string, unknown> | undefined;
  for (const [type, list] of Object.entries(objects) as Array<[BootDataChange["type"], ModelObject[]]>) {
    for (const o of list) {
      if (type === "prefs") prefs = { ...prefs, ...o };
      else mapOf(type).set(String(o[KEYS[type]]), o);
    }
  }
  const subs = new Set<(c: BootDataChange) => void>();
  const byMac = (mac: string) => {
    for (const m of mapOf("machines").values()) if (Array.isArray(m.HardwareAddrs) && m.HardwareAddrs.includes(mac)) return m;
    return undefined;
  };
  return {
    machine: (uuid) => mapOf("machines").get(uuid),
    machineByMac: byMac,
    machines: () => mapOf("machines").values(),
    bootEnv: (name) => mapOf("bootenvs").get(name),
    bootEnvs: () => mapOf("bootenvs").values(),
    template: (id) => mapOf("templates").get(id),
    templates: () => mapOf("templates").values(),
    profile: (name) => mapOf("profiles").get(name),
    param: (name) => mapOf("params").get(name),
    params: () => mapOf("params").values(),
    globalProfile: () => mapOf("profiles").get("global"),
    prefs: () => bootPrefs(prefs),
    subscribe(fn) {
      subs.add(fn);
      return () => subs.delete(fn);
    },
    set(type, key, object) {
      if (type === "prefs") prefs = object ? { ...object } : undefined;
      else if (object) mapOf(type).set(key, object);
      else mapOf(type).delete(key);
      for (const fn of subs) fn({ type, key, object });
    },
  };
}
