import { describe, expect, test } from "bun:test";
import { comparableAddress, isFromMachine } from "./file-binding.ts";

describe("isFromMachine", () => {
  test("the source must be one of the machine's addresses", () => {
    expect(isFromMachine("198.51.100.7", ["198.51.100.7"])).toBe(true);
    expect(isFromMachine("198.51.100.7", ["203.0.113.5", "198.51.100.7"])).toBe(true);
    expect(isFromMachine("198.51.100.70", ["198.51.100.7"])).toBe(false);
    expect(isFromMachine("198.51.100.7", [])).toBe(false);
  });

  test("an unknown source never matches, not even a machine without addresses", () => {
    expect(isFromMachine("", [""])).toBe(false);
    expect(isFromMachine("", [])).toBe(false);
  });

  test("IPv4-mapped IPv6 sources (dual-stack listeners) compare as IPv4; IPv6 case-insensitively", () => {
    expect(comparableAddress("::ffff:198.51.100.7")).toBe("198.51.100.7");
    expect(comparableAddress("::FFFF:198.51.100.7")).toBe("198.51.100.7");
    expect(isFromMachine("::ffff:198.51.100.7", ["198.51.100.7"])).toBe(true);
    expect(isFromMachine("2001:DB8::7", ["2001:db8::7"])).toBe(true);
    // Only the mapped form is rewritten: ::198.51.100.7 (IPv4-compatible, deprecated) is not the same host.
    expect(isFromMachine("::198.51.100.7", ["198.51.100.7"])).toBe(false);
  });
});
