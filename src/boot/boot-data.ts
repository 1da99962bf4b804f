// What the boot core reads: machines, boot environments, templates, profiles, params and prefs,
// the addresses a machine holds (its Address and its DHCP leases), and a feed of changes.
// Objects are the validated store objects (model/schemas), read-only.
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
  /** Files rendered for a known machine are served only to that machine (file-binding.ts). */
  bindMachineFiles: boolean;
}

/** One changed object: `object` is undefined when it was deleted. */
export interface BootDataChange {
  type: "machines" | "bootenvs" | "templates" | "profiles" | "stages" | "params" | "prefs";
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
  /** A Stage: a machine's current stage is a parameter layer. */
  stage(name: string): ModelObject | undefined;
  param(name: string): ModelObject | undefined;
  params(): Iterable<ModelObject>;
  /** The `global` profile. */
  globalProfile(): ModelObject | undefined;
  prefs(): BootPrefs;
  /**
   * The addresses `machine` holds now: its Address, and the Addr of every active lease (see
   * leaseIsActive) whose Token is one of its HardwareAddrs. Leases are not in the change feed:
   * a renewal changes no file and no path, so it must not cost the boot core a re-index.
   */
  addressesOf(machine: ModelObject): string[];
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
    bindMachineFiles: str("bindMachineFiles") !== "false",
  };
}

/**
 * Whether a stored Lease binds its address to its Token (MAC) at `now`: bound by DHCPACK and not
 * yet expired. OFFER, DECLINE (the address is someone else's), RELEASED and EXPIRED do not. A
 * relayed lease is no different: Via names the relay, Addr is still the client's own address.
 */
export function leaseIsActive(lease: ModelObject, now: number): boolean {
  return lease.State === "ACK" && Date.parse(String(lease.ExpireTime ?? "")) > now;
}

/** A machine's Address, then the Addr of each of `leases` that is active and has one of its MACs as Token. */
export function machineAddresses(machine: ModelObject, leases: Iterable<ModelObject>, now: number): string[] {
  const out = new Set<string>();
  if (typeof machine.Address === "string" && machine.Address !== "") out.add(machine.Address);
  const macs = new Set(Array.isArray(machine.HardwareAddrs) ? machine.HardwareAddrs.map((m) => String(m).toLowerCase()) : []);
  for (const l of leases) {
    if (typeof l.Token === "string" && macs.has(l.Token.toLowerCase()) && typeof l.Addr === "string" && leaseIsActive(l, now)) out.add(l.Addr);
  }
  return [...out];
}

export interface MemoryBootData extends BootData {
  /**
   * Create, replace (object) or delete (undefined) one object, and notify subscribers. Leases
   * (key Addr) are not boot data changes: setting one notifies nobody, as in the store adapter.
   */
  set(type: BootDataChange["type"] | "leases", key: string, object: ModelObject | undefined): void;
}

/**
 * BootData over plain maps, for tests and previews of content that is not stored (golden files).
 * `objects` are taken as valid (prepare them with the model's defs first).
 */
export function memoryBootData(objects: Partial<Record<BootDataChange["type"] | "leases", ModelObject[]>> = {}): MemoryBootData {
  const KEYS: Record<BootDataChange["type"] | "leases", string> = {
    machines: "Uuid",
    bootenvs: "Name",
    templates: "ID",
    profiles: "Name",
    stages: "Name",
    params: "Name",
    prefs: "",
    leases: "Addr",
  };
  const maps = new Map<string, Map<string, ModelObject>>();
  const mapOf = (t: string) => {
    let m = maps.get(t);
    if (!m) maps.set(t, (m = new Map()));
    return m;
  };
  let prefs: Record<string, unknown> | undefined;
  for (const [type, list] of Object.entries(objects) as Array<[BootDataChange["type"] | "leases", ModelObject[]]>) {
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
    stage: (name) => mapOf("stages").get(name),
    param: (name) => mapOf("params").get(name),
    params: () => mapOf("params").values(),
    globalProfile: () => mapOf("profiles").get("global"),
    prefs: () => bootPrefs(prefs),
    addressesOf: (machine) => machineAddresses(machine, mapOf("leases").values(), Date.now()),
    subscribe(fn) {
      subs.add(fn);
      return () => subs.delete(fn);
    },
    set(type, key, object) {
      if (type === "prefs") prefs = object ? { ...object } : undefined;
      else if (object) mapOf(type).set(key, object);
      else mapOf(type).delete(key);
      if (type !== "leases") for (const fn of subs) fn({ type, key, object });
    },
  };
}
