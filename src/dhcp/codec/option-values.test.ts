import { describe, expect, test } from "bun:test";
import { hex } from "./bytes.ts";
import { encodeDomainSearch } from "./domain-search.ts";
import { DhcpEncodeError } from "./errors.ts";
import { encodeOptionValue } from "./option-values.ts";

const enc = (code: number, v: string) => hex(encodeOptionValue(code, v));

describe("encodeOptionValue", () => {
  test("addresses and address lists", () => {
    expect(enc(1, "255.255.255.0")).toBe("ffffff00");
    expect(enc(3, "198.51.100.1")).toBe("c6336401");
    expect(enc(6, "198.51.100.1, 198.51.100.2")).toBe("c6336401c6336402");
    expect(() => encodeOptionValue(6, "")).toThrow(DhcpEncodeError);
    expect(() => encodeOptionValue(3, "198.51.100")).toThrow('invalid option 3 (Router) "198.51.100"');
  });

  test("integers: u8, u16, u32, signed time offset", () => {
    expect(enc(23, "64")).toBe("40");
    expect(enc(26, "1500")).toBe("05dc");
    expect(enc(51, "3600")).toBe("00000e10");
    expect(enc(2, "-3600")).toBe("fffff1f0");
    expect(() => encodeOptionValue(51, "1h")).toThrow('value "1h" is not an integer');
    expect(() => encodeOptionValue(26, "70000")).toThrow("not an integer in 0..65535");
  });

  test("booleans", () => {
    expect(enc(19, "true")).toBe("01");
    expect(enc(19, "0")).toBe("00");
    expect(() => encodeOptionValue(19, "yes")).toThrow('value "yes" is not true, false, 1 or 0');
  });

  test("strings, domain search, classless routes", () => {
    expect(enc(15, "lab.example")).toBe(hex(new TextEncoder().encode("lab.example")));
    expect(enc(119, "a.example, b.example")).toBe(hex(encodeDomainSearch(["a.example", "b.example"])));
    expect(enc(121, "10.0.0.0/8 198.51.100.1, 0.0.0.0/0 198.51.100.1")).toBe("080ac633640100c6336401");
    expect(() => encodeOptionValue(121, "10.0.0.0/8")).toThrow('route "10.0.0.0/8" is not "destination/width router"');
  });

  test("unknown codes: text, or raw bytes after 0x", () => {
    expect(enc(224, "abc")).toBe("616263");
    expect(enc(224, "0x01:02ff")).toBe("0102ff");
    expect(enc(43, "0x060108ff")).toBe("060108ff");
    expect(() => encodeOptionValue(224, "0x123")).toThrow("even number of hex digits");
    expect(() => encodeOptionValue(224, "")).toThrow("value is empty");
  });
});
