// Users of the API. PasswordHash is set by the auth layer; Secret lets an operator revoke all of
// a user's tokens at once by changing it.

import { z } from "zod";
import { defineModel } from "../define.ts";
import type { Reference } from "../model-def.ts";
import { randomSecret, zName, zNameList, zText } from "./fields.ts";

export const users = defineModel({
  prefix: "users",
  key: "Name",
  shape: {
    Name: zName(),
    Description: zText().default(""),
    PasswordHash: z.string().default("").describe('Password hash (never returned); "" means password login is disabled'),
    Secret: z.string().min(16).describe("Random per-user secret mixed into tokens (never returned)"),
    Roles: zNameList("role").default(() => []),
  },
  secretFields: ["PasswordHash", "Secret"],
  generated: { Secret: randomSecret },
  references: (obj) => {
    const refs: Reference[] = [];
    if (Array.isArray(obj.Roles)) obj.Roles.forEach((r, i) => typeof r === "string" && refs.push({ type: "roles", key: r, field: `Roles[${i}]` }));
    return refs;
  },
});
