// Transfers on a worker run in its reactor, an epoll/recvfrom loop over all their sockets
// (reactor.ts): the libc primitives on real sockets, the loop with a scripted PollIo (timers in
// due order, transfers added and removed in the middle of a wakeup, hundreds at once), then a
// one-worker pool with raw clients on this thread: byte-identical downloads across source refills,
// retransmission after a lost ACK, ERROR 5 for strangers, a second transfer that must not wait for
// the first, many transfers at once, and close() reaching a client while the loop runs.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EAGAIN, loadPollIo, parseSockaddrIn, sameSockaddrIn, type PollIo, type ReadySet } from "./poll-io.ts";
import { Reactor, type Driven } from "./reactor.ts";
import { sockaddrIn } from "./fast-send.ts";
import { formatAck, parsePacket, type TftpPacket } from "./packet.ts";
import type { SessionHooks, SessionSpec } from "./transfer-session.ts";
import type { TransferOutcome } from "./transfer.ts";
import { createWorkerPool, type WorkerPool } from "./worker-pool.ts";
import { transferWorkerUrl } from "./worker-url.ts";

const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 13 + seed + (i >> 9)) & 0xff);
// Over the 256 KiB read-ahead several times: the file is read in several synchronous chunks.
const BIG = bytes(900_001, 7);
const SMALL = bytes(5_000, 9);

let dir = "";
let pool: WorkerPool;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "socle-tftp-lockstep-"));
  writeFileSync(join(dir, "big.bin"), BIG);
  pool = createWorkerPool(1, transferWorkerUrl(), () => {});
});

afterAll(async () => {
  await pool?.close();
  rmSync(dir, { recursive: true, force: true });
});

test("epoll and recvfrom: a wait lasts its timeout, then names the ready socket by its token; recvfrom returns the datagram with its sender; Bun still reads afterwards", async () => {
  const io = await loadPollIo();
  expect(io).not.toBeNull();
  const heard: Uint8Array[] = [];
  const a = await Bun.udpSocket({ hostname: "127.0.0.1", binaryType: "uint8array", socket: { data: (_s, d) => void heard.push(d.slice()) } });
  const b = await Bun.udpSocket({ hostname: "127.0.0.1", binaryType: "uint8array" });
  const fd = (a as unknown as { fd: number }).fd;
  const set = io!.readySet(4) as ReadySet;
  expect(typeof set).toBe("object");
  expect(set.add((b as unknown as { fd: number }).fd, 7)).toBe(0);
  expect(set.add(fd, 70_000)).toBe(0);
  expect(set.add(fd, 1)).toBeLessThan(0); // EEXIST
  const buf = new Uint8Array(new ArrayBuffer(64));
  const from = new Uint8Array(new ArrayBuffer(16));
  const receive = io!.receiver(buf, from);
  expect(io!.recvfrom(fd, buf, from)).toBe(-EAGAIN);
  expect(receive(fd)).toBe(-EAGAIN);
  const t0 = performance.now();
  expect(set.wait(30)).toBe(0);
  expect(performance.now() - t0).toBeGreaterThanOrEqual(20);
  b.send(new Uint8Array([1, 2, 3]), a.port, "127.0.0.1");
  expect(set.wait(1000)).toBe(1);
  expect(set.token(0)).toBe(70_000);
  const n = receive(fd);
  expect(buf.subarray(0, n)).toEqual(new Uint8Array([1, 2, 3]));
  expect(parseSockaddrIn(from)).toEqual({ port: b.port, address: "127.0.0.1" });
  expect(sameSockaddrIn(from, sockaddrIn("127.0.0.1", b.port)!)).toBe(true);
  expect(sameSockaddrIn(from, sockaddrIn("127.0.0.1", a.port)!)).toBe(false);
  expect(set.wait(0)).toBe(0);
  b.send(new Uint8Array([9, 8]), a.port, "127.0.0.1");
  expect(set.wait(1000)).toBe(1);
  expect(io!.recvfrom(fd, buf, from)).toBe(2);
  expect(buf.subarray(0, 2)).toEqual(new Uint8Array([9, 8]));
  expect(set.remove(fd)).toBe(0);
  b.send(new Uint8Array([4]), a.port, "127.0.0.1");
  expect(set.wait(50)).toBe(0); // no longer watched here, and Bun's own loop gets it
  for (let i = 0; i < 200 && heard.length === 0; i++) await Bun.sleep(5);
  expect(heard).toEqual([new Uint8Array([4])]);
  set.close();
  a.close();
  b.close();
});

