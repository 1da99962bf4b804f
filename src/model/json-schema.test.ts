import { describe, expect, test } from "bun:test";
import { checkJsonSchema, checkSchemaShape, jsonEqual } from "./json-schema.ts";

describe("checkJsonSchema", () => {
  test("types", () => {
    expect(checkJsonSchema({ type: "string" }, "x")).toEqual([]);
    expect(checkJsonSchema({ type: "string" }, 3)).toEqual(["expected string, got 3"]);
    expect(checkJsonSchema({ type: "integer" }, 3.5, "P")).toEqual(["P: expected integer, got 3.5"]);
    expect(checkJsonSchema({ type: "number" }, 3)).toEqual([]);
    expect(checkJsonSchema({ type: "boolean" }, "true")).toEqual(['expected boolean, got "true"']);
    expect(checkJsonSchema({ type: "object" }, [])).toEqual(["expected object, got []"]);
    expect(checkJsonSchema({ type: "array" }, {})).toEqual(["expected array, got {}"]);
    expect(checkJsonSchema({ type: ["string", "null"] }, null)).toEqual([]);
    expect(checkJsonSchema({ type: "number" }, Number.POSITIVE_INFINITY)).toHaveLength(1);
  });
  test("enum, const, bounds, lengths, pattern", () => {
    expect(checkJsonSchema({ enum: ["a", "b"] }, "c")).toEqual(['"c" is not one of "a", "b"']);
    expect(checkJsonSchema({ enum: [{ x: 1 }] }, { x: 1 })).toEqual([]);
    expect(checkJsonSchema({ const: 5 }, 6)).toEqual(["6 is not 5"]);
    expect(checkJsonSchema({ minimum: 1, maximum: 10 }, 0)).toEqual(["0 is less than the minimum 1"]);
    expect(checkJsonSchema({ minimum: 1, maximum: 10 }, 11)).toEqual(["11 is greater than the maximum 10"]);
    expect(checkJsonSchema({ minimum: 1, maximum: 10 }, 10)).toEqual([]);
    expect(checkJsonSchema({ minLength: 2, maxLength: 3 }, "a")).toEqual(['"a" is shorter than 2 characters']);
    expect(checkJsonSchema({ minLength: 2, maxLength: 3 }, "abcd")).toEqual(['"abcd" is longer than 3 characters']);
    expect(checkJsonSchema({ pattern: "^[0-9]+$" }, "12a")).toEqual(['"12a" does not match pattern "^[0-9]+$"']);
    expect(checkJsonSchema({ pattern: "^[0-9]+$" }, 12)).toEqual([]); // pattern applies to strings only
  });
  test("items, properties, required, additionalProperties", () => {
    const s = {
      type: "object",
      required: ["host"],
      properties: { host: { type: "string" }, port: { type: "integer", minimum: 1 } },
      additionalProperties: false,
    };
    expect(checkJsonSchema(s, { host: "a", port: 22 })).toEqual([]);
    expect(checkJsonSchema(s, { port: 0, x: 1 }, "Params.svc")).toEqual([
      'Params.svc: missing required property "host"',
      "Params.svc.port: 0 is less than the minimum 1",
      'Params.svc: unexpected property "x"',
    ]);
    expect(checkJsonSchema({ type: "array", items: { type: "string" } }, ["a", 1], "L")).toEqual(["L[1]: expected string, got 1"]);
    expect(checkJsonSchema({ additionalProperties: { type: "number" } }, { a: 1, b: "x" })).toEqual(['.b: expected number, got "x"']);
  });
  test("pattern runs in linear time and fails closed on a pattern it cannot run", () => {
    // A machine writes the value (its inventory); a backtracking engine took seconds here.
    const value = `${"a".repeat(5000)}!`;
    const t0 = performance.now();
    expect(checkJsonSchema({ pattern: "^([a-z0-9]+ ?)*$" }, value, "P")).toHaveLength(1);
    expect(performance.now() - t0).toBeLessThan(200);
    expect(checkJsonSchema({ pattern: "^(a)\\1$" }, "aa", "P")).toEqual([
      'P: cannot check "aa": unsupported regular expression "^(a)\\\\1$": backreference \\1 at offset 4 is not supported (patterns run in linear time: no backreferences, lookaround, atomic groups or possessive quantifiers)',
    ]);
    // Characters are code points, as with the u flag the pattern had before.
    expect(checkJsonSchema({ pattern: "^.$" }, "\u{1F600}")).toEqual([]);
  });
  test("non-object schema accepts anything", () => {
    expect(checkJsonSchema(undefined, 1)).toEqual([]);
    expect(checkJsonSchema({}, { any: ["thing"] })).toEqual([]);
  });
});

describe("checkSchemaShape", () => {
  test("accepts a usable schema", () => {
    expect(checkSchemaShape({ type: "array", items: { type: "string", pattern: "^a" }, title: "x" })).toEqual([]);
  });
  test("reports bad keywords", () => {
    expect(checkSchemaShape("string")).toEqual(['Schema: expected a JSON-Schema object, got "string"']);
    expect(checkSchemaShape({ type: "text" })).toEqual(['Schema.type: unsupported type "text"; supported: string, number, integer, boolean, object, array, null']);
    expect(checkSchemaShape({ type: [] })).toEqual(["Schema.type: must not be an empty list"]);
    expect(checkSchemaShape({ enum: "a" })).toEqual(['Schema.enum: expected an array, got "a"']);
    expect(checkSchemaShape({ minimum: "1" })).toEqual(['Schema.minimum: expected a number, got "1"']);
    expect(checkSchemaShape({ maxLength: -1 })).toEqual(["Schema.maxLength: expected a non-negative integer, got -1"]);
    expect(checkSchemaShape({ pattern: "(" })).toEqual(['Schema.pattern: invalid regular expression "(": missing ) for ( at offset 0']);
    expect(checkSchemaShape({ pattern: "^(?!admin)" })[0]).toStartWith('Schema.pattern: unsupported regular expression "^(?!admin)": negative lookahead (?! at offset 1 is not supported');
    expect(checkSchemaShape({ items: { type: "x" } })[0]).toStartWith("Schema.items.type:");
    expect(checkSchemaShape({ properties: { a: 1 } })).toEqual(["Schema.properties.a: expected a JSON-Schema object, got 1"]);
    expect(checkSchemaShape({ required: [1] })).toEqual(["Schema.required: expected an array of strings, got [1]"]);
  });
});

test("jsonEqual", () => {
  expect(jsonEqual({ a: [1, { b: 2 }] }, { a: [1, { b: 2 }] })).toBe(true);
  expect(jsonEqual({ a: 1, b: 2 }, { b: 2, a: 1 })).toBe(true);
  expect(jsonEqual([1, 2], [2, 1])).toBe(false);
  expect(jsonEqual({ a: 1 }, { a: 1, b: undefined })).toBe(false);
  expect(jsonEqual(null, {})).toBe(false);
  expect(jsonEqual([], {})).toBe(false);
  expect(jsonEqual("1", 1)).toBe(false);
});
