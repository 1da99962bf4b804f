// The read transfer against a fake host: no sockets, a manual clock, every packet recorded.

import { expect, test } from "bun:test";
import { formatAck, formatError, formatOack, parsePacket, type TftpPacket } from "./packet.ts";
import { StreamBuffer } from "./stream-buffer.ts";
import { ReadTransfer, type TransferOutcome, type TransferParams } from "./transfer.ts";

const PEER = { address: "198.51.100.142", port: 1059 };

function harness(content: Uint8Array, over: Partial<TransferParams> = {}, chunk = 4096) {
  const sent: { p: TftpPacket; port: number; address: string }[] = [];
  const dropped: string[] = [];
  let clock = 0;
  let wake: number | undefined;
  let outcome: TransferOutcome | undefined;
  let reads = 0;
  const data = new StreamBuffer(
    () => {
      reads++;
      let off = 0;
      return new ReadableStream({
        pull(c) {
          if (off >= content.length) return c.close();
          c.enqueue(content.slice(off, off + chunk));
          off += chunk;
        },
      });
    },
    { readAhead: 1024 },
  );
  const t = new ReadTransfer(
    { peerAddress: PEER.address, peerPort: PEER.port, blksize: 8, windowsize: 1, oack: undefined, timeoutMs: 1000, maxTimeoutMs: 4000, maxRetries: 3, maxOackRetries: 1, data, ...over },
    {
      send: (pkt, port, address) => void sent.push({ p: parsePacket(pkt.slice()), port, address }),
      now: () => clock,
      wake: (ms) => void (wake = clock + ms),
      dropped: (r) => void dropped.push(r),
      finished: (o) => {
        if (outcome) throw new Error("finished twice");
        outcome = o;
      },
    },
  );
  const ack = (n: number) => t.onDatagram(formatAck(n & 0xffff), PEER.port, PEER.address);
  const settle = () => Bun.sleep(0);
  /** Moves the clock to the pending wake-up and fires it. */
  const tick = () => {
    if (wake === undefined) throw new Error("no timer armed");
    clock = wake;
    wake = undefined;
    t.onTimer();
  };
  const last = () => sent[sent.length - 1]!.p;
  return { t, sent, dropped, ack, settle, tick, last, out: () => outcome, reads: () => reads, wake: () => wake };
}

const bytes = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7) & 0xff);

function reassemble(sent: { p: TftpPacket }[]): Uint8Array {
  const parts = sent.map((s) => s.p).filter((p): p is Extract<TftpPacket, { op: "DATA" }> => p.op === "DATA");
  return Uint8Array.from(parts.flatMap((p) => [...p.data]));
}

test("lockstep: DATA per ACK, short last block ends it after its ACK", async () => {
  const h = harness(bytes(20));
  h.t.start();
  await h.settle();
  expect(h.last()).toEqual({ op: "DATA", block: 1, data: bytes(8) });
  h.ack(1);
  h.ack(2);
  expect(h.last()).toMatchObject({ op: "DATA", block: 3 });
  expect(h.out()).toBeUndefined();
  h.ack(3);
  expect(h.out()).toEqual({ ok: true, reason: "complete", probe: false, bytes: 20, blocks: 3, retransmits: 0 });
  expect(reassemble(h.sent)).toEqual(bytes(20));
  expect(h.sent.every((s) => s.port === PEER.port && s.address === PEER.address)).toBe(true);
});

test("a size that is a multiple of blksize ends with an empty block", async () => {
  const h = harness(bytes(16));
  h.t.start();
  await h.settle();
  h.ack(1);
  h.ack(2);
  expect(h.last()).toEqual({ op: "DATA", block: 3, data: new Uint8Array(0) });
  h.ack(3);
  expect(h.out()?.ok).toBe(true);
});

test("duplicate ACKs never trigger data (Sorcerer's Apprentice)", async () => {
  const h = harness(bytes(40));
  h.t.start();
  await h.settle();
  h.ack(1);
  const n = h.sent.length;
  h.ack(1);
  h.ack(1);
  h.ack(0);
  expect(h.sent.length).toBe(n);
});

test("timeouts retransmit with doubling backoff, then give up", async () => {
  const h = harness(bytes(40));
  h.t.start();
  await h.settle();
  const at: number[] = [];
  for (let i = 0; i < 4; i++) {
    at.push(h.wake()!);
    h.tick();
  }
  expect(at).toEqual([1000, 3000, 7000, 11000]); // 1s, then 2s, 4s, capped at 4s
  expect(h.sent.map((s) => s.p)).toEqual(Array(4).fill({ op: "DATA", block: 1, data: bytes(8) }));
  expect(h.out()).toMatchObject({ ok: false, reason: "no ACK for block 1 after 3 retransmissions", retransmits: 3, probe: false });
});

test("progress resets the backoff; a timer that fires early re-arms", async () => {
  const h = harness(bytes(40));
  h.t.start();
  await h.settle();
  h.tick(); // retransmit, next timeout 2000
  h.ack(1);
  expect(h.last()).toMatchObject({ block: 2 });
  h.tick(); // the timer armed earlier fires at 3000, the deadline after ACK 1 is 1000 + 1000
  expect(h.sent.filter((s) => s.p.op === "DATA" && s.p.block === 2).length).toBe(2);
});

test("block numbers roll over to 0 after 65535", async () => {
  const size = 8 * 65540 + 3;
  const h = harness(bytes(size), {}, 65536);
  h.t.start();
  for (let b = 1; b <= 65541; b++) {
    await h.settle();
    expect(h.last()).toMatchObject({ op: "DATA", block: b & 0xffff });
    h.ack(b);
  }
  expect(h.out()).toMatchObject({ ok: true, blocks: 65541, bytes: size });
  expect(reassemble(h.sent)).toEqual(bytes(size));
});

