// Transfers on worker threads, through the real server on 127.0.0.1 with a lockstep raw client:
// disk files (the worker reads diskPath), small content copied over, content of unknown size on
// the server's thread; shutdown reaches clients of worker transfers; a worker that cannot start
// leaves transfers to the server's thread; workers start on demand and stop when idle, and a
// transfer never lands on a stopping worker. The compiled binary lists the worker as an entry point.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WORKER_ENTRIES } from "../../build/compile.ts";
import type { BootFile, FileSource } from "../files/file-source.ts";
import { createLogger } from "../log/logger.ts";
import { formatAck, formatRequest, parsePacket, type TftpPacket } from "./packet.ts";
import { startTftpServer, type TftpServer } from "./server.ts";
import { createWorkerPool } from "./worker-pool.ts";
import { TRANSFER_WORKER_ENTRY, transferWorkerUrl } from "./worker-url.ts";

const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed + (i >> 8)) & 0xff);
const DISK = bytes(300_007, 1);
const INLINE = bytes(50_000, 2);
const STREAMED = bytes(70_001, 3);
const SMALL_INLINE = bytes(2_000, 4);

let dir = "";
let server: TftpServer;
let port = 0;
const reads: string[] = [];
const lines: string[] = [];

const source: FileSource = {
  async get(path) {
    const stream = (b: Uint8Array) => () => {
      reads.push(path);
      return new Blob([b]).stream();
    };
    if (path === "disk.bin") return { size: DISK.length, read: stream(DISK), diskPath: join(dir, "disk.bin") } satisfies BootFile;
    if (path === "inline.bin") return { size: INLINE.length, read: stream(INLINE) } satisfies BootFile;
    if (path === "streamed.bin") return { size: undefined, read: stream(STREAMED) } satisfies BootFile;
    return undefined;
  },
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "socle-tftp-workers-"));
  writeFileSync(join(dir, "disk.bin"), DISK);
  server = await startTftpServer({ port: 0, listen: ["127.0.0.1"], source, log: createLogger({ level: "debug", sink: (l) => void lines.push(l) }), workers: 2, retransmitMs: 300 });
  port = server.stats().listening[0]!.port;
});

afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function client() {
  const got: { p: TftpPacket; port: number }[] = [];
  const sock = await Bun.udpSocket({ hostname: "127.0.0.1", binaryType: "uint8array", socket: { data: (_s, d, p) => void got.push({ p: parsePacket(d), port: p }) } });
  const next = async (n: number) => {
    for (let i = 0; i < 3000 && got.length < n; i++) await Bun.sleep(1);
    if (got.length < n) throw new Error(`no packet ${n} after 3 s`);
    return got[n - 1]!;
  };
  return { sock, got, next };
}

/** Downloads `file` in lockstep with blksize 1024; returns the bytes and the transfer's port. */
async function download(file: string): Promise<{ data: Uint8Array; tid: number }> {
  const c = await client();
  c.sock.send(formatRequest("RRQ", file, "octet", [["blksize", "1024"]]), port, "127.0.0.1");
  const oack = await c.next(1);
  expect(oack.p).toEqual({ op: "OACK", options: [["blksize", "1024"]] });
  const parts: Uint8Array[] = [];
  c.sock.send(formatAck(0), oack.port, "127.0.0.1");
  for (let b = 1; b < 1000; b++) {
    const d = (await c.next(b + 1)).p;
    if (d.op !== "DATA" || d.block !== b) throw new Error(`expected DATA ${b}, got ${JSON.stringify(d)}`);
    parts.push(d.data.slice());
    c.sock.send(formatAck(b), oack.port, "127.0.0.1");
    if (d.data.length < 1024) break;
  }
  c.sock.close();
  return { data: new Uint8Array(Buffer.concat(parts)), tid: oack.port };
}

test("disk, inline and streamed content download byte-identical, in parallel", async () => {
  const [disk, inline, streamed] = await Promise.all([download("disk.bin"), download("inline.bin"), download("streamed.bin")]);
  expect(disk.data).toEqual(DISK);
  expect(inline.data).toEqual(INLINE);
  expect(streamed.data).toEqual(STREAMED);
  // The worker opens the disk file itself; inline content is read here once; streamed once.
  expect(reads.filter((r) => r === "disk.bin")).toEqual([]);
  expect(reads.filter((r) => r === "inline.bin").length).toBe(1);
  for (let i = 0; i < 100 && server.stats().completed < 3; i++) await Bun.sleep(10);
  expect(server.stats()).toMatchObject({ completed: 3, failed: 0, active: 0, bytesSent: DISK.length + INLINE.length + STREAMED.length });
  expect(lines.filter((l) => l.includes("RRQ served")).length).toBe(3);
});

