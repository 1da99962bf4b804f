import { describe, expect, test } from "bun:test";
import { SocleError } from "./errors.ts";
import { applyPatch, checkPatch, parsePointer } from "./json-patch.ts";

function thrown(fn: () => unknown): SocleError {
  try {
    fn();
  } catch (e) {
    if (e instanceof SocleError) return e;
    throw e;
  }
  throw new Error("expected a SocleError");
}

// RFC 6902 Appendix A, one case per example.
describe("RFC 6902 appendix A", () => {
  const cases: [string, unknown, unknown[], unknown][] = [
    ["A.1 add an object member", { foo: "bar" }, [{ op: "add", path: "/baz", value: "qux" }], { baz: "qux", foo: "bar" }],
    ["A.2 add an array element", { foo: ["bar", "baz"] }, [{ op: "add", path: "/foo/1", value: "qux" }], { foo: ["bar", "qux", "baz"] }],
    ["A.3 remove an object member", { baz: "qux", foo: "bar" }, [{ op: "remove", path: "/baz" }], { foo: "bar" }],
    ["A.4 remove an array element", { foo: ["bar", "qux", "baz"] }, [{ op: "remove", path: "/foo/1" }], { foo: ["bar", "baz"] }],
    ["A.5 replace a value", { baz: "qux", foo: "bar" }, [{ op: "replace", path: "/baz", value: "boo" }], { baz: "boo", foo: "bar" }],
    [
      "A.6 move a value",
      { foo: { bar: "baz", waldo: "fred" }, qux: { corge: "grault" } },
      [{ op: "move", from: "/foo/waldo", path: "/qux/thud" }],
      { foo: { bar: "baz" }, qux: { corge: "grault", thud: "fred" } },
    ],
    ["A.7 move an array element", { foo: ["all", "grass", "cows", "eat"] }, [{ op: "move", from: "/foo/1", path: "/foo/3" }], { foo: ["all", "cows", "eat", "grass"] }],
    [
      "A.8 test a value: success",
      { baz: "qux", foo: ["a", 2, "c"] },
      [
        { op: "test", path: "/baz", value: "qux" },
        { op: "test", path: "/foo/1", value: 2 },
      ],
      { baz: "qux", foo: ["a", 2, "c"] },
    ],
    ["A.10 add a nested member object", { foo: "bar" }, [{ op: "add", path: "/child", value: { grandchild: {} } }], { foo: "bar", child: { grandchild: {} } }],
    ["A.11 ignore unrecognized elements", { foo: "bar" }, [{ op: "add", path: "/baz", value: "qux", xyz: 123 }], { foo: "bar", baz: "qux" }],
    ["A.14 ~ escape ordering", { "/": 9, "~1": 10 }, [{ op: "test", path: "/~01", value: 10 }], { "/": 9, "~1": 10 }],
    ["A.16 add an array value", { foo: ["bar"] }, [{ op: "add", path: "/foo/-", value: ["abc", "def"] }], { foo: ["bar", ["abc", "def"]] }],
  ];
  for (const [name, doc, ops, want] of cases) {
    test(name, () => expect(applyPatch<unknown>(doc, ops)).toEqual(want));
  }

  test("A.9 test a value: error is a 409 naming the path", () => {
    const e = thrown(() => applyPatch<unknown>({ baz: "qux" }, [{ op: "test", path: "/baz", value: "bar" }], { model: "machines", key: "m1" }));
    expect(e.code).toBe(409);
    expect(e.toJSON()).toMatchObject({ Model: "machines", Key: "m1", Type: "Conflict" });
    expect(e.messages[0]).toBe('operation 0 (test) failed: "/baz" is "qux", expected "bar"');
  });
  test("A.12 add to a nonexistent target", () => {
    const e = thrown(() => applyPatch<unknown>({ foo: "bar" }, [{ op: "add", path: "/baz/bat", value: "qux" }]));
    expect(e.code).toBe(409);
    expect(e.messages[0]).toContain('"/baz/bat" does not exist');
  });
  test("A.13 invalid JSON Patch document (op without value)", () => {
    const e = thrown(() => applyPatch<unknown>({}, [{ op: "add", path: "/baz" }]));
    expect(e.code).toBe(400);
    expect(e.messages[0]).toBe('operation 0 (add): "value" is required');
  });
  test("A.15 comparing strings and numbers", () => {
    const e = thrown(() => applyPatch<unknown>({ "/": 9, "~1": 10 }, [{ op: "test", path: "/~01", value: "10" }]));
    expect(e.code).toBe(409);
  });
});

