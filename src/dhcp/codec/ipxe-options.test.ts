import { describe, expect, test } from "bun:test";
import { hex } from "./bytes.ts";
import { decodeIpxeOptions, encodeIpxeOptions, IPXE_SUB } from "./ipxe-options.ts";

describe("option 175 iPXE encapsulated options", () => {
  test("decodes what iPXE sends: version, bus-id and features", () => {
    const d = Uint8Array.from(Buffer.from("b105018086100eeb030100001701011301011401012401011001025501c0", "hex"));
    const x = decodeIpxeOptions(d);
    expect(x.version).toBe("1.0.0");
    expect(x.busId).toBe("PCI 8086:100e");
    expect(x.features).toEqual(["dns", "http", "https", "efi", "pxeext"]);
    expect(x.subOptions.length).toBe(8);
  });

  test("no-pxedhcp as servers send it, with the end marker", () => {
    const d = encodeIpxeOptions([{ code: IPXE_SUB.NO_PXEDHCP, data: Uint8Array.of(1) }]);
    expect(hex(d)).toBe("b00101ff");
    expect(decodeIpxeOptions(d).noPxeDhcp).toBe(true);
  });

  test("priority is signed, other buses print raw, unknown features keep their code", () => {
    const x = decodeIpxeOptions(Uint8Array.of(1, 1, 0xff, 177, 3, 7, 0xab, 0xcd, 0x4e, 1, 1));
    expect(x.priority).toBe(-1);
    expect(x.busId).toBe("EFI abcd");
    expect(x.features).toEqual(["feature-78"]);
  });

  test("malformed sub-options are reported", () => {
    expect(() => decodeIpxeOptions(Uint8Array.of(235, 2, 1, 0))).toThrow("version must be 3 byte(s), got 2");
    expect(() => decodeIpxeOptions(Uint8Array.of(177, 0))).toThrow("bus-id must be 1 byte(s), got 0");
    expect(() => decodeIpxeOptions(Uint8Array.of(176, 9, 1))).toThrow("sub-option 176 claims 9 bytes but 1 remain");
  });
});
