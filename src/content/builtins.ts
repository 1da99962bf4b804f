// Objects that always exist.
// - The `superuser` role is read-only content: every claim on everything.
// - The stages `none` and `local` (DRP's): nothing, and boot from the local disk.
// - The `global` profile (the last layer of parameter resolution before Param defaults) is seeded
//   into the writable layer on first start, because operators set site-wide parameters on it;
//   it can be changed but never deleted.

import type { ModelObject } from "../model/object.ts";

export const READ_ONLY_BUILTINS: ReadonlyArray<{ type: string; obj: ModelObject }> = [
  { type: "stages", obj: { Name: "none", Description: "Nothing: no boot environment change, no tasks" } },
  { type: "stages", obj: { Name: "local", Description: "Boot from the local disk", BootEnv: "local" } },
  {
    type: "roles",
    obj: {
      Name: "superuser",
      Description: "Every action on every object",
      Claims: [{ Scope: "*", Action: "*", Specific: "*" }],
    },
  },
];

export const SEEDED_BUILTINS: ReadonlyArray<{ type: string; obj: ModelObject }> = [
  {
    type: "profiles",
    obj: {
      Name: "global",
      Description: "Parameters every machine sees unless its own params or profiles set them",
      Params: {},
      Profiles: [],
    },
  },
];

/** Objects that may be changed but never deleted. */
export const UNDELETABLE = new Set(["profiles/global"]);
