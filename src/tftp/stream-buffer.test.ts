import { expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StreamBuffer, syncFile, toNetascii, type SyncSource } from "./stream-buffer.ts";

function streamOf(chunks: Uint8Array[], failAfter?: number): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream({
    pull(c) {
      if (failAfter !== undefined && i === failAfter) return c.error(new Error("disk on fire"));
      const next = chunks[i++];
      if (next) c.enqueue(next);
      else c.close();
    },
  });
}

const seq = (n: number, from = 0) => Uint8Array.from({ length: n }, (_, i) => (from + i) & 0xff);

test("opens lazily, fills across chunks, copies and releases", async () => {
  let opened = 0;
  const b = new StreamBuffer(() => (opened++, streamOf([seq(5), seq(5, 5), seq(5, 10)])), { readAhead: 1 });
  expect(b.has(0, 1)).toBe(false);
  expect(opened).toBe(0);
  await b.fill(0, 7);
  expect(opened).toBe(1);
  const dst = new Uint8Array(7);
  expect(b.copy(0, 7, dst, 0)).toBe(7);
  expect(dst).toEqual(seq(7));
  b.release(4);
  expect(() => b.copy(0, 1, dst, 0)).toThrow("offset 0 was released");
  await b.fill(4, 100);
  expect(b.has(4, 100)).toBe(true); // the end of content came first
  expect(b.copy(12, 10, dst, 0)).toBe(3);
  expect(dst.subarray(0, 3)).toEqual(seq(3, 12));
  expect(b.copy(15, 10, dst, 0)).toBe(0);
});

test("buffer compacts and grows without losing bytes", async () => {
  const chunks = Array.from({ length: 40 }, (_, i) => seq(10_000, i * 10_000));
  const b = new StreamBuffer(() => streamOf(chunks), { readAhead: 30_000 });
  const dst = new Uint8Array(1000);
  for (let off = 0; off < 400_000; off += 1000) {
    await b.fill(off, 1000);
    expect(b.copy(off, 1000, dst, 0)).toBe(1000);
    expect(dst[0]).toBe(off & 0xff);
    expect(dst[999]).toBe((off + 999) & 0xff);
    b.release(off);
  }
});

test("a failing stream rejects fill with its error", async () => {
  const b = new StreamBuffer(() => streamOf([seq(3)], 1));
  await expect(b.fill(0, 10)).rejects.toThrow("disk on fire");
});

test("cancel stops the source", async () => {
  let cancelled = false;
  const b = new StreamBuffer(() => new ReadableStream({ pull: (c) => c.enqueue(seq(10)), cancel: () => void (cancelled = true) }), { readAhead: 10 });
  await b.fill(0, 10);
  b.cancel();
  await Bun.sleep(1);
  expect(cancelled).toBe(true);
  await expect(b.fill(0, 1_000)).rejects.toThrow("read cancelled");
});

test("netascii: LF -> CR LF, CR -> CR NUL", async () => {
  expect(toNetascii(new TextEncoder().encode("a\nb\rc"))).toEqual(Uint8Array.of(97, 13, 10, 98, 13, 0, 99));
  const plain = seq(3, 65);
  expect(toNetascii(plain)).toBe(plain);
  const b = new StreamBuffer(() => streamOf([new TextEncoder().encode("x\n")]), { netascii: true });
  await b.fill(0, 10);
  const dst = new Uint8Array(10);
  expect(b.copy(0, 10, dst, 0)).toBe(3);
});

test("a synchronous file: has() reads ahead at once, bytes are identical across chunks, the end and netascii hold", () => {
  const dir = mkdtempSync(join(tmpdir(), "socle-syncbuf-"));
  try {
    const data = Uint8Array.from({ length: 300_001 }, (_, i) => (i * 7 + (i >> 8)) & 0xff);
    writeFileSync(join(dir, "f.bin"), data);
    let opened = 0;
    const b = StreamBuffer.sync(() => (opened++, syncFile(join(dir, "f.bin"))), { readAhead: 20_000 });
    expect(opened).toBe(0);
    const got = new Uint8Array(data.length);
    for (let off = 0; off < data.length; off += 1468) {
      expect(b.has(off, 1468)).toBe(true); // never a promise to wait for
      b.copy(off, 1468, got, off);
      b.release(off);
    }
    expect(opened).toBe(1);
    expect(got).toEqual(data);
    expect(b.copy(data.length, 10, got, 0)).toBe(0);

    writeFileSync(join(dir, "t.txt"), "a\nb\rc");
    const t = StreamBuffer.sync(() => syncFile(join(dir, "t.txt")), { netascii: true });
    expect(t.has(0, 100)).toBe(true);
    const dst = new Uint8Array(100);
    expect(dst.subarray(0, t.copy(0, 100, dst, 0))).toEqual(Uint8Array.of(97, 13, 10, 98, 13, 0, 99));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a synchronous source that cannot open or read fails fill with its error; cancel closes it", async () => {
  const missing = StreamBuffer.sync(() => syncFile("/nonexistent/socle-test-file"));
  expect(missing.has(0, 1)).toBe(false);
  await expect(missing.fill(0, 1)).rejects.toThrow("ENOENT");

  let closed = 0;
  const failing: SyncSource = {
    read: () => {
      throw new Error("EIO on read");
    },
    close: () => void closed++,
  };
  const b = StreamBuffer.sync(() => failing);
  await expect(b.fill(0, 10)).rejects.toThrow("EIO on read");
  expect(closed).toBe(1);

  let reads = 0;
  const endless: SyncSource = { read: (dst) => (reads++, dst.fill(1), dst.length), close: () => void closed++ };
  const c = StreamBuffer.sync(() => endless, { readAhead: 10 });
  await c.fill(0, 10);
  c.cancel();
  c.cancel();
  expect(closed).toBe(2); // the second cancel does nothing
  const before = reads;
  expect(c.has(1_000_000, 10)).toBe(false);
  expect(reads).toBe(before);
});
