// What the rest of Socle knows about an object type. One ModelDef per type; the registry
// (registry.ts) lists them. The API, the store layer and the CLI are generic over these.

import type { z } from "zod";
import type { ModelObject } from "./object.ts";

export interface IndexDef {
  /** Two objects may not share a value of a unique index (Machine Name, Address...). */
  unique: boolean;
  /** Kind of value, for filter parsing and sorting. */
  kind: "string" | "number" | "boolean" | "ip" | "mac" | "time" | "list";
  /** For kind "list": the kind of each element (HardwareAddrs: "mac"); "string" when absent. */
  element?: "string" | "number" | "boolean" | "ip" | "mac" | "time";
}

/** An outgoing reference from one object to another (machine -> bootenv, -> profiles). */
export interface Reference {
  type: string; // target store type, e.g. "bootenvs"
  key: string; // target key
  field: string; // where the reference sits, e.g. "BootEnv" or "Profiles[1]"
}

export interface ModelDef {
  /** URL segment and store type: "machines". */
  prefix: string;
  /** Name used in error bodies' Model field: "machines" (DRP uses the prefix). */
  model: string;
  /** Key field: "Uuid" for machines, "Name" for most, "Addr" for leases/reservations, "ID" for templates. */
  key: string;
  /** Fields usable as `Index:value` keys, in filters and in sort. Always includes `key`. */
  indexes: Record<string, IndexDef>;
  /** Strict schema of the object as stored (unknown fields rejected). Also feeds OpenAPI. */
  schema: z.ZodType;
  /** false: the API serves it read-only (leases). */
  writable: boolean;
  /** Fields never returned by the API (password hashes, secrets). */
  secretFields: string[];
  /**
   * Turn API input into a complete, valid object: apply defaults, generate keys (machine Uuid),
   * normalise (lower-case MACs, canonical CIDRs), reset the meta fields (Validated, Available,
   * Errors, ReadOnly) and keep Meta. `existing` is the stored object for updates.
   * Throws SocleError ValidationError (422) whose messages name each bad field and quote its value.
   */
  prepare(input: unknown, existing?: ModelObject): ModelObject;
  /** Outgoing references of an object (checked against the store for Available/Errors). */
  references(obj: ModelObject): Reference[];
}
