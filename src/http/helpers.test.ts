import { describe, expect, test } from "bun:test";
import { parseRange } from "./range.ts";
import { ifRangeAllows, isNotModified } from "./conditional.ts";
import { hostAddress, serverAddressOf } from "./server-address.ts";
import { decodedPath } from "./handler.ts";

describe("parseRange", () => {
  const cases: Array<[string | null, object]> = [
    [null, { kind: "full" }],
    ["bytes=0-0", { kind: "partial", start: 0, end: 1 }],
    ["bytes=10-19", { kind: "partial", start: 10, end: 20 }],
    ["bytes=90-", { kind: "partial", start: 90, end: 100 }],
    ["bytes=90-1000", { kind: "partial", start: 90, end: 100 }],
    ["bytes=-10", { kind: "partial", start: 90, end: 100 }],
    ["bytes=-1000", { kind: "partial", start: 0, end: 100 }],
    ["BYTES = 1 - 2", { kind: "partial", start: 1, end: 3 }],
    ["bytes=100-", { kind: "unsatisfiable" }],
    ["bytes=-0", { kind: "unsatisfiable" }],
    ["bytes=5-4", { kind: "full" }],
    ["bytes=0-1,5-6", { kind: "full" }],
    ["items=0-1", { kind: "full" }],
    ["bytes=-", { kind: "full" }],
    ["bytes=x-1", { kind: "full" }],
  ];
  for (const [h, want] of cases) test(String(h), () => expect(parseRange(h, 100)).toEqual(want as never));
  test("an empty file has no satisfiable range", () => {
    expect(parseRange("bytes=0-", 0)).toEqual({ kind: "unsatisfiable" });
    expect(parseRange("bytes=-5", 0)).toEqual({ kind: "unsatisfiable" });
  });
});

describe("conditional requests", () => {
  const mtime = new Date("2026-11-22T10:00:00.500Z");
  const v = { etag: '"abc"', mtime };
  const h = (o: Record<string, string>) => new Headers(o);
  test("If-None-Match: exact, weak, list, star, mismatch", () => {
    expect(isNotModified(h({ "if-none-match": '"abc"' }), v)).toBe(true);
    expect(isNotModified(h({ "if-none-match": 'W/"abc"' }), v)).toBe(true);
    expect(isNotModified(h({ "if-none-match": '"x", "abc"' }), v)).toBe(true);
    expect(isNotModified(h({ "if-none-match": "*" }), v)).toBe(true);
    expect(isNotModified(h({ "if-none-match": '"x"' }), v)).toBe(false);
    expect(isNotModified(h({ "if-none-match": '"abc"' }), { etag: undefined, mtime })).toBe(false);
  });
  test("If-Modified-Since: second precision; ignored when If-None-Match is present or the date is bad", () => {
    expect(isNotModified(h({ "if-modified-since": "Sun, 22 Nov 2026 10:00:00 GMT" }), v)).toBe(true);
    expect(isNotModified(h({ "if-modified-since": "Sun, 22 Nov 2026 09:59:59 GMT" }), v)).toBe(false);
    expect(isNotModified(h({ "if-modified-since": "garbage" }), v)).toBe(false);
    expect(isNotModified(h({ "if-none-match": '"x"', "if-modified-since": "Sun, 22 Nov 2026 10:00:00 GMT" }), v)).toBe(false);
  });
  test("If-Range: strong ETag or exact date", () => {
    expect(ifRangeAllows(h({}), v)).toBe(true);
    expect(ifRangeAllows(h({ "if-range": '"abc"' }), v)).toBe(true);
    expect(ifRangeAllows(h({ "if-range": 'W/"abc"' }), v)).toBe(false);
    expect(ifRangeAllows(h({ "if-range": '"old"' }), v)).toBe(false);
    expect(ifRangeAllows(h({ "if-range": "Sun, 22 Nov 2026 10:00:00 GMT" }), v)).toBe(true);
    expect(ifRangeAllows(h({ "if-range": "Sun, 22 Nov 2026 09:00:00 GMT" }), v)).toBe(false);
  });
});

describe("server address", () => {
  test("Host header IP literals only", () => {
    expect(hostAddress("198.51.100.1:8091")).toBe("198.51.100.1");
    expect(hostAddress("198.51.100.1")).toBe("198.51.100.1");
    expect(hostAddress("[2001:DB8::1]:8091")).toBe("2001:db8::1");
    expect(hostAddress("socle.example:8091")).toBeUndefined();
    expect(hostAddress("999.1.1.1")).toBeUndefined();
    expect(hostAddress("[198.51.100.1]")).toBeUndefined();
    expect(hostAddress(null)).toBeUndefined();
  });
  test("then a specific listen address, then the configured address", () => {
    expect(serverAddressOf("203.0.113.5", "0.0.0.0", "198.51.100.1")).toBe("203.0.113.5");
    expect(serverAddressOf("socle.example", "203.0.113.9", "198.51.100.1")).toBe("203.0.113.9");
    expect(serverAddressOf("socle.example", "0.0.0.0", "198.51.100.1")).toBe("198.51.100.1");
    expect(serverAddressOf(null, "::", "198.51.100.1")).toBe("198.51.100.1");
  });
});

test("decodedPath: raw path, percent-decoded, without query; malformed is undefined", () => {
  expect(decodedPath("http://h:1/a%20b/c?x=%zz#f")).toBe("/a b/c");
  expect(decodedPath("http://h/..%2fx")).toBe("/../x");
  expect(decodedPath("http://h/%zz")).toBeUndefined();
  expect(decodedPath("http://h")).toBe("");
});