/**
 * A scripted epoll: `ready` lists the descriptors the next wait reports (then it is emptied); a
 * wait with a timeout sleeps up to 2 ms. `waits` counts the calls.
 */
function fakeIo(fail?: number) {
  const tokens = new Map<number, number>();
  const st = { ready: [] as number[], waits: 0, tokens, last: [] as number[] };
  const set: ReadySet = {
    add: (fd, token) => (tokens.has(fd) ? -17 : (tokens.set(fd, token), 0)),
    remove: (fd) => (tokens.delete(fd) ? 0 : -2),
    wait: (timeoutMs) => {
      st.waits++;
      if (fail !== undefined) return fail;
      st.last = st.ready.filter((fd) => tokens.has(fd)).map((fd) => tokens.get(fd)!);
      st.ready = [];
      if (st.last.length === 0 && timeoutMs > 0) Bun.sleepSync(Math.min(timeoutMs, 2));
      return st.last.length;
    },
    token: (i) => st.last[i]!,
    close: () => {},
  };
  const io: PollIo = { readySet: () => set, recvfrom: () => -EAGAIN, receiver: () => () => -EAGAIN };
  return { io, st };
}

/** A scripted transfer for the reactor: counts what the loop did to it. */
function fakeDriven(fd: number, due?: number) {
  const log: string[] = [];
  const d: Driven & { log: string[]; dueAt: number | undefined } = {
    fd,
    log,
    dueAt: due,
    waiting: undefined,
    get due() {
      return d.dueAt;
    },
    readable: () => void log.push("readable"),
    fire: () => {
      log.push("fire");
      d.dueAt = undefined;
    },
    own: (on) => void log.push(on ? "own" : "release"),
  };
  return d;
}

test("reactor: takes the timer over, fires it when due, and releases every transfer when the thread is wanted", async () => {
  let wanted = false;
  const { io, st } = fakeIo();
  const r = new Reactor(io, () => !wanted, { sliceMs: 5, spin: 0 });
  const a = fakeDriven(7, performance.now() + 20);
  const b = fakeDriven(8);
  r.add(a);
  r.add(b);
  for (let i = 0; i < 200 && !a.log.includes("fire"); i++) await Bun.sleep(2);
  expect(a.log.slice(0, 2)).toEqual(["own", "fire"]);
  expect(b.log).toEqual(["own"]);
  wanted = true;
  for (let i = 0; i < 200 && !b.log.includes("release"); i++) await Bun.sleep(2);
  expect(a.log).toEqual(["own", "fire", "release"]);
  expect(b.log).toEqual(["own", "release"]);
  const before = st.waits;
  await Bun.sleep(20);
  expect(st.waits).toBe(before); // stopped while the thread is wanted
  wanted = false;
  r.kick();
  for (let i = 0; i < 200 && st.waits === before; i++) await Bun.sleep(2);
  expect(st.waits).toBeGreaterThan(before);
  r.remove(a);
  r.remove(b);
  for (let i = 0; i < 200 && r.size > 0; i++) await Bun.sleep(2);
  expect(r.size).toBe(0);
});

test("reactor: a failing epoll_wait hands the transfers back and says why, once", async () => {
  const errors: string[] = [];
  const { io } = fakeIo(-9);
  const r = new Reactor(io, () => true, { onError: (m) => void errors.push(m) });
  const a = fakeDriven(7);
  r.add(a);
  for (let i = 0; i < 200 && errors.length === 0; i++) await Bun.sleep(2);
  expect(a.log).toEqual(["own", "release"]);
  expect(errors).toEqual(["TFTP reactor: epoll_wait failed with errno 9; transfers go back to the event loop"]);
  expect(r.add(fakeDriven(9))).toBe(false);
  await Bun.sleep(20);
  expect(errors).toHaveLength(1);
});

