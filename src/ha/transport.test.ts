import { setDefaultTimeout, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { connect, type TLSSocket } from "node:tls";
import { createLogger } from "../log/logger.ts";
import { buildCaCert, generateRsaKey } from "../pki/certs.ts";
import { issueNodeCert } from "../pki/node-certs.ts";
import { FrameReader, encodeFrame, type HaMessage } from "./protocol.ts";
import { dialHa, listenHa, type HaConnection, type HaListener, type NodeCredentials } from "./transport.ts";

setDefaultTimeout(60_000);

type Ca = { certPem: string; keyPem: string };
async function makeCa(name: string): Promise<Ca> {
  const k = await generateRsaKey(2048);
  return { certPem: buildCaCert(k, name), keyPem: k.privateKeyPem };
}
async function makeNode(name: string, ca: Ca): Promise<NodeCredentials> {
  const k = await generateRsaKey(2048);
  return { certPem: issueNodeCert(k.publicKeyPem, name, ca).certPem, keyPem: k.privateKeyPem, caPem: ca.certPem, nodeName: name };
}

let pairCa: Ca;
let foreignCa: Ca;
let a: NodeCredentials;
let b: NodeCredentials;
let c: NodeCredentials;
let bForeign: NodeCredentials;
beforeAll(async () => {
  [pairCa, foreignCa] = await Promise.all([makeCa("Pair CA"), makeCa("Foreign CA")]);
  [a, b, c] = await Promise.all([makeNode("node-a", pairCa), makeNode("node-b", pairCa), makeNode("node-c", pairCa)]);
  // Foreign CA's certificate for "node-b", but trusting the pair CA: it can verify the listener.
  bForeign = { ...(await makeNode("node-b", foreignCa)), caPem: pairCa.certPem };
});

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

function logSink() {
  const lines: string[] = [];
  return { lines, log: createLogger({ level: "debug", sink: (l) => lines.push(l), subsystem: "ha" }) };
}

async function listen(creds: NodeCredentials, peerName: string | null, log = logSink().log): Promise<{ l: HaListener; conns: HaConnection[]; next: () => Promise<HaConnection> }> {
  const conns: HaConnection[] = [];
  const waiters: Array<(c: HaConnection) => void> = [];
  const l = await listenHa({
    host: "127.0.0.1",
    port: 0,
    creds,
    peerName,
    log,
    onConnection: (conn) => {
      conns.push(conn);
      waiters.shift()?.(conn);
    },
  });
  cleanups.push(() => l.close());
  const next = () => new Promise<HaConnection>((r) => (conns.length > 0 ? r(conns.shift() as HaConnection) : waiters.push(r)));
  return { l, conns, next };
}

const closed = (conn: HaConnection) => new Promise<string>((r) => conn.onClose(r));

/** A raw TLS client: what an attacker or a broken peer can do that dialHa never would. */
function rawClient(port: number, creds?: NodeCredentials): Promise<{ socket: TLSSocket; frames: HaMessage[]; ended: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, rejectUnauthorized: false, ...(creds ? { cert: creds.certPem, key: creds.keyPem } : {}) });
    const frames: HaMessage[] = [];
    const reader = new FrameReader();
    socket.on("data", (d: Buffer) => frames.push(...reader.push(d).map((f) => f.header)));
    const ended = new Promise<void>((r) => socket.on("close", () => r()));
    socket.on("error", () => {});
    socket.once("secureConnect", () => resolve({ socket, frames, ended }));
    socket.once("error", reject);
    cleanups.push(() => void socket.destroy());
  });
}

