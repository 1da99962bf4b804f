// What every stored object carries, and the change records the store publishes.

/** Fields every object carries (DRP v3). Filled by validation, never trusted from clients. */
export interface ObjectMeta {
  Validated: boolean;
  Available: boolean;
  Errors: string[];
  ReadOnly: boolean;
  Meta: Record<string, string>;
}

/** Any stored object: plain JSON with PascalCase fields. */
export type ModelObject = { [field: string]: unknown };

/** A field read as a string: "" when it is not one (objects are JSON from disk and clients). */
export const fieldString = (v: unknown): string => (typeof v === "string" ? v : "");

/** A field read as a list of strings: its string entries, [] when it is not a list. */
export const fieldStrings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : []);

export type ChangeAction = "create" | "update" | "delete";

/** One change, as published on the store's feed and the API's event stream. */
export interface Change {
  /** Monotonic across the whole store, never reused, survives restarts. */
  Seq: number;
  /** ISO-8601 time of the commit. */
  Time: string;
  /** The store type, which is the API prefix: "machines", "leases", ... */
  Type: string;
  Action: ChangeAction;
  Key: string;
  /** The object after the change; for delete, the object as it was. */
  Object: ModelObject;
}

/** A JSON object (not null, not an array): what a parsed map is. */
export const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
