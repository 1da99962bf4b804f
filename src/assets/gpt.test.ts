// gpt.ts: the bytes as the UEFI spec lays them out, and util-linux (partx, blkid) reading them
// back from an image file when the host has it.

import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { GPT_TYPE, LEGACY_BIOS_BOOTABLE, SECTOR, gptBytes, guidBytes, guidFromSeed, readGpt, usableLbas } from "./gpt.ts";

const dir = mkdtempSync(join(tmpdir(), "socle-gpt-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SECTORS = 8 * 2048; // 8 MiB
const LAYOUT = {
  sectors: SECTORS,
  diskGuid: "11111111-2222-4333-8444-555555555555",
  bootCode: new Uint8Array(440).fill(0x90),
  partitions: [
    { name: "ESP", type: GPT_TYPE.efiSystem, guid: "AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE", firstLba: 2048, lastLba: 4095, attributes: LEGACY_BIOS_BOOTABLE },
    { name: "socle-config", type: "5FDA9EF4-6DE9-4863-BBB5-BD0BF719BFE4", guid: "AAAAAAAA-BBBB-4CCC-8DDD-000000000002", firstLba: 4096, lastLba: 6143 },
  ],
};

test("guidBytes stores the first three fields little-endian", () => {
  expect(Buffer.from(guidBytes(GPT_TYPE.efiSystem)).toString("hex")).toBe("28732ac11ff8d211ba4b00a0c93ec93b");
  expect(() => guidBytes("not-a-guid")).toThrow('gpt: "not-a-guid" is not a GUID');
});

test("guidFromSeed: version 4, variant 10, the same seed the same GUID", () => {
  const g = guidFromSeed(new Uint8Array(32).fill(0xff));
  expect(g).toBe("FFFFFFFF-FFFF-4FFF-BFFF-FFFFFFFFFFFF");
  expect(guidFromSeed(new Uint8Array(16))).toBe("00000000-0000-4000-8000-000000000000");
});

test("protective MBR, both headers with their CRCs, entries at both ends", () => {
  const { head, tail } = gptBytes(LAYOUT);
  expect(head.length).toBe(34 * SECTOR);
  expect(tail.length).toBe(33 * SECTOR);
  expect(head[0]).toBe(0x90);
  expect([head[446 + 4], head[446], head[510], head[511]]).toEqual([0xee, 0x00, 0x55, 0xaa]);
  const hv = new DataView(head.buffer, SECTOR, SECTOR);
  const tv = new DataView(tail.buffer, 32 * SECTOR, SECTOR);
  for (const [v, my, alt, entriesAt] of [[hv, 1, SECTORS - 1, 2], [tv, SECTORS - 1, 1, SECTORS - 33]] as const) {
    expect(new TextDecoder().decode(new Uint8Array(v.buffer, v.byteOffset, 8))).toBe("EFI PART");
    expect(Number(v.getBigUint64(24, true))).toBe(my);
    expect(Number(v.getBigUint64(32, true))).toBe(alt);
    expect(Number(v.getBigUint64(72, true))).toBe(entriesAt);
    const h = new Uint8Array(v.buffer.slice(v.byteOffset, v.byteOffset + 92));
    const stored = v.getUint32(16, true);
    new DataView(h.buffer).setUint32(16, 0, true);
    expect(crc32(h)).toBe(stored);
  }
  expect(Buffer.compare(head.subarray(2 * SECTOR), tail.subarray(0, 32 * SECTOR))).toBe(0);
  expect(usableLbas(SECTORS)).toEqual({ first: 34, last: SECTORS - 34 });
});

test("overlaps, partitions outside the disk and long names are refused, naming them", () => {
  const p = LAYOUT.partitions;
  expect(() => gptBytes({ ...LAYOUT, partitions: [p[0]!, { ...p[1]!, firstLba: 4000 }] })).toThrow('gpt: partitions "ESP" and "socle-config" overlap');
  expect(() => gptBytes({ ...LAYOUT, partitions: [{ ...p[1]!, lastLba: SECTORS - 1 }] })).toThrow(/"socle-config" \(LBA 4096-16383\) lies outside the usable LBAs 34-16350/);
  expect(() => gptBytes({ ...LAYOUT, partitions: [{ ...p[1]!, name: "x".repeat(37) }] })).toThrow("longer than 36 characters");
});

const PARTX = Bun.which("partx");
test.skipIf(PARTX === null)("util-linux reads the table back: partition numbers, LBAs, names, types, GUIDs", async () => {
  const file = join(dir, "disk.img");
  const { head, tail } = gptBytes(LAYOUT);
  const img = new Uint8Array(SECTORS * SECTOR);
  img.set(head, 0);
  img.set(tail, img.length - tail.length);
  writeFileSync(file, img);
  const p = Bun.spawn([PARTX!, "--raw", "--noheadings", "-o", "NR,START,END,NAME,TYPE,UUID", file], { stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  expect(err).toBe("");
  expect(out.trim().split("\n")).toEqual([
    "1 2048 4095 ESP c12a7328-f81f-11d2-ba4b-00a0c93ec93b aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
    "2 4096 6143 socle-config 5fda9ef4-6de9-4863-bbb5-bd0bf719bfe4 aaaaaaaa-bbbb-4ccc-8ddd-000000000002",
  ]);
});

test("readGpt reads back what gptBytes wrote; a damaged header or entry table is refused", () => {
  const { head, tail } = gptBytes(LAYOUT);
  const disk = new Uint8Array(SECTORS * SECTOR);
  disk.set(head, 0);
  disk.set(tail, disk.length - tail.length);
  const read = readGpt(disk);
  expect(read.lastLba).toBe(SECTORS - 1);
  expect(read.backupLba).toBe(SECTORS - 1);
  expect(read.partitions).toEqual(LAYOUT.partitions.map((p) => ({ name: p.name, type: p.type.toUpperCase(), guid: p.guid, firstLba: p.firstLba, lastLba: p.lastLba, attributes: p.attributes ?? 0n })));
  const badEntry = disk.slice();
  badEntry[2 * SECTOR + 60]! ^= 1; // a byte of the first entry's name
  expect(() => readGpt(badEntry)).toThrow("gpt: partition entries CRC mismatch");
  const badHeader = disk.slice();
  badHeader[SECTOR + 40]! ^= 1;
  expect(() => readGpt(badHeader)).toThrow("gpt: header CRC mismatch");
  expect(() => readGpt(new Uint8Array(64 * SECTOR))).toThrow("gpt: no GPT header at LBA 1");
});
