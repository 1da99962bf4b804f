import { describe, expect, test } from "bun:test";
import { jsonErrorOffset, lineColumn } from "./json-error-position.ts";

describe("jsonErrorOffset", () => {
  test("valid JSON is -1, agreeing with JSON.parse", () => {
    const ok = ['{"a":[1,-2.5e3,true,false,null,"x\\u00e9\\n"],"b":{}}', " [] ", '"s"', "0", '{"a" : { "b" : [ ] } }'];
    for (const t of ok) {
      expect(() => JSON.parse(t)).not.toThrow();
      expect(jsonErrorOffset(t)).toBe(-1);
    }
  });

  test("invalid JSON: the offset where it goes wrong", () => {
    const cases: Array<[string, number]> = [
      ['{"a": 1,\n "b": }', 15],
      ['{"a": 1,\n "b": 2,\n}', 18],
      ['{"a"\n:\n1 2}', 9],
      ["[1,]", 3],
      ["{'a': 1}", 1],
      ['{"a": 01}', 7],
      ['{"a": tru}', 6],
      ['{"a": 1} x', 9],
      ['"unterminated', 13],
      ["", 0],
    ];
    for (const [t, at] of cases) {
      expect(() => JSON.parse(t)).toThrow();
      expect(jsonErrorOffset(t)).toBe(at);
    }
  });

  test("lineColumn is 1-based", () => {
    expect(lineColumn("ab\ncd\nef", 4)).toEqual({ line: 2, column: 2 });
    expect(lineColumn("x", 0)).toEqual({ line: 1, column: 1 });
  });
});
