// A file over 4 GiB in an ISO: ISO 9660 records a file's size in 32 bits, so xorriso stores a
// 4.5 GiB file as several extents (-iso-level 3), each flagged "multi-extent" but the last. The
// reader must join them into one file and the explode must write it byte for byte. The source is
// sparse (it costs no disk), with distinct bytes at its start, across the first extent boundary
// (just under 4 GiB) and at its end; the ISO holds all 4.5 GiB and is written for real, so the
// test needs about 10 GiB free and a minute. Skips, saying why, without xorriso or the space.

import { afterAll, expect, test } from "bun:test";
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, statfsSync, statSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileByteSource } from "../src/files/byte-source.ts";
import { explodeIso } from "../src/files/explode.ts";
import { readIso } from "../src/iso/reader.ts";

const XORRISO = Bun.which("xorriso");
const SIZE = 4.5 * 1024 ** 3;
const NEEDED = 10 * 1024 ** 3;
const dir = mkdtempSync(join(tmpdir(), "socle-iso-large-"));
const free = (() => {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
})();
const skip = !XORRISO ? "xorriso is not installed (test/lab/install-deps.sh --extras)" : free < NEEDED ? `only ${free} bytes free under ${tmpdir()}, ${NEEDED} needed` : "";
if (skip) console.log(`skip: test/iso-large.test.ts: ${skip}`);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Distinct bytes for a marker: a counter mixed with the marker's number, never all zero. */
function marker(n: number, length: number): Uint8Array {
  return new Uint8Array(length).map((_, i) => ((i * 131 + n * 17) % 251) + 1);
}

/** SHA-256 of a file, streamed. */
async function sha256(path: string): Promise<string> {
  const h = new Bun.CryptoHasher("sha256");
  for await (const chunk of Bun.file(path).stream()) h.update(chunk);
  return h.digest("hex");
}

test.skipIf(skip !== "")(
  "a 4.5 GiB sparse file in an ISO (multi-extent): read as one file and exploded byte for byte",
  async () => {
    const tree = join(dir, "tree");
    mkdirSync(join(tree, "images"), { recursive: true });
    const big = join(tree, "images", "big.img");
    const fd = openSync(big, "w");
    try {
      // Sparse: only the markers take disk space.
      const marks: Array<[number, Uint8Array]> = [
        [0, marker(1, 65536)],
        [4 * 1024 ** 3 - 40000, marker(2, 80000)], // across the first extent's end (4 GiB - 2 KiB)
        [SIZE - 4096, marker(3, 4096)],
      ];
      for (const [at, bytes] of marks) writeSync(fd, bytes, 0, bytes.length, at);
    } finally {
      closeSync(fd);
    }
    expect(statSync(big).size).toBe(SIZE);
    await Bun.write(join(tree, "small.txt"), "next to a big one\n");

    const image = join(dir, "big.iso");
    const made = Bun.spawnSync([XORRISO!, "-as", "mkisofs", "-quiet", "-iso-level", "3", "-R", "-J", "-o", image, tree], { stderr: "pipe" });
    if (made.exitCode !== 0) throw new Error(`xorriso failed: ${made.stderr.toString()}`);

    const src = await fileByteSource(image);
    try {
      const read = await readIso(src);
      const entry = read.entries.find((e) => e.path === "images/big.img")!;
      expect(entry.size).toBe(SIZE);
      expect(entry.extents.length).toBeGreaterThan(1);

      const target = join(dir, "out");
      const r = await explodeIso(src, target);
      expect(r.files).toBe(2);
      const out = join(target, "images", "big.img");
      expect(statSync(out).size).toBe(SIZE);
      expect(await sha256(out)).toBe(await sha256(big));
      expect(await Bun.file(join(target, "small.txt")).text()).toBe("next to a big one\n");
    } finally {
      await src.close();
    }
  },
  600_000,
);