test("a stranger on a worker transfer's port gets ERROR 5 and is counted as dropped", async () => {
  const c = await client();
  const stranger = await client();
  c.sock.send(formatRequest("RRQ", "disk.bin", "octet", [["blksize", "1024"]]), port, "127.0.0.1");
  const oack = await c.next(1);
  const dropped = server.stats().dropped;
  stranger.sock.send(formatAck(0), oack.port, "127.0.0.1");
  expect(await stranger.next(1)).toEqual({ p: { op: "ERROR", code: 5, message: "unknown transfer ID" }, port: oack.port });
  for (let i = 0; i < 100 && server.stats().dropped === dropped; i++) await Bun.sleep(5);
  expect(server.stats().dropped).toBe(dropped + 1);
  c.sock.send(formatAck(0), oack.port, "127.0.0.1");
  expect((await c.next(2)).p).toMatchObject({ op: "DATA", block: 1 });
  c.sock.close();
  stranger.sock.close();
});

test("stop tells the client of a worker transfer and ends it", async () => {
  const own = await startTftpServer({ port: 0, listen: ["127.0.0.1"], source, log: createLogger({ level: "error", sink: () => {} }), workers: 1 });
  const ownPort = own.stats().listening[0]!.port;
  const c = await client();
  c.sock.send(formatRequest("RRQ", "disk.bin", "octet", [["blksize", "1024"]]), ownPort, "127.0.0.1");
  const oack = await c.next(1);
  c.sock.send(formatAck(0), oack.port, "127.0.0.1");
  await c.next(2);
  expect(own.stats().active).toBe(1);
  await own.stop();
  expect((await c.next(3)).p).toEqual({ op: "ERROR", code: 0, message: "server shutting down" });
  expect(own.stats()).toMatchObject({ active: 0, failed: 1 });
  c.sock.close();
});

test("a worker that cannot start is reported, fails the transfer it was started for, and is not started again", async () => {
  const crashes: string[] = [];
  const pool = createWorkerPool(1, new URL("./no-such-worker.ts", import.meta.url), (m) => void crashes.push(m));
  expect(pool.size).toBe(0); // nothing runs before the first transfer
  const spec = { localAddress: "127.0.0.1", peerAddress: "127.0.0.1", peerPort: 9, blksize: 512, windowsize: 1, oack: undefined, timeoutMs: 1000, maxRetries: 1, maxOackRetries: 1, netascii: false };
  const outcomes: string[] = [];
  const first = pool.start(spec, { kind: "bytes", bytes: INLINE }, { dropped() {}, socketError() {}, finished: (o) => void outcomes.push(o.reason) });
  expect(first).not.toBeNull();
  await expect(first!).rejects.toThrow("TFTP transfer worker failed");
  expect(pool.size).toBe(0);
  expect(crashes.length).toBe(1);
  expect(crashes[0]).toContain("TFTP transfer worker failed");
  expect(outcomes).toHaveLength(1);
  expect(pool.start(spec, { kind: "bytes", bytes: INLINE }, { dropped() {}, socketError() {}, finished() {} })).toBeNull();
  expect(crashes.length).toBe(1);
  await pool.close();
});

/** A raw lockstep client of a pool session: ACKs every block, returns the bytes. */
async function poolDownload(pool: ReturnType<typeof createWorkerPool>, bytes: Uint8Array, blksize = 1024): Promise<Uint8Array> {
  const c = await client();
  let outcome: { ok: boolean } | undefined;
  const spec = { localAddress: "127.0.0.1", peerAddress: "127.0.0.1", peerPort: c.sock.port, blksize, windowsize: 1, oack: undefined, timeoutMs: 300, maxRetries: 3, maxOackRetries: 1, netascii: false };
  await pool.start(spec, { kind: "bytes", bytes }, { dropped() {}, socketError() {}, finished: (o) => void (outcome = o) })!;
  const parts: Uint8Array[] = [];
  for (let b = 1; b < 10_000; b++) {
    const d = await c.next(b);
    if (d.p.op !== "DATA" || d.p.block !== b) throw new Error(`expected DATA ${b}, got ${JSON.stringify(d.p)}`);
    parts.push(d.p.data.slice());
    c.sock.send(formatAck(b), d.port, "127.0.0.1");
    if (d.p.data.length < blksize) break;
  }
  for (let i = 0; i < 300 && !outcome; i++) await Bun.sleep(5);
  expect(outcome).toMatchObject({ ok: true });
  c.sock.close();
  return new Uint8Array(Buffer.concat(parts));
}

