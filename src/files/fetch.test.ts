// fetchToFile against a local HTTP server (loopback only): whole, resumed after a cut with Range
// and If-Range, started over when the file changed, refused on a SHA-256 mismatch, an HTTP error,
// or a stall; nothing but a whole, checked file ever takes the target's name.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FetchError, fetchToFile, partialPath, type FetchProgress } from "./fetch.ts";

const V1 = new Uint8Array(3 * 1024 * 1024 + 11).map((_, i) => (i * 7 + 3) & 0xff);
const V2 = new Uint8Array(2 * 1024 * 1024).map((_, i) => (i * 11 + 5) & 0xff);
const sha = (b: Uint8Array) => new Bun.CryptoHasher("sha256").update(b).digest("hex");

let dir = "";
let server: ReturnType<typeof Bun.serve>;
let current = V1;
let etag = '"v1"';
/** Cut the next full answer after this many bytes (0: do not). */
let cutAfter = 0;
let stall = false;
const ranges: string[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "socle-fetch-"));
  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const url = new URL(req.url);
      if (url.pathname === "/missing.iso") return new Response("no", { status: 404 });
      if (stall) return new Response(new ReadableStream({ start() {} }), { headers: { "Content-Length": String(current.length) } });
      const range = req.headers.get("range");
      ranges.push(range ?? "");
      const ifRange = req.headers.get("if-range");
      if (range && (!ifRange || ifRange === etag)) {
        const from = Number(/^bytes=(\d+)-$/.exec(range)![1]);
        if (from >= current.length) return new Response(null, { status: 416, headers: { "Content-Range": `bytes */${current.length}` } });
        return new Response(current.subarray(from), { status: 206, headers: { ETag: etag, "Content-Range": `bytes ${from}-${current.length - 1}/${current.length}` } });
      }
      if (cutAfter > 0) {
        const n = cutAfter;
        cutAfter = 0;
        const body = current.subarray(0, n);
        return new Response(
          new ReadableStream({
            start(c) {
              c.enqueue(body);
              setTimeout(() => c.error(new Error("cut")), 50);
            },
          }),
          { headers: { ETag: etag, "Content-Length": String(current.length) } },
        );
      }
      return new Response(current, { headers: { ETag: etag } });
    },
  });
});
afterAll(() => {
  server?.stop(true);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const url = (name: string) => `http://127.0.0.1:${server.port}/${name}`;
const leftovers = () => readdirSync(dir).filter((n) => n.startsWith(".socle-fetch-"));

describe("fetchToFile", () => {
  test("a whole file, its SHA-256 checked, progress up to its size", async () => {
    const seen: FetchProgress[] = [];
    const target = join(dir, "a.iso");
    const r = await fetchToFile(url("a.iso"), target, { sha256: sha(V1), onProgress: (p) => seen.push(p), progressEvery: 1024 * 1024 });
    expect(r).toEqual({ size: V1.length, sha256: sha(V1), resumedFrom: 0 });
    expect(Buffer.compare(readFileSync(target), V1)).toBe(0);
    expect(seen.at(-1)).toEqual({ bytes: V1.length, total: V1.length, resumedFrom: 0 });
    expect(leftovers()).toEqual([]);
  });

  test("cut off mid-way: the partial file stays; the next attempt resumes with Range and If-Range and ends byte-identical", async () => {
    const target = join(dir, "b.iso");
    cutAfter = 1024 * 1024;
    ranges.length = 0;
    const err = await fetchToFile(url("b.iso"), target).catch((e) => e);
    expect(err).toBeInstanceOf(FetchError);
    expect(existsSync(target)).toBe(false);
    expect(readFileSync(partialPath(target, url("b.iso"))).length).toBe(1024 * 1024);
    const r = await fetchToFile(url("b.iso"), target, { sha256: sha(V1) });
    expect(r.resumedFrom).toBe(1024 * 1024);
    expect(ranges.at(-1)).toBe(`bytes=${1024 * 1024}-`);
    expect(Buffer.compare(readFileSync(target), V1)).toBe(0);
    expect(leftovers()).toEqual([]);
  });

  test("the file changed between attempts (If-Range fails): it starts over, never mixing two versions", async () => {
    const target = join(dir, "c.iso");
    cutAfter = 1024 * 1024;
    await fetchToFile(url("c.iso"), target).catch(() => {});
    current = V2;
    etag = '"v2"';
    try {
      const r = await fetchToFile(url("c.iso"), target, { sha256: sha(V2) });
      expect(r.resumedFrom).toBe(0);
      expect(Buffer.compare(readFileSync(target), V2)).toBe(0);
    } finally {
      current = V1;
      etag = '"v1"';
    }
  });

  test("a SHA-256 mismatch, an HTTP error and a stall: FetchError naming it; no target; a mismatch leaves no partial file", async () => {
    const target = join(dir, "d.iso");
    const bad = await fetchToFile(url("d.iso"), target, { sha256: "0".repeat(64) }).catch((e) => e);
    expect(String(bad.message)).toContain(`SHA-256 ${sha(V1)}, expected ${"0".repeat(64)}: removed`);
    expect(existsSync(target)).toBe(false);
    expect(leftovers()).toEqual([]);
    const missing = await fetchToFile(url("missing.iso"), join(dir, "e.iso")).catch((e) => e);
    expect(String(missing.message)).toContain("HTTP 404");
    stall = true;
    try {
      const stalled = await fetchToFile(url("f.iso"), join(dir, "f.iso"), { idleMs: 300 }).catch((e) => e);
      expect(stalled).toBeInstanceOf(FetchError);
      expect(String(stalled.message)).toContain("no data for 0.3 s");
    } finally {
      stall = false;
    }
    expect(existsSync(join(dir, "f.iso"))).toBe(false);
  });
});
