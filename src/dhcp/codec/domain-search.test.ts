import { describe, expect, test } from "bun:test";
import { decodeDomainSearch, encodeDomainSearch } from "./domain-search.ts";
import { DhcpEncodeError, DhcpParseError } from "./errors.ts";

const wire = (...parts: Array<string | number>) =>
  Uint8Array.from(parts.flatMap((p) => (typeof p === "number" ? [p] : [p.length, ...Buffer.from(p)])));

describe("option 119 domain search", () => {
  test("decodes the RFC 3397 example with compression pointers", () => {
    // eng.apple.com. then marketing.apple.com. as "marketing" + pointer to offset 4 ("apple.com")
    const d = wire("eng", "apple", "com", 0, "marketing", 0xc0, 4);
    expect(decodeDomainSearch(d)).toEqual(["eng.apple.com", "marketing.apple.com"]);
  });

  test("follows a chain of pointers", () => {
    const d = wire("a", "b", 0, "c", 0xc0, 2, "d", 0xc0, 5);
    expect(decodeDomainSearch(d)).toEqual(["a.b", "c.b", "d.c.b"]);
  });

  test("encodes without compression and round-trips", () => {
    const names = ["eng.apple.com", "marketing.apple.com."];
    const d = encodeDomainSearch(names);
    expect(d).toEqual(wire("eng", "apple", "com", 0, "marketing", "apple", "com", 0));
    expect(decodeDomainSearch(d)).toEqual(["eng.apple.com", "marketing.apple.com"]);
  });

  test("root and empty list", () => {
    expect(decodeDomainSearch(Uint8Array.of(0))).toEqual(["."]);
    expect(decodeDomainSearch(new Uint8Array(0))).toEqual([]);
    expect(encodeDomainSearch(["."])).toEqual(Uint8Array.of(0));
  });

  test("odd bytes print escaped and encode back", () => {
    const d = wire("a.b", "c\\", "x y", 0);
    const names = decodeDomainSearch(d);
    expect(names).toEqual(["a\\.b.c\\\\.x\\032y"]);
    expect(encodeDomainSearch(names)).toEqual(d);
  });

  test("rejects pointer loops, forward and self pointers", () => {
    const self = Uint8Array.of(0xc0, 0);
    expect(() => decodeDomainSearch(self)).toThrow("compression pointer at offset 0 points to 0, not before 0");
    // "x." then "a" + pointer to the start of its own name: would read a.a.a... forever
    expect(() => decodeDomainSearch(Uint8Array.of(1, 0x78, 0, 1, 0x61, 0xc0, 3))).toThrow("points to 3, not before 3");
    // pointer into an earlier name that itself ends in a pointer back to the later one
    expect(() => decodeDomainSearch(Uint8Array.of(1, 0x61, 0xc0, 4, 1, 0x62, 0xc0, 0))).toThrow(DhcpParseError);
    expect(() => decodeDomainSearch(Uint8Array.of(0xc0, 5, 0, 0, 0, 0))).toThrow("points to 5");
  });

  test("rejects truncation, reserved label types and names over 255 bytes", () => {
    expect(() => decodeDomainSearch(wire("abc"))).toThrow("runs past the end");
    expect(() => decodeDomainSearch(Uint8Array.of(5, 0x61))).toThrow("label at offset 0 claims 5 bytes but 1 remain");
    expect(() => decodeDomainSearch(Uint8Array.of(1, 0x61, 0, 0xc0))).toThrow("is cut off");
    expect(() => decodeDomainSearch(Uint8Array.of(0x40, 0))).toThrow("label type 0x40");
    const long = wire(...Array(5).fill("x".repeat(63)), 0);
    expect(() => decodeDomainSearch(long)).toThrow("longer than 255 bytes");
    const max = wire(...Array(3).fill("x".repeat(63)), "y".repeat(61), 0); // exactly 255
    expect(max.length).toBe(255);
    expect(decodeDomainSearch(max)[0]?.length).toBe(253);
  });

  test("encoder rejects bad names", () => {
    expect(() => encodeDomainSearch(["a..b"])).toThrow('invalid name "a..b": empty label');
    expect(() => encodeDomainSearch(["x".repeat(64)])).toThrow("longer than 63");
    expect(() => encodeDomainSearch([Array(5).fill("x".repeat(63)).join(".")])).toThrow(DhcpEncodeError);
    expect(() => encodeDomainSearch(["a b"])).toThrow("must be escaped");
    expect(() => encodeDomainSearch(["a\\"])).toThrow("dangling backslash");
    expect(() => encodeDomainSearch(["a\\300"])).toThrow("above 255");
  });
});
