import { describe, expect, test } from "bun:test";
import { hex } from "./bytes.ts";
import { decodeVendorClass, decodeVendorInfo, encodeVendorClass, encodeVendorInfo } from "./vendor-identifying.ts";

describe("options 124 and 125 (RFC 3925)", () => {
  test("124 vendor class round-trips", () => {
    const e = [{ enterprise: 4491, classes: [Uint8Array.of(0x61), Uint8Array.of(0x62, 0x63)] }];
    const d = encodeVendorClass(e);
    expect(hex(d)).toBe("0000118b05" + "0161" + "026263");
    expect(decodeVendorClass(d)).toEqual(e);
  });

  test("125 vendor info round-trips with sub-options", () => {
    const e = [
      { enterprise: 3561, subOptions: [{ code: 1, data: Uint8Array.of(0x41) }] },
      { enterprise: 0xffffffff, subOptions: [] },
    ];
    const d = encodeVendorInfo(e);
    expect(hex(d)).toBe("00000de903010141" + "ffffffff00");
    expect(decodeVendorInfo(d)).toEqual(e);
  });

  test("truncated blocks are reported", () => {
    expect(() => decodeVendorInfo(Uint8Array.of(0, 0, 1))).toThrow("needs 5 header bytes but 3 remain");
    expect(() => decodeVendorInfo(Uint8Array.of(0, 0, 0, 9, 4, 1))).toThrow("enterprise 9 claims 4 bytes but 1 remain");
    expect(() => decodeVendorInfo(Uint8Array.of(0, 0, 0, 9, 2, 1, 3))).toThrow("sub-option 1 claims 3 bytes but 0 remain");
    expect(() => decodeVendorClass(Uint8Array.of(0, 0, 0, 9, 2, 4, 1))).toThrow("class data of enterprise 9 claims 4 bytes");
  });

  test("encode limits", () => {
    expect(() => encodeVendorClass([{ enterprise: -1, classes: [] }])).toThrow("enterprise number -1");
    expect(() => encodeVendorClass([{ enterprise: 1, classes: [new Uint8Array(255)] }])).toThrow("256 bytes, more than 255");
  });
});
