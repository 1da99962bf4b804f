// Roles: lists of claims (scope, action, specific object) granted to users. "*" is a wildcard;
// scope and action may list several values separated by commas ("machines,profiles", "get,list").

import { z } from "zod";
import { defineModel } from "../define.ts";
import { quote } from "../validate.ts";
import { zName, zText } from "./fields.ts";

const claimPart = (what: string) =>
  z.string().check((ctx) => {
    const v = ctx.value;
    // eslint-disable-next-line no-control-regex
    const bad = v === "" ? "must not be empty" : /[\u0000-\u001f\u007f\s]/.test(v) ? "must not contain white space or control characters" : v.split(",").some((p) => p === "") ? "has an empty entry between commas" : "";
    if (bad) ctx.issues.push({ code: "custom", message: `invalid claim ${what} ${quote(v)}: ${bad}`, input: v });
  });

export const zClaim = () =>
  z.strictObject({
    Scope: claimPart("scope").describe('Object type(s): "machines", "machines,profiles" or "*"'),
    Action: claimPart("action").describe('Action(s): "get", "list,get", "update", "getSecure" (Secure param values in clear) or "*"'),
    Specific: claimPart("specific").default("*").describe('Object key, or "*" for all'),
  });

export const roles = defineModel({
  prefix: "roles",
  key: "Name",
  shape: {
    Name: zName(),
    Description: zText().default(""),
    Claims: z.array(zClaim()).default(() => []),
  },
});