test("workers start with the first transfers, one more only when all are busy, and stop when idle; a transfer after the stop starts a new one", async () => {
  const pool = createWorkerPool(2, transferWorkerUrl(), () => {}, () => {}, { idleMs: 150 });
  expect(pool.size).toBe(0);
  expect(await poolDownload(pool, INLINE)).toEqual(INLINE);
  expect(pool.size).toBe(1);
  // One after the other: the idle worker takes it, no second thread.
  expect(await poolDownload(pool, INLINE)).toEqual(INLINE);
  expect(pool.size).toBe(1);
  // Two at once: the first worker is busy, a second starts.
  const both = await Promise.all([poolDownload(pool, INLINE), poolDownload(pool, INLINE)]);
  expect(both).toEqual([INLINE, INLINE]);
  expect(pool.size).toBe(2);
  for (let i = 0; i < 300 && pool.size > 0; i++) await Bun.sleep(10);
  expect(pool.size).toBe(0);
  expect(await poolDownload(pool, INLINE)).toEqual(INLINE);
  expect(pool.size).toBe(1);
  await pool.close();
  expect(pool.size).toBe(0);
});

test("a transfer that arrives as an idle worker is told to stop goes to a new worker and completes", async () => {
  const pool = createWorkerPool(1, transferWorkerUrl(), () => {}, () => {}, { idleMs: 40 });
  expect(await poolDownload(pool, INLINE)).toEqual(INLINE);
  // Land transfers around the moment the idle worker stops: each must complete, whichever worker
  // (the old one before its stop, or a fresh one) runs it.
  for (const wait of [30, 38, 40, 42, 45, 60]) {
    await Bun.sleep(wait);
    expect(await poolDownload(pool, SMALL_INLINE, 512)).toEqual(SMALL_INLINE);
  }
  // The moment the pool has told its worker to stop (size drops at once, before the worker
  // confirms), a new transfer starts a fresh worker rather than joining the stopping one.
  for (let i = 0; i < 500 && pool.size > 0; i++) await Bun.sleep(1);
  expect(pool.size).toBe(0);
  expect(await poolDownload(pool, SMALL_INLINE, 512)).toEqual(SMALL_INLINE);
  await pool.close();
});

test("a transfer that ends before it has started (its file cannot be opened) still settles the caller's wait", async () => {
  const pool = createWorkerPool(1, transferWorkerUrl(), () => {}, () => {});
  const c = await client();
  const spec = { localAddress: "127.0.0.1", peerAddress: "127.0.0.1", peerPort: c.sock.port, blksize: 512, windowsize: 1, oack: undefined, timeoutMs: 300, maxRetries: 1, maxOackRetries: 1, netascii: false };
  let outcome: { ok: boolean } | undefined;
  const started = pool.start(spec, { kind: "disk", path: join(dir, "no-such-file.bin") }, { dropped() {}, socketError() {}, finished: (o) => void (outcome = o) })!;
  const settled = await Promise.race([started.then(() => "settled", () => "settled"), Bun.sleep(3000).then(() => "pending")]);
  expect(settled).toBe("settled");
  for (let i = 0; i < 300 && !outcome; i++) await Bun.sleep(5);
  expect(outcome).toMatchObject({ ok: false });
  c.sock.close();
  await pool.close();
});

test("the compiled binary bundles the transfer worker where the server looks for it", () => {
  expect(WORKER_ENTRIES).toContain(`src/${TRANSFER_WORKER_ENTRY}`);
  expect(transferWorkerUrl().pathname).toBe(join(import.meta.dir, "transfer-worker.ts"));
  expect(transferWorkerUrl("file:///$bunfs/root/socle-linux-amd64").href).toBe("file:///$bunfs/root/tftp/transfer-worker.ts");
});