describe("mutual authentication", () => {
  test("the enrolled peer is accepted both ways and messages flow both ways", async () => {
    const srv = await listen(a, "node-b");
    const dialled = await dialHa({ host: "127.0.0.1", port: srv.l.port, creds: b, peerName: "node-a" });
    const accepted = await srv.next();
    expect(dialled.peerName).toBe("node-a");
    expect(accepted.peerName).toBe("node-b");
    expect(accepted.remoteAddress).toBe("127.0.0.1");
    const atA = new Promise<[HaMessage, Uint8Array | undefined]>((r) => accepted.onMessage((m, body) => r([m, body])));
    const atB = new Promise<[HaMessage, Uint8Array | undefined]>((r) => dialled.onMessage((m, body) => r([m, body])));
    expect(dialled.send({ T: "Hello", from: "b" }, new Uint8Array([1, 2, 3]))).toBe(true);
    expect(accepted.send({ T: "Hello", from: "a" })).toBe(true);
    expect(await atA).toEqual([{ T: "Hello", from: "b" }, new Uint8Array([1, 2, 3])]);
    expect(await atB).toEqual([{ T: "Hello", from: "a" }, undefined]);

    // Close: each side hears of it exactly once; send then says false.
    const reasons: string[] = [];
    accepted.onClose((r) => reasons.push(`a:${r}`));
    const bClosed = closed(dialled);
    dialled.onClose((r) => reasons.push(`b:${r}`));
    dialled.close("test over");
    expect(await bClosed).toBe("test over");
    await closed(accepted);
    await Bun.sleep(20);
    expect(reasons.sort()).toEqual(["a:peer closed the connection", "b:test over"]);
    expect(dialled.send({ T: "Hb" })).toBe(false);
    // A late onClose still hears the reason once.
    expect(await closed(dialled)).toBe("test over");
  });

  test("a listener presenting a certificate of a foreign CA is refused by the dialler", async () => {
    const srv = await listen({ ...bForeign, caPem: foreignCa.certPem }, "node-a");
    await expect(dialHa({ host: "127.0.0.1", port: srv.l.port, creds: a, peerName: "node-b" })).rejects.toThrow(/dial HA peer node-b at 127\.0\.0\.1:\d+: .*(certificate|issuer)/i);
    expect(srv.conns).toHaveLength(0);
  });

  test("a dialler presenting a certificate of a foreign CA is refused by the listener, and says so", async () => {
    const { lines, log } = logSink();
    const srv = await listen(a, "node-b", log);
    await expect(dialHa({ host: "127.0.0.1", port: srv.l.port, creds: bForeign, peerName: "node-a" })).rejects.toThrow(/the peer did not accept this node: no certificate of the pair CA/);
    expect(srv.conns).toHaveLength(0);
    const refusals = lines.filter((l) => l.includes("HA connection refused"));
    expect(refusals).toHaveLength(1);
    expect(refusals[0]).toMatch(/kind=certificate .*reason="?no certificate of the pair CA/);
  });

  test("a certificate of the pair CA for the wrong node is refused, both ways", async () => {
    const srv = await listen(a, "node-b");
    await expect(dialHa({ host: "127.0.0.1", port: srv.l.port, creds: c, peerName: "node-a" })).rejects.toThrow(/did not accept this node: certificate names node "node-c", not the enrolled peer/);
    expect(srv.conns).toHaveLength(0);
    // The dialler expects node-b; node-c answers.
    const impostor = await listen(c, "node-a");
    await expect(dialHa({ host: "127.0.0.1", port: impostor.l.port, creds: a, peerName: "node-b" })).rejects.toThrow(/names node "node-c", not the enrolled peer "node-b"/);
    expect(impostor.conns).toHaveLength(0);
  });

  test("an unpaired listener accepts no one, and learns its peer from setPeerName", async () => {
    const srv = await listen(a, null);
    await expect(dialHa({ host: "127.0.0.1", port: srv.l.port, creds: b, peerName: "node-a" })).rejects.toThrow(/this node has no enrolled peer/);
    srv.l.setPeerName("node-b");
    const conn = await dialHa({ host: "127.0.0.1", port: srv.l.port, creds: b, peerName: "node-a" });
    expect((await srv.next()).peerName).toBe("node-b");
    conn.close();
  });

  test("an unauthenticated connection that sends anything but Enrol is closed, with one log line per source", async () => {
    const { lines, log } = logSink();
    const srv = await listen(a, "node-b", log);
    for (let i = 0; i < 3; i++) {
      const raw = await rawClient(srv.l.port);
      raw.socket.write(encodeFrame({ T: "Hello", node: "node-b" }));
      await raw.ended;
      expect(raw.frames).toEqual([{ T: "Unauthenticated", reason: expect.stringMatching(/^no certificate of the pair CA/) }]);
    }
    // The foreign-CA client too: same source, same kind, still one line.
    const raw = await rawClient(srv.l.port, bForeign);
    raw.socket.write(encodeFrame({ T: "Changes", list: [] }));
    await raw.ended;
    const refusals = lines.filter((l) => l.includes("HA connection refused"));
    expect(refusals).toHaveLength(1);
    expect(refusals[0]).toMatch(/remote=127\.0\.0\.1/);
    expect(refusals[0]).toMatch(/sent=Hello/);
    expect(srv.conns).toHaveLength(0);
  });

  test("an Enrol frame is refused when the listener takes no enrolments", async () => {
    const srv = await listen(a, "node-b");
    const raw = await rawClient(srv.l.port);
    raw.socket.write(encodeFrame({ T: "Enrol", secret: "x", nodeName: "n", csrPem: "", lanAddress: "127.0.0.1" }));
    await raw.ended;
    expect(raw.frames.at(-1)).toEqual({ T: "EnrolRefused", reason: "this node does not take enrolments now" });
  });
});

describe("framing on the wire", () => {
  test("a 100 MiB frame header closes the connection at once, before the bytes are sent", async () => {
    const srv = await listen(a, "node-b");
    const raw = await rawClient(srv.l.port, b);
    const accepted = await srv.next();
    const why = closed(accepted);
    // Only the two lengths: the listener must refuse from them, not wait for 100 MiB.
    const head = new Uint8Array(8);
    new DataView(head.buffer).setUint32(0, 100 * 1024 * 1024);
    new DataView(head.buffer).setUint32(4, 20);
    raw.socket.write(head);
    expect(await why).toBe("protocol error from node-b: frame length 104857600 is more than the limit of 67108864 bytes");
    await raw.ended;
  });

  test("before authentication the limit is 64 KiB", async () => {
    const srv = await listen(a, "node-b");
    const raw = await rawClient(srv.l.port);
    const head = new Uint8Array(8);
    new DataView(head.buffer).setUint32(0, 70 * 1024);
    raw.socket.write(head);
    await raw.ended;
    expect(raw.frames.map((f) => f.T)).toEqual(["Unauthenticated"]);
  });

  test("10,000 messages of mixed sizes arrive in order, with back-pressure visible while they queue", async () => {
    const srv = await listen(a, "node-b");
    const dialled = await dialHa({ host: "127.0.0.1", port: srv.l.port, creds: b, peerName: "node-a" });
    const accepted = await srv.next();
    const N = 10_000;
    let seed = 42;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    const sizes = Array.from({ length: N }, (_, i) => (i % 1000 === 999 ? 1024 * 1024 : rand() < 0.5 ? 0 : Math.floor(rand() * 20000)));
    const got: number[] = [];
    let bad = "";
    const all = new Promise<void>((resolve) =>
      accepted.onMessage((m, body) => {
        const i = m.i as number;
        const len = body?.length ?? 0;
        if (len !== sizes[i] || (len > 1 && body![0] !== (i & 255)) || (len > 0 && body![len - 1] !== ((i * 7) & 255))) bad ||= `message ${i}: body of ${len} bytes is wrong`;
        got.push(i);
        if (got.length === N) resolve();
      }),
    );
    let peak = 0;
    let total = 0;
    for (let i = 0; i < N; i++) {
      const len = sizes[i] as number;
      let body: Uint8Array | undefined;
      if (len > 0) {
        body = new Uint8Array(len);
        body[0] = i & 255;
        body[len - 1] = (i * 7) & 255;
      }
      total += len;
      expect(dialled.send({ T: "Chunk", i, pad: "p".repeat(i % 97) }, body)).toBe(true);
      peak = Math.max(peak, dialled.bufferedBytes);
    }
    await all;
    expect(bad).toBe("");
    expect(got).toEqual(Array.from({ length: N }, (_, i) => i));
    expect(peak).toBeGreaterThan(1024 * 1024);
    expect(total).toBeGreaterThan(50 * 1024 * 1024);
    for (let i = 0; i < 50 && dialled.bufferedBytes > 0; i++) await Bun.sleep(10);
    expect(dialled.bufferedBytes).toBe(0);
    dialled.close();
  });

  test("an urgent frame overtakes queued ones; a frame over the limit closes the connection with the reason", async () => {
    const srv = await listen(a, "node-b");
    const dialled = await dialHa({ host: "127.0.0.1", port: srv.l.port, creds: b, peerName: "node-a" });
    const accepted = await srv.next();
    const order: string[] = [];
    const done = new Promise<void>((r) =>
      accepted.onMessage((m) => {
        order.push(m.T);
        if (order.length === 202) r();
      }),
    );
    const big = new Uint8Array(1024 * 1024);
    for (let i = 0; i < 200; i++) dialled.send({ T: "File" }, big);
    dialled.send({ T: "Hb" }, undefined, { urgent: true });
    dialled.send({ T: "Last" });
    await done;
    expect(order.indexOf("Hb")).toBeLessThan(199);
    expect(order.at(-1)).toBe("Last");
    const why = closed(dialled);
    expect(dialled.send({ T: "Huge" }, new Uint8Array(65 * 1024 * 1024))).toBe(false);
    expect(await why).toMatch(/^send: encode frame Huge: \d+ bytes is more than the limit of 67108864$/);
  });

  test("messages sent right after the Welcome reach a handler registered later, in order", async () => {
    const srv = await listen(a, "node-b");
    const dialling = dialHa({ host: "127.0.0.1", port: srv.l.port, creds: b, peerName: "node-a" });
    const accepted = await srv.next();
    for (let i = 0; i < 5; i++) accepted.send({ T: "Early", i });
    const dialled = await dialling;
    await Bun.sleep(50);
    const seen: number[] = [];
    await new Promise<void>((r) =>
      dialled.onMessage((m) => {
        seen.push(m.i as number);
        if (seen.length === 5) r();
      }),
    );
    expect(seen).toEqual([0, 1, 2, 3, 4]);
    dialled.close();
  });

  test("a dial to a closed port or a silent peer fails with the address and the cause", async () => {
    const srv = await listen(a, "node-b");
    const port = srv.l.port;
    await srv.l.close();
    await expect(dialHa({ host: "127.0.0.1", port, creds: b, peerName: "node-a" })).rejects.toThrow(new RegExp(`dial HA peer node-a at 127\\.0\\.0\\.1:${port}: `));
    const net = await import("node:net");
    const held: import("node:net").Socket[] = [];
    const silent = net.createServer((s) => void held.push(s));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", () => r()));
    cleanups.push(() => {
      for (const s of held) s.destroy();
      silent.close();
    });
    const sport = (silent.address() as { port: number }).port;
    await expect(dialHa({ host: "127.0.0.1", port: sport, creds: b, peerName: "node-a", timeoutMs: 300 })).rejects.toThrow(/no answer within 300 ms/);
  });
});
