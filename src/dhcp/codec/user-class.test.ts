import { describe, expect, test } from "bun:test";
import { decodeUserClass, encodeUserClass } from "./user-class.ts";

const bytes = (s: string) => Uint8Array.from(Buffer.from(s, "latin1"));

describe("option 77 user class", () => {
  test("iPXE's plain string", () => {
    expect(decodeUserClass(bytes("iPXE"))).toEqual({ form: "plain", classes: ["iPXE"] });
    expect(encodeUserClass(["iPXE"], "plain")).toEqual(bytes("iPXE"));
  });

  test("RFC 3004 list", () => {
    const d = bytes("\x04iPXE\x05gPXE2");
    expect(decodeUserClass(d)).toEqual({ form: "rfc3004", classes: ["iPXE", "gPXE2"] });
    expect(encodeUserClass(["iPXE", "gPXE2"])).toEqual(d);
  });

  test("a list that does not cover the data exactly, or has an empty item, is a plain string", () => {
    expect(decodeUserClass(bytes("\x04iPX")).form).toBe("plain");
    expect(decodeUserClass(bytes("\x00abc")).form).toBe("plain");
    expect(decodeUserClass(new Uint8Array(0))).toEqual({ form: "plain", classes: [] });
  });

  test("encoder refuses empty and oversized classes, and plain with several", () => {
    expect(() => encodeUserClass([""])).toThrow('class "" must be 1-255 bytes');
    expect(() => encodeUserClass(["x".repeat(256)])).toThrow("1-255 bytes");
    expect(() => encodeUserClass(["a", "b"], "plain")).toThrow("exactly one class, got 2");
    expect(encodeUserClass(["x".repeat(255)]).length).toBe(256);
  });
});
