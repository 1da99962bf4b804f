// Params: the declaration of a parameter: its JSON Schema (with an optional default) and whether
// its values are secure: sealed in the store and shown only to holders of getSecure
// (model/secure-params.ts). A Param's own Schema, default included, is no secret.

import { z } from "zod";
import { defineModel } from "../define.ts";
import { checkJsonSchema, checkSchemaShape } from "../json-schema.ts";
import { zName, zText } from "./fields.ts";

export const params = defineModel({
  prefix: "params",
  key: "Name",
  shape: {
    Name: zName(),
    Description: zText().default(""),
    Schema: z.record(z.string(), z.unknown()).default(() => ({})).describe("JSON Schema of the value; `default` is the fallback value"),
    Secure: z
      .boolean()
      .default(false)
      .describe('Values are stored encrypted and read as "[secure]" without the getSecure claim on the machine or profile that holds them (the default in Schema is not secret)'),
  },
  indexes: {
    Secure: { unique: false, kind: "boolean" },
  },
  check: (obj) => {
    // A non-object Schema is already reported by the shape check.
    if (typeof obj.Schema !== "object" || obj.Schema === null || Array.isArray(obj.Schema)) return [];
    const shape = checkSchemaShape(obj.Schema);
    if (shape.length > 0) return shape;
    const schema = obj.Schema as Record<string, unknown>;
    return Object.hasOwn(schema, "default") ? checkJsonSchema(schema, schema.default, "Schema.default") : [];
  },
});