describe("applyPatch", () => {
  test("never mutates its input, even when a later op fails", () => {
    const doc = { a: { b: [1, 2] }, c: 1 };
    const before = structuredClone(doc);
    const out = applyPatch<unknown>(doc, [
      { op: "add", path: "/a/b/-", value: 3 },
      { op: "replace", path: "/c", value: 2 },
    ]);
    expect(out).toEqual({ a: { b: [1, 2, 3] }, c: 2 });
    expect(doc).toEqual(before);
    expect(() => applyPatch<unknown>(doc, [{ op: "remove", path: "/c" }, { op: "test", path: "/c", value: 1 }])).toThrow("does not exist");
    expect(doc).toEqual(before);
  });
  test("inserted values are copies", () => {
    const value = { x: [1] };
    const out = applyPatch<unknown>({ a: null }, [{ op: "add", path: "/v", value }, { op: "copy", from: "/v", path: "/w" }]) as Record<string, { x: number[] } | undefined>;
    out.w?.x.push(2);
    expect(out.v?.x).toEqual([1]);
    expect(value.x).toEqual([1]);
  });
  test("root operations", () => {
    expect(applyPatch<unknown>({ a: 1 }, [{ op: "replace", path: "", value: [1] }])).toEqual([1]);
    expect(applyPatch<unknown>({ a: 1 }, [{ op: "add", path: "", value: { b: 2 } }])).toEqual({ b: 2 });
    expect(applyPatch<unknown>({ a: 1 }, [{ op: "test", path: "", value: { a: 1 } }])).toEqual({ a: 1 });
    expect(thrown(() => applyPatch<unknown>({ a: 1 }, [{ op: "remove", path: "" }])).messages[0]).toContain("cannot remove the whole document");
  });
  test("replace and remove need an existing target", () => {
    expect(thrown(() => applyPatch<unknown>({ a: 1 }, [{ op: "replace", path: "/b", value: 1 }])).code).toBe(409);
    expect(thrown(() => applyPatch<unknown>({ a: [1] }, [{ op: "remove", path: "/a/1" }])).messages[0]).toBe('operation 0 (remove) path "/a/1": no array element "1"');
    expect(thrown(() => applyPatch<unknown>({ a: [1] }, [{ op: "remove", path: "/a/-" }])).code).toBe(409);
    expect(thrown(() => applyPatch<unknown>({ a: 1 }, [{ op: "add", path: "/a/b", value: 1 }])).messages[0]).toContain("parent is not an object or array");
  });
  test("array indexes", () => {
    expect(applyPatch<unknown>([1, 2], [{ op: "add", path: "/2", value: 3 }])).toEqual([1, 2, 3]);
    expect(thrown(() => applyPatch<unknown>([1, 2], [{ op: "add", path: "/3", value: 3 }])).messages[0]).toContain("out of range 0..2");
    expect(thrown(() => applyPatch<unknown>([1, 2], [{ op: "add", path: "/01", value: 3 }])).code).toBe(409);
    expect(thrown(() => applyPatch<unknown>([1, 2], [{ op: "replace", path: "/x", value: 3 }])).code).toBe(409);
    expect(applyPatch<unknown>({ "0": "a" }, [{ op: "replace", path: "/0", value: "b" }])).toEqual({ "0": "b" });
  });
  test("move and copy", () => {
    expect(applyPatch<unknown>({ a: 1 }, [{ op: "move", from: "/a", path: "/a" }])).toEqual({ a: 1 });
    expect(applyPatch<unknown>({ a: { b: 1 } }, [{ op: "copy", from: "/a", path: "/c" }])).toEqual({ a: { b: 1 }, c: { b: 1 } });
    expect(thrown(() => applyPatch<unknown>({ a: 1 }, [{ op: "move", from: "/x", path: "/y" }])).code).toBe(409);
    const e = thrown(() => applyPatch<unknown>({ a: { b: 1 } }, [{ op: "move", from: "/a", path: "/a/b/c" }]));
    expect(e.code).toBe(400);
    expect(e.messages[0]).toContain('cannot move "/a" into its own child "/a/b/c"');
  });
  test("test uses deep equality", () => {
    const doc = { m: { b: [1, { c: 2 }], a: null } };
    expect(applyPatch<unknown>(doc, [{ op: "test", path: "/m", value: { a: null, b: [1, { c: 2 }] } }])).toEqual(doc);
    expect(thrown(() => applyPatch<unknown>(doc, [{ op: "test", path: "/m/b", value: [{ c: 2 }, 1] }])).code).toBe(409);
    expect(thrown(() => applyPatch<unknown>(doc, [{ op: "test", path: "/nope", value: null }])).code).toBe(409);
  });
  test('"__proto__" stays a plain member', () => {
    const out = applyPatch<unknown>({}, [{ op: "add", path: "/__proto__", value: { polluted: true } }]) as Record<string, unknown>;
    expect(Object.hasOwn(out, "__proto__")).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((out as { polluted?: unknown }).polluted).toBeUndefined();
    expect(thrown(() => applyPatch<unknown>({}, [{ op: "test", path: "/__proto__", value: {} }])).code).toBe(409);
    expect(thrown(() => applyPatch<unknown>({}, [{ op: "remove", path: "/toString" }])).code).toBe(409);
  });
});