test("reactor: due timers fire in due order, each once, whatever order they were armed in", async () => {
  const { io } = fakeIo();
  const r = new Reactor(io, () => true, { sliceMs: 2, spin: 0 });
  const fired: number[] = [];
  const t0 = performance.now() + 10;
  const order = Array.from({ length: 60 }, (_, i) => (i * 37) % 60); // a permutation
  const ds = order.map((k) => {
    const d = fakeDriven(100 + k, t0 + k * 0.5);
    d.fire = () => {
      fired.push(k);
      d.dueAt = undefined;
    };
    return d;
  });
  for (const d of ds) r.add(d);
  for (let i = 0; i < 500 && fired.length < 60; i++) await Bun.sleep(2);
  expect(fired).toEqual(Array.from({ length: 60 }, (_, i) => i));
  // Re-armed timers (announced with rescheduled) fire again, still in order.
  const base = performance.now() + 5;
  for (const [i, d] of [...ds].reverse().entries()) {
    d.dueAt = base + i;
    r.rescheduled(d);
  }
  fired.length = 0;
  for (let i = 0; i < 500 && fired.length < 60; i++) await Bun.sleep(2);
  expect(fired).toEqual(Array.from({ length: 60 }, (_, i) => order[59 - i]!));
  for (const d of ds) r.remove(d);
});

test("reactor: a transfer removed during a wakeup is not touched again; one added then is driven from the next", async () => {
  const { io, st } = fakeIo();
  const r = new Reactor(io, () => true, { sliceMs: 2, spin: 0 });
  const a = fakeDriven(1);
  const b = fakeDriven(2, performance.now() + 150); // the loop holds this thread up to 50 ms at a time
  const c = fakeDriven(3);
  const d = fakeDriven(4);
  a.readable = () => {
    a.log.push("readable");
    r.remove(b); // b is also in this wakeup's ready list, with a due timer
    r.add(d); // may not take b's token before the wakeup ends
  };
  r.add(a);
  r.add(b);
  r.add(c);
  for (let i = 0; i < 200 && b.log.length === 0; i++) await Bun.sleep(1);
  st.ready = [1, 2, 3];
  for (let i = 0; i < 200 && !c.log.includes("readable"); i++) await Bun.sleep(1);
  await Bun.sleep(160); // past b's due time
  expect(a.log).toEqual(["own", "readable"]);
  expect(b.log).toEqual(["own"]); // neither readable nor fired after its removal
  expect(c.log).toEqual(["own", "readable"]);
  for (let i = 0; i < 200 && d.log.length === 0; i++) await Bun.sleep(1);
  expect(d.log).toEqual(["own"]);
  st.ready = [4, 2];
  for (let i = 0; i < 200 && !d.log.includes("readable"); i++) await Bun.sleep(1);
  expect(d.log).toEqual(["own", "readable"]);
  expect(b.log).toEqual(["own"]);
  expect(r.size).toBe(3);
  for (const x of [a, c, d]) r.remove(x);
  expect(r.size).toBe(0);
});

test("reactor: five hundred transfers, each readable once and each timer fired once", async () => {
  const { io, st } = fakeIo();
  const r = new Reactor(io, () => true, { sliceMs: 2, spin: 0 });
  const now = performance.now();
  const ds = Array.from({ length: 500 }, (_, i) => fakeDriven(1000 + i, now + 5 + (i % 17)));
  for (const d of ds) r.add(d);
  await Bun.sleep(5);
  st.ready = ds.filter((_, i) => i % 2 === 0).map((d) => d.fd);
  await Bun.sleep(5);
  st.ready = ds.filter((_, i) => i % 2 === 1).map((d) => d.fd);
  for (let i = 0; i < 500 && ds.some((d) => !d.log.includes("fire") || !d.log.includes("readable")); i++) await Bun.sleep(2);
  for (const d of ds) {
    expect(d.log.filter((x) => x === "readable")).toHaveLength(1);
    expect(d.log.filter((x) => x === "fire")).toHaveLength(1);
  }
  for (const d of ds) r.remove(d);
  expect(st.tokens.size).toBe(0);
});

