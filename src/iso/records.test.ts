import { expect, test } from "bun:test";
import { le32 } from "./records.ts";

test("le32 reads 32 bits unsigned: an extent of 4 GiB - 2 KiB (the first of a file over 4 GiB) is positive", () => {
  expect(le32(new Uint8Array([0x00, 0xf8, 0xff, 0xff]), 0)).toBe(4294965248);
  expect(le32(new Uint8Array([0x00, 0x00, 0x00, 0x80]), 0)).toBe(2 ** 31);
  expect(le32(new Uint8Array([0xff, 0xff, 0xff, 0xff]), 0)).toBe(2 ** 32 - 1);
  expect(le32(new Uint8Array([9, 0x01, 0x02, 0x03, 0x04]), 1)).toBe(0x04030201);
});