describe("checkPatch", () => {
  test("reports every malformed operation with its index", () => {
    const e = thrown(() =>
      checkPatch(
        [
          { op: "jump", path: "/a" },
          { op: "add", path: "a", value: 1 },
          { op: "copy", path: "/a" },
          "x",
          { op: "remove", path: 5 },
          { op: "move", from: "/a~2", path: "/b" },
        ],
        { model: "profiles", key: "p1" },
      ),
    );
    expect(e.code).toBe(400);
    expect(e.model).toBe("profiles");
    expect(e.messages).toEqual([
      'operation 0: unknown op "jump"; expected one of add, remove, replace, move, copy, test',
      'operation 1 (add): JSON Pointer "a" must be empty or start with "/"',
      'operation 2 (copy): "from" must be a string, got undefined',
      'operation 3: expected an object, got "x"',
      'operation 4 (remove): "path" must be a string, got 5',
      'operation 5 (move): JSON Pointer "/a~2" has a bad escape in "a~2": only ~0 and ~1 are allowed',
    ]);
  });
  test("the patch must be an array", () => {
    expect(thrown(() => checkPatch({ op: "add" })).messages[0]).toBe('a JSON Patch must be an array of operations, got {"op":"add"}');
  });
  test("an empty patch is a copy", () => {
    const doc = { a: 1 };
    const out = applyPatch<unknown>(doc, []);
    expect(out).toEqual(doc);
    expect(out).not.toBe(doc);
  });
});

test("parsePointer (RFC 6901)", () => {
  expect(parsePointer("")).toEqual([]);
  expect(parsePointer("/")).toEqual([""]);
  expect(parsePointer("/a~1b/m~0n/~01")).toEqual(["a/b", "m~n", "~1"]);
  expect(parsePointer("/a~")).toContain("bad escape");
  expect(parsePointer("x")).toContain("must be empty");
});

test("a document whose fields share one list or map (a stored object's frozen empties): adding to one leaves the others", () => {
  const EMPTY: readonly unknown[] = Object.freeze([]);
  const MAP = Object.freeze({});
  const doc = { HardwareAddrs: EMPTY, Profiles: EMPTY, Params: MAP, Meta: MAP };
  const out = applyPatch(doc, [
    { op: "add", path: "/Profiles/-", value: "job-profile" },
    { op: "add", path: "/Params/inventory", value: { CPUs: 2 } },
  ]);
  expect(out).toEqual({ HardwareAddrs: [], Profiles: ["job-profile"], Params: { inventory: { CPUs: 2 } }, Meta: {} });
  expect(doc).toEqual({ HardwareAddrs: [], Profiles: [], Params: {}, Meta: {} });
});