async function client() {
  const got: { p: TftpPacket; port: number; at: number }[] = [];
  const sock = await Bun.udpSocket({
    hostname: "127.0.0.1",
    binaryType: "uint8array",
    socket: { data: (_s, d, p) => void got.push({ p: parsePacket(d), port: p, at: performance.now() }) },
  });
  const next = async (n: number, ms = 3000) => {
    for (let i = 0; i < ms && got.length < n; i++) await Bun.sleep(1);
    if (got.length < n) throw new Error(`no packet ${n} after ${ms} ms`);
    return got[n - 1]!;
  };
  return { sock, got, next };
}

function spec(peerPort: number, blksize: number, timeoutMs: number): SessionSpec {
  return { localAddress: "127.0.0.1", peerAddress: "127.0.0.1", peerPort, blksize, windowsize: 1, oack: undefined, timeoutMs, maxRetries: 5, maxOackRetries: 1, netascii: false };
}

function hooks() {
  const dropped: string[] = [];
  let outcome: TransferOutcome | undefined;
  const h: SessionHooks = { dropped: (r) => void dropped.push(r), socketError: () => {}, finished: (o) => void (outcome = o) };
  return { h, dropped, outcome: () => outcome };
}

test("a lockstep download through the worker is byte-identical; a lost ACK is retransmitted; strangers get ERROR 5", async () => {
  const c = await client();
  const stranger = await client();
  const k = hooks();
  await pool.start(spec(c.sock.port, 1024, 150), { kind: "disk", path: join(dir, "big.bin") }, k.h);
  const parts: Uint8Array[] = [];
  let n = 0;
  for (let b = 1; b < 2000; b++) {
    const d = await c.next(++n);
    if (d.p.op !== "DATA" || d.p.block !== b) throw new Error(`expected DATA ${b}, got ${JSON.stringify(d.p)}`);
    parts.push(d.p.data.slice());
    if (b === 3) {
      // Lose this ACK: the same block comes again after the retransmission timeout.
      const again = await c.next(++n);
      expect(again.p).toMatchObject({ op: "DATA", block: 3 });
      expect(again.at - d.at).toBeGreaterThanOrEqual(100);
      stranger.sock.send(formatAck(3), d.port, "127.0.0.1");
      expect((await stranger.next(1)).p).toEqual({ op: "ERROR", code: 5, message: "unknown transfer ID" });
    }
    c.sock.send(formatAck(b), d.port, "127.0.0.1");
    if (d.p.data.length < 1024) break;
  }
  expect(new Uint8Array(Buffer.concat(parts))).toEqual(BIG);
  for (let i = 0; i < 200 && !k.outcome(); i++) await Bun.sleep(5);
  expect(k.outcome()).toMatchObject({ ok: true, bytes: BIG.length, retransmits: 1 });
  expect(k.dropped).toEqual([`packet from unknown transfer ID 127.0.0.1:${stranger.sock.port}`]);
  c.sock.close();
  stranger.sock.close();
});

