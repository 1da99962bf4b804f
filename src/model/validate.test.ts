import { describe, expect, test } from "bun:test";
import { SocleError } from "./errors.ts";
import {
  checkCidr,
  checkDuration,
  checkIPv4,
  checkMac,
  checkName,
  checkTime,
  checkUuid,
  cidrContains,
  cidrOverlaps,
  intToIp,
  ipIntOf,
  ipToInt,
  normalizeMac,
  quote,
} from "./validate.ts";

const err = (r: { ok: boolean; error?: string }) => (r.ok ? "" : (r.error ?? ""));

describe("checkName", () => {
  test("accepts ordinary names", () => {
    for (const n of ["n1", "ubuntu-24.04-install", "a b", "x".repeat(255), "Test(1)", "é"]) {
      expect(checkName(n)).toEqual({ ok: true, value: n });
    }
  });
  test("rejects with a message quoting the value", () => {
    expect(err(checkName(""))).toBe('invalid name "": must not be empty');
    expect(err(checkName("a/b"))).toBe('invalid name "a/b": contains "/"');
    expect(err(checkName("a\\b"))).toBe('invalid name "a\\\\b": contains "\\\\"');
    expect(err(checkName("Name:n1"))).toBe('invalid name "Name:n1": contains ":"');
    expect(err(checkName("a\tb"))).toContain("control character U+0009");
    expect(err(checkName("a\u007f"))).toContain("U+007f");
    expect(err(checkName(" a"))).toContain("leading or trailing white space");
    expect(err(checkName("a "))).toContain("leading or trailing white space");
    expect(err(checkName("x".repeat(256)))).toContain("256 characters long, at most 255");
  });
});

describe("checkMac", () => {
  test("normalises the three notations and any case", () => {
    for (const m of ["52:54:00:AB:cd:0F", "52-54-00-ab-CD-0f", "5254.00ab.cd0f", "52:54:0:ab:cd:f"]) {
      expect(checkMac(m)).toEqual({ ok: true, value: "52:54:00:ab:cd:0f" });
    }
  });
  test("accepts 20-byte InfiniBand addresses", () => {
    const ib = Array.from({ length: 20 }, (_, i) => i.toString(16).padStart(2, "0").toUpperCase()).join(":");
    expect(checkMac(ib)).toEqual({ ok: true, value: ib.toLowerCase() });
    const dotted = "0001.0203.0405.0607.0809.0a0b.0c0d.0e0f.1011.1213";
    expect(checkMac(dotted)).toEqual({ ok: true, value: ib.toLowerCase() });
  });
  test("rejects with reasons", () => {
    expect(err(checkMac("zz:01:02:03:04:05"))).toBe('invalid MAC "zz:01:02:03:04:05": bad hex digit "z"');
    expect(err(checkMac("zz:01"))).toContain('invalid MAC "zz:01": bad hex digit "z"');
    expect(err(checkMac("00:01:02:03:04"))).toContain("has 5 bytes, want 6 (Ethernet) or 20 (InfiniBand)");
    expect(err(checkMac("00:01-02:03:04:05"))).toContain("mixes");
    expect(err(checkMac("000102030405"))).toContain("expected");
    expect(err(checkMac("000:01:02:03:04:05"))).toContain('octet "000"');
    expect(err(checkMac("00::02:03:04:05"))).toContain('octet ""');
    expect(err(checkMac("0001.0203.045"))).toContain("dotted groups");
    expect(err(checkMac(""))).toBe('invalid MAC "": is empty');
  });
  test("normalizeMac throws BadRequest", () => {
    expect(normalizeMac("AA-BB-CC-DD-EE-FF")).toBe("aa:bb:cc:dd:ee:ff");
    try {
      normalizeMac("nope");
      throw new Error("not thrown");
    } catch (e) {
      expect(e).toBeInstanceOf(SocleError);
      expect((e as SocleError).code).toBe(400);
      expect((e as SocleError).messages[0]).toContain('"nope"');
    }
  });
});

