import { describe, expect, test } from "bun:test";
import { hex } from "./bytes.ts";
import {
  archName,
  decodeClientId,
  decodeClientNdi,
  decodeClientUuid,
  encodeClientId,
  encodeClientNdi,
  encodeClientUuid,
} from "./client-identity.ts";

describe("client identity options", () => {
  test("61 keeps the type byte and zero bytes", () => {
    const id = decodeClientId(Uint8Array.of(0, 0, 0, 1));
    expect(id.type).toBe(0);
    expect(hex(id.data)).toBe("000001");
    expect(encodeClientId(id)).toEqual(Uint8Array.of(0, 0, 0, 1));
    expect(() => decodeClientId(Uint8Array.of(1))).toThrow("must be at least 2 bytes, got 1");
    expect(() => encodeClientId({ type: 1, data: new Uint8Array(0) })).toThrow("type 1 with 0 data bytes");
  });

  test("94 UNDI version", () => {
    expect(decodeClientNdi(Uint8Array.of(1, 3, 16))).toEqual({ type: 1, major: 3, minor: 16 });
    expect(encodeClientNdi({ type: 1, major: 2, minor: 1 })).toEqual(Uint8Array.of(1, 2, 1));
    expect(() => decodeClientNdi(Uint8Array.of(1, 2))).toThrow("option 94 (Client Network Device Interface): must be 3 bytes, got 2");
    expect(() => encodeClientNdi({ type: 1, major: 256, minor: 0 })).toThrow("256 is not a byte");
  });

  test("97 machine identifier in wire order", () => {
    const d = Uint8Array.from([0, ...Array.from({ length: 16 }, (_, i) => i)]);
    const u = decodeClientUuid(d);
    expect(u).toEqual({ type: 0, uuid: "00010203-0405-0607-0809-0a0b0c0d0e0f" });
    expect(encodeClientUuid(u)).toEqual(d);
    expect(() => decodeClientUuid(new Uint8Array(16))).toThrow("must be 17 bytes (type + 16), got 16");
    expect(() => encodeClientUuid({ type: 0, uuid: "nope" })).toThrow('invalid UUID "nope"');
  });

  test("architecture names", () => {
    expect(archName(0)).toBe("x86 BIOS");
    expect(archName(7)).toBe("x64 UEFI");
    expect(archName(11)).toBe("ARM 64-bit UEFI");
    expect(archName(16)).toBe("x64 UEFI HTTP");
    expect(archName(999)).toBe("architecture 999");
  });
});