test("a second transfer on the same worker starts at once while the first waits for an ACK", async () => {
  const a = await client();
  const b = await client();
  const ka = hooks();
  const kb = hooks();
  // A's retransmission timeout is long: a worker blocked on A until then would delay B by seconds.
  await pool.start(spec(a.sock.port, 512, 4000), { kind: "bytes", bytes: SMALL }, ka.h);
  const a1 = await a.next(1);
  expect(a1.p).toMatchObject({ op: "DATA", block: 1 });
  await Bun.sleep(50); // the worker is now in A's receive loop
  const t0 = performance.now();
  await pool.start(spec(b.sock.port, 512, 4000), { kind: "bytes", bytes: SMALL }, kb.h);
  const b1 = await b.next(1);
  expect(b1.p).toMatchObject({ op: "DATA", block: 1 });
  expect(b1.at - t0).toBeLessThan(1000);
  // Both finish, interleaved, on the one worker.
  for (const [c, first] of [[a, a1], [b, b1]] as const) {
    let n = 1;
    let d = first;
    for (let blk = 1; blk < 100; blk++) {
      c.sock.send(formatAck(blk), d.port, "127.0.0.1");
      if (d.p.op === "DATA" && d.p.data.length < 512) break;
      d = await c.next(++n);
      expect(d.p).toMatchObject({ op: "DATA", block: blk + 1 });
    }
  }
  for (let i = 0; i < 200 && (!ka.outcome() || !kb.outcome()); i++) await Bun.sleep(5);
  expect(ka.outcome()).toMatchObject({ ok: true, bytes: SMALL.length });
  expect(kb.outcome()).toMatchObject({ ok: true, bytes: SMALL.length });
  a.sock.close();
  b.sock.close();
});

test("twelve transfers at once on one worker, from disk and from bytes, all byte-identical", async () => {
  const clients = await Promise.all(Array.from({ length: 12 }, () => client()));
  const ks = clients.map(() => hooks());
  const want = (i: number) => (i % 2 === 0 ? BIG : SMALL);
  await Promise.all(
    clients.map((c, i) =>
      pool.start(spec(c.sock.port, 1468, 1000), i % 2 === 0 ? { kind: "disk", path: join(dir, "big.bin") } : { kind: "bytes", bytes: SMALL }, ks[i]!.h),
    ),
  );
  // Each client acknowledges as its blocks arrive; all run interleaved on the one worker.
  await Promise.all(
    clients.map(async (c, i) => {
      const parts: Uint8Array[] = [];
      for (let b = 1; ; b++) {
        const d = await c.next(b);
        if (d.p.op !== "DATA" || d.p.block !== (b & 0xffff)) throw new Error(`client ${i}: expected DATA ${b}, got ${JSON.stringify(d.p)}`);
        parts.push(d.p.data.slice());
        c.sock.send(formatAck(b), d.port, "127.0.0.1");
        if (d.p.data.length < 1468) break;
      }
      expect(new Uint8Array(Buffer.concat(parts))).toEqual(want(i));
    }),
  );
  for (let i = 0; i < 400 && ks.some((k) => !k.outcome()); i++) await Bun.sleep(5);
  ks.forEach((k, i) => expect(k.outcome()).toMatchObject({ ok: true, bytes: want(i).length, retransmits: 0 }));
  for (const c of clients) c.sock.close();
});

test("a client that goes away ends its transfer at the first retransmission (port unreachable), not after all of them", async () => {
  const c = await client();
  const k = hooks();
  await pool.start(spec(c.sock.port, 512, 150), { kind: "bytes", bytes: SMALL }, k.h);
  expect((await c.next(1)).p).toMatchObject({ op: "DATA", block: 1 });
  const t0 = performance.now();
  c.sock.close(); // the retransmission of block 1 now meets ICMP port unreachable
  for (let i = 0; i < 400 && !k.outcome(); i++) await Bun.sleep(5);
  expect(k.outcome()).toMatchObject({ ok: false, reason: "client port unreachable" });
  // Five retransmissions with backoff from 150 ms would take over 9 s.
  expect(performance.now() - t0).toBeLessThan(1500);
});

test("closing the pool reaches a client while the worker's loop runs its transfer", async () => {
  const own = createWorkerPool(1, transferWorkerUrl(), () => {});
  const c = await client();
  const k = hooks();
  await own.start(spec(c.sock.port, 512, 5000), { kind: "bytes", bytes: SMALL }, k.h);
  expect((await c.next(1)).p).toMatchObject({ op: "DATA", block: 1 });
  await Bun.sleep(50);
  const t0 = performance.now();
  await own.close(2000);
  expect(performance.now() - t0).toBeLessThan(1000);
  expect((await c.next(2)).p).toEqual({ op: "ERROR", code: 0, message: "server shutting down" });
  expect(k.outcome()).toMatchObject({ ok: false, reason: "server shutting down" });
  c.sock.close();
});