describe("IPv4", () => {
  test("valid addresses", () => {
    expect(checkIPv4("198.51.100.7")).toEqual({ ok: true, value: "198.51.100.7" });
    expect(checkIPv4("0.0.0.0")).toEqual({ ok: true, value: "0.0.0.0" });
    expect(checkIPv4("255.255.255.255")).toEqual({ ok: true, value: "255.255.255.255" });
  });
  test("invalid addresses", () => {
    expect(err(checkIPv4("1.2.3"))).toBe('invalid IPv4 address "1.2.3": expected 4 dot-separated numbers, got 3');
    expect(err(checkIPv4("1.2.3.256"))).toContain('part "256" is greater than 255');
    expect(err(checkIPv4("1.2.3.010"))).toContain("leading zero");
    expect(err(checkIPv4("1.2.3.-1"))).toContain('part "-1"');
    expect(err(checkIPv4("1.2.3.4 "))).toContain('part "4 "');
    expect(err(checkIPv4(""))).toContain("expected 4");
  });
  test("ipToInt and intToIp round-trip", () => {
    expect(ipToInt("198.51.100.7")).toBe(0xc6336407);
    expect(ipToInt("255.255.255.255")).toBe(0xffffffff);
    expect(intToIp(0xc6336407)).toBe("198.51.100.7");
    expect(intToIp(0)).toBe("0.0.0.0");
    expect(() => ipToInt("x")).toThrow('invalid IPv4 address "x"');
    expect(() => intToIp(-1)).toThrow("invalid IPv4 integer -1");
    expect(() => intToIp(2 ** 32)).toThrow("invalid IPv4 integer");
  });
  test("ipIntOf agrees with ipToInt and refuses what checkIPv4 refuses", () => {
    for (const a of ["0.0.0.0", "203.0.113.9", "198.51.100.7", "255.255.255.255"]) expect(ipIntOf(a)).toBe(ipToInt(a));
    for (const a of ["", "1.2.3", "1.2.3.4.5", "1.2.3.256", "01.2.3.4", "1.2.3.", ".1.2.3", "1..2.3", "1.2.3.4 ", "a.b.c.d", "1.2.3.1000"]) {
      expect(ipIntOf(a)).toBeUndefined();
      expect(checkIPv4(a).ok).toBe(false);
    }
  });
});

describe("CIDR", () => {
  test("accepts network addresses", () => {
    expect(checkCidr("198.51.100.0/24")).toEqual({ ok: true, value: "198.51.100.0/24" });
    expect(checkCidr("0.0.0.0/0")).toEqual({ ok: true, value: "0.0.0.0/0" });
    expect(checkCidr("203.0.113.1/32")).toEqual({ ok: true, value: "203.0.113.1/32" });
  });
  test("rejects host bits with a suggestion", () => {
    expect(err(checkCidr("198.51.100.7/24"))).toBe(
      'invalid CIDR "198.51.100.7/24": host bits are set; did you mean "198.51.100.0/24"?',
    );
  });
  test("rejects malformed blocks", () => {
    expect(err(checkCidr("198.51.100.0"))).toContain('expected "address/prefix"');
    expect(err(checkCidr("198.51.100.0/33"))).toContain('prefix length "33"');
    expect(err(checkCidr("198.51.100.0/"))).toContain('prefix length ""');
    expect(err(checkCidr("198.51.100.0/08"))).toContain('prefix length "08"');
    expect(err(checkCidr("300.0.0.0/8"))).toContain('invalid CIDR "300.0.0.0/8": invalid IPv4 address "300.0.0.0"');
  });
  test("contains and overlaps", () => {
    expect(cidrContains("198.51.100.0/24", "198.51.100.255")).toBe(true);
    expect(cidrContains("198.51.100.0/24", "198.51.101.0")).toBe(false);
    expect(cidrContains("0.0.0.0/0", "255.255.255.255")).toBe(true);
    expect(cidrOverlaps("198.18.0.0/15", "198.19.0.0/16")).toBe(true);
    expect(cidrOverlaps("198.19.0.0/16", "198.18.0.0/15")).toBe(true);
    expect(cidrOverlaps("198.51.100.0/25", "198.51.100.128/25")).toBe(false);
    expect(cidrOverlaps("198.51.100.0/31", "198.51.100.1/32")).toBe(true);
    expect(() => cidrContains("198.51.100.1/8", "198.51.100.1")).toThrow("host bits");
  });
});

describe("UUID, duration, time, quote", () => {
  test("UUID", () => {
    expect(checkUuid("3F2504E0-4F89-11D3-9A0C-0305E82C3301")).toEqual({ ok: true, value: "3f2504e0-4f89-11d3-9a0c-0305e82c3301" });
    expect(err(checkUuid("3f2504e0-4f89-11d3-9a0c"))).toBe('invalid UUID "3f2504e0-4f89-11d3-9a0c": expected 8-4-4-4-12 hex digits');
  });
  test("duration", () => {
    expect(checkDuration(0)).toEqual({ ok: true, value: 0 });
    expect(checkDuration(3600)).toEqual({ ok: true, value: 3600 });
    expect(err(checkDuration(-1))).toBe("invalid duration -1: must not be negative");
    expect(err(checkDuration(1.5))).toContain("whole seconds");
    expect(err(checkDuration("60"))).toBe('invalid duration "60": expected a number of seconds');
    expect(err(checkDuration(2 ** 32))).toContain("at most");
    expect(err(checkDuration(Number.NaN))).toContain("expected a number");
  });
  test("time", () => {
    expect(checkTime("2026-01-02T03:04:05+01:00")).toEqual({ ok: true, value: "2026-01-02T02:04:05.000Z" });
    expect(err(checkTime("yesterday"))).toContain('invalid time "yesterday"');
    expect(err(checkTime("2026-13-45T99:99:99Z"))).toContain("not a real date");
  });
  test("quote truncates and never throws", () => {
    expect(quote("a")).toBe('"a"');
    expect(quote(undefined)).toBe("undefined");
    expect(quote("x".repeat(500)).length).toBe(120);
    const cyc: Record<string, unknown> = {};
    cyc.self = cyc;
    expect(quote(cyc)).toBe("[object Object]");
  });
});