test("windowsize: a window per ACK; an ACK inside the window resends after it", async () => {
  const h = harness(bytes(8 * 10 + 1), { windowsize: 4 });
  h.t.start();
  await h.settle();
  expect(h.sent.map((s) => (s.p as { block: number }).block)).toEqual([1, 2, 3, 4]);
  h.ack(4);
  expect(h.sent.slice(4).map((s) => (s.p as { block: number }).block)).toEqual([5, 6, 7, 8]);
  h.ack(6); // 7 was lost
  expect(h.sent.slice(8).map((s) => (s.p as { block: number }).block)).toEqual([7, 8, 9, 10]);
  h.ack(10);
  expect(h.sent.slice(12).map((s) => (s.p as { block: number; data: Uint8Array }).data.length)).toEqual([1]);
  h.ack(11);
  expect(h.out()).toMatchObject({ ok: true, bytes: 81 });
});

test("OACK first; data only after ACK 0; reading starts only then", async () => {
  const oack = formatOack([["tsize", "20"]]);
  const h = harness(bytes(20), { oack });
  h.t.start();
  expect(h.sent.map((s) => s.p)).toEqual([{ op: "OACK", options: [["tsize", "20"]] }]);
  h.ack(1);
  expect(h.dropped).toEqual(["ACK 1 while waiting for ACK 0 of the OACK"]);
  await h.settle();
  expect(h.reads()).toBe(0);
  h.ack(0);
  await h.settle();
  expect(h.reads()).toBe(1);
  expect(h.last()).toMatchObject({ op: "DATA", block: 1 });
});

test("EDK2 probe: ERROR 8 after the OACK ends it as a probe, without reading", () => {
  const h = harness(bytes(20), { oack: formatOack([["tsize", "20"]]) });
  h.t.start();
  h.t.onDatagram(formatError(8, "tsize only"), PEER.port, PEER.address);
  expect(h.out()).toMatchObject({ ok: false, probe: true, reason: 'client sent ERROR 8 "tsize only"' });
  expect(h.reads()).toBe(0);
});

test("EDK2 probe: silence after the OACK expires after maxOackRetries", () => {
  const h = harness(bytes(20), { oack: formatOack([["tsize", "20"]]) });
  h.t.start();
  h.tick();
  h.tick();
  expect(h.sent.length).toBe(2);
  expect(h.out()).toMatchObject({ ok: false, probe: true, reason: "no ACK for OACK after 1 retransmissions" });
});

test("a stranger gets ERROR 5 and the transfer goes on; strangers' ERRORs are not answered", async () => {
  const h = harness(bytes(20));
  h.t.start();
  await h.settle();
  h.t.onDatagram(formatAck(1), PEER.port + 1, PEER.address);
  h.t.onDatagram(formatAck(1), PEER.port, "198.51.100.9");
  h.t.onDatagram(formatError(0, "x"), PEER.port + 1, PEER.address);
  expect(h.sent.slice(1).map((s) => [s.p, s.port, s.address])).toEqual([
    [{ op: "ERROR", code: 5, message: "unknown transfer ID" }, PEER.port + 1, PEER.address],
    [{ op: "ERROR", code: 5, message: "unknown transfer ID" }, PEER.port, "198.51.100.9"],
  ]);
  h.ack(1);
  h.ack(2);
  h.ack(3);
  expect(h.out()?.ok).toBe(true);
});

test("malformed or unexpected packets from the peer are dropped", async () => {
  const h = harness(bytes(20));
  h.t.start();
  await h.settle();
  h.t.onDatagram(Uint8Array.of(7), PEER.port, PEER.address);
  h.t.onDatagram(Uint8Array.of(0, 3, 0, 1, 5), PEER.port, PEER.address);
  expect(h.dropped).toEqual(["malformed 1-byte packet", "unexpected opcode 3 during a read transfer"]);
  expect(h.out()).toBeUndefined();
});

test("a read failure sends ERROR 0 and fails the transfer", async () => {
  const sent: TftpPacket[] = [];
  let outcome: TransferOutcome | undefined;
  const t = new ReadTransfer(
    {
      peerAddress: PEER.address,
      peerPort: PEER.port,
      blksize: 8,
      windowsize: 1,
      oack: undefined,
      timeoutMs: 1000,
      maxTimeoutMs: 1000,
      maxRetries: 1,
      maxOackRetries: 1,
      data: new StreamBuffer(() => new ReadableStream({ pull: (c) => c.error(new Error("EIO")) })),
    },
    { send: (p) => void sent.push(parsePacket(p)), now: () => 0, wake: () => {}, dropped: () => {}, finished: (o) => void (outcome = o) },
  );
  t.start();
  await Bun.sleep(1);
  expect(sent).toEqual([{ op: "ERROR", code: 0, message: "read failed: EIO" }]);
  expect(outcome).toMatchObject({ ok: false, reason: "read failed: EIO" });
});

test("abort notifies the client when asked and finishes once", async () => {
  const h = harness(bytes(20));
  h.t.start();
  await h.settle();
  h.t.abort("server shutting down", true);
  h.t.abort("again", true);
  expect(h.last()).toEqual({ op: "ERROR", code: 0, message: "server shutting down" });
  expect(h.out()).toMatchObject({ ok: false, reason: "server shutting down" });
  expect(h.t.active).toBe(false);
});
