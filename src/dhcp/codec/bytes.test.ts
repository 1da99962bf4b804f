import { describe, expect, test } from "bun:test";
import { byteString, copyBytes, cString, escapeBytes, hex, ipBytes, ipString, stringBytes, u16, u32 } from "./bytes.ts";

describe("byte helpers", () => {
  test("ipBytes accepts dotted quads only", () => {
    expect(ipBytes("0.0.0.0")).toEqual(Uint8Array.of(0, 0, 0, 0));
    expect(ipBytes("255.255.255.255")).toEqual(Uint8Array.of(255, 255, 255, 255));
    expect(ipBytes("192.0.2.10")).toEqual(Uint8Array.of(192, 0, 2, 10));
    for (const bad of ["", "1.2.3", "1.2.3.4.", "1.2.3.4.5", "01.2.3.4", "1..2.3", " 1.2.3.4", "256.0.0.0", "1.2.3.1000", "a.b.c.d", "1.2.3.-4"]) {
      expect(() => ipBytes(bad, "router")).toThrow(`invalid router "${bad}"`);
    }
  });

  test("ipString, u16, u32 read big-endian", () => {
    const b = Uint8Array.of(0xff, 0xfe, 0x01, 0x02);
    expect(ipString(b)).toBe("255.254.1.2");
    expect(u16(b, 0)).toBe(0xfffe);
    expect(u32(b, 0)).toBe(0xfffe0102);
  });

  test("strings map bytes one to one", () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect(stringBytes(byteString(all), "x")).toEqual(all);
    expect(() => stringBytes("€", "host name")).toThrow('invalid host name "€"');
    expect(cString(Uint8Array.of(0x61, 0x62, 0, 0x63), 0, 4)).toBe("ab");
    expect(cString(Uint8Array.of(0x61, 0x62), 0, 2)).toBe("ab");
  });

  test("hex, escape and copy", () => {
    expect(hex(Uint8Array.of(1, 0xab), ":")).toBe("01:ab");
    expect(escapeBytes(Uint8Array.of(0x61, 0, 0x22, 0x5c, 0x7f))).toBe("a\\x00\\x22\\x5c\\x7f");
    const buf = Buffer.from([1, 2, 3]);
    const c = copyBytes(buf, 1, 3);
    buf[1] = 9;
    expect(c).toEqual(Uint8Array.of(2, 3));
    expect(Buffer.isBuffer(c)).toBe(false);
  });
});
