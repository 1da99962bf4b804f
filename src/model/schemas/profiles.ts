// Profiles: named bundles of parameters, applied to machines in order. `global` always exists.

import { defineModel } from "../define.ts";
import type { Reference } from "../model-def.ts";
import { quote } from "../validate.ts";
import { zName, zNameList, zParams, zText } from "./fields.ts";

export const profiles = defineModel({
  prefix: "profiles",
  key: "Name",
  shape: {
    Name: zName(),
    Description: zText().default(""),
    Params: zParams().default(() => ({})),
    Profiles: zNameList("profile").default(() => []).describe("Sub-profiles, applied after this profile's own Params"),
  },
  check: (obj) => {
    const out: string[] = [];
    if (Array.isArray(obj.Profiles)) {
      obj.Profiles.forEach((p, i) => {
        if (p === obj.Name) out.push(`Profiles[${i}]: profile ${quote(p)} may not include itself`);
      });
    }
    return out;
  },
  references: (obj) => {
    const refs: Reference[] = [];
    if (Array.isArray(obj.Profiles)) {
      obj.Profiles.forEach((p, i) => typeof p === "string" && refs.push({ type: "profiles", key: p, field: `Profiles[${i}]` }));
    }
    return refs;
  },
});
