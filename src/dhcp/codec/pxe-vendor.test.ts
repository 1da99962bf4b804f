import { describe, expect, test } from "bun:test";
import { hex } from "./bytes.ts";
import { decodePxeVendorOptions, encodePxeVendorOptions, PXE_DISCOVERY } from "./pxe-vendor.ts";

describe("option 43 PXE vendor options", () => {
  test("proxyDHCP minimum: discovery control 8 and end", () => {
    expect(hex(encodePxeVendorOptions({ discoveryControl: PXE_DISCOVERY.USE_BOOT_FILE }))).toBe("060108ff");
  });

  test("boot servers, menu, prompt and boot item round-trip", () => {
    const o = {
      discoveryControl: 7,
      bootServers: [{ type: 0x8000, addresses: ["192.0.2.1", "192.0.2.2"] }],
      bootMenu: [{ type: 0x8000, description: "Socle" }],
      menuPrompt: { timeout: 0, prompt: "PXE" },
      bootItem: { type: 0x8000, layer: 0 },
      other: [{ code: 200, data: Uint8Array.of(1) }],
    };
    const d = encodePxeVendorOptions(o);
    expect(hex(d)).toBe(
      "060107" + "080b800002c0000201c0000202" + "0908800005536f636c65" + "0a0400505845" + "470480000000" + "c80101" + "ff",
    );
    expect(decodePxeVendorOptions(d)).toEqual(o);
  });

  test("decode skips pads and stops at end", () => {
    expect(decodePxeVendorOptions(Uint8Array.of(0, 6, 1, 3, 255, 9, 9))).toEqual({ discoveryControl: 3 });
  });

  test("decode errors are precise", () => {
    expect(() => decodePxeVendorOptions(Uint8Array.of(6, 2, 0, 0))).toThrow("PXE_DISCOVERY_CONTROL must be 1 byte, got 2");
    expect(() => decodePxeVendorOptions(Uint8Array.of(8, 4, 0x80, 0, 2, 1))).toThrow("claims 2 addresses but 1 bytes remain");
    expect(() => decodePxeVendorOptions(Uint8Array.of(9, 5, 0x80, 0, 9, 0x61, 0x62))).toThrow("claims 9 bytes but 2 remain");
    expect(() => decodePxeVendorOptions(Uint8Array.of(10, 0))).toThrow("PXE_MENU_PROMPT is empty");
    expect(() => decodePxeVendorOptions(Uint8Array.of(71, 2, 0, 0))).toThrow("PXE_BOOT_ITEM must be 4 bytes");
    expect(() => decodePxeVendorOptions(Uint8Array.of(8, 2, 0, 0))).toThrow("is cut off");
  });

  test("encode errors are precise", () => {
    expect(() => encodePxeVendorOptions({ discoveryControl: 256 })).toThrow("discovery control 256 is not a byte");
    expect(() => encodePxeVendorOptions({ bootItem: { type: 70000, layer: 0 } })).toThrow("boot item type 70000");
    expect(() => encodePxeVendorOptions({ bootMenu: [{ type: 1, description: "é".repeat(256) }] })).toThrow("more than 255");
  });
});
