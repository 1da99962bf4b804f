import { setDefaultTimeout, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { connect as netConnect, type Socket } from "node:net";
import { connect, type TLSSocket } from "node:tls";
import { createLogger } from "../log/logger.ts";
import { buildCaCert, generateRsaKey } from "../pki/certs.ts";
import { certFingerprint, issueNodeCert } from "../pki/node-certs.ts";
import { FrameReader, encodeFrame, type HaMessage } from "./protocol.ts";
import {
  AdmissionGate,
  HANDSHAKE_TIMEOUT_MS,
  MAX_UNAUTHENTICATED,
  MAX_UNAUTHENTICATED_PER_SOURCE,
  PROBATION_MS,
  REFUSAL_LOG_MS,
  RefusalLog,
  dialHa,
  listenHa,
  sourceOf,
  type HaConnection,
  type HaListener,
  type NodeCredentials,
} from "./transport.ts";

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
/** A second certificate for each name, of the same CA: an old key, a backup, a node enrolled again. */
let aOld: NodeCredentials;
let bOld: NodeCredentials;
beforeAll(async () => {
  [pairCa, foreignCa] = await Promise.all([makeCa("Pair CA"), makeCa("Foreign CA")]);
  [a, b, c, aOld, bOld] = await Promise.all([makeNode("node-a", pairCa), makeNode("node-b", pairCa), makeNode("node-c", pairCa), makeNode("node-a", pairCa), makeNode("node-b", pairCa)]);
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

async function listen(
  creds: NodeCredentials,
  peerName: string | null,
  log = logSink().log,
  more: { peerCertSha256?: string; peerAddresses?: string[] } = {},
): Promise<{ l: HaListener; conns: HaConnection[]; next: () => Promise<HaConnection> }> {
  const conns: HaConnection[] = [];
  const waiters: Array<(c: HaConnection) => void> = [];
  const l = await listenHa({
    host: "127.0.0.1",
    port: 0,
    creds,
    peerName,
    log,
    ...more,
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

describe("pinned peer certificates", () => {
  test("a listener accepts only the pinned certificate: another of the same CA and name is refused with a line", async () => {
    const { lines, log } = logSink();
    const srv = await listen(a, "node-b", log, { peerCertSha256: certFingerprint(b.certPem) });
    await expect(dialHa({ host: "127.0.0.1", port: srv.l.port, creds: bOld, peerName: "node-a" })).rejects.toThrow(
      /the peer did not accept this node: certificate of node "node-b" is not the one pinned at enrolment \(sha256 [0-9a-f]{64}, pinned [0-9a-f]{64}\)/,
    );
    expect(srv.conns).toHaveLength(0);
    const refusals = lines.filter((l) => l.includes("HA connection refused"));
    expect(refusals).toHaveLength(1);
    expect(refusals[0]).toContain(`pinned ${certFingerprint(b.certPem)}`);
    expect(refusals[0]).toMatch(/kind=certificate .*enrol the pair again/);
    // The pinned one is accepted, and no warning about a missing pin was given.
    const conn = await dialHa({ host: "127.0.0.1", port: srv.l.port, creds: b, peerName: "node-a", peerCertSha256: certFingerprint(a.certPem) });
    expect((await srv.next()).peerName).toBe("node-b");
    conn.close();
    expect(lines.filter((l) => l.includes("not pinned"))).toEqual([]);
  });

  test("a dialler accepts only the pinned listener, and says so once a minute however often it dials", async () => {
    const { lines, log } = logSink();
    const old = await listen(aOld, "node-b");
    for (let i = 0; i < 3; i++) {
      await expect(dialHa({ host: "127.0.0.1", port: old.l.port, creds: b, peerName: "node-a", peerCertSha256: certFingerprint(a.certPem), log })).rejects.toThrow(
        new RegExp(`dial HA peer node-a at 127\\.0\\.0\\.1:${old.l.port}: certificate of node "node-a" is not the one pinned at enrolment`),
      );
    }
    expect(old.conns).toHaveLength(0);
    const refusals = lines.filter((l) => l.includes("HA peer refused"));
    expect(refusals).toHaveLength(1);
    expect(refusals[0]).toMatch(new RegExp(`remote=127\\.0\\.0\\.1:${old.l.port} kind=certificate peer=node-a`));
    // The pinned listener is accepted.
    const srv = await listen(a, "node-b");
    const conn = await dialHa({ host: "127.0.0.1", port: srv.l.port, creds: b, peerName: "node-a", peerCertSha256: certFingerprint(a.certPem), log });
    expect(conn.peerName).toBe("node-a");
    conn.close();
    // A pin that is no fingerprint is refused before dialling.
    await expect(dialHa({ host: "127.0.0.1", port: srv.l.port, creds: b, peerName: "node-a", peerCertSha256: "AB:CD" })).rejects.toThrow(/peer certificate pin: "AB:CD" is not a SHA-256 fingerprint/);
  });

  test("without a pin (a pair.json from before pinning) the name is enough, with one warning", async () => {
    const { lines, log } = logSink();
    const srv = await listen(a, "node-b", log);
    for (const creds of [b, bOld]) {
      const conn = await dialHa({ host: "127.0.0.1", port: srv.l.port, creds, peerName: "node-a" });
      await srv.next();
      conn.close();
    }
    srv.l.setPeerName("node-b");
    const warnings = lines.filter((l) => l.includes("WARN"));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/certificate is not pinned .*enrol the pair again to pin it peer=node-b/);
    // A pin set later (an answered enrolment) is enforced from then on.
    srv.l.setPeerName("node-b", certFingerprint(b.certPem));
    await expect(dialHa({ host: "127.0.0.1", port: srv.l.port, creds: bOld, peerName: "node-a" })).rejects.toThrow(/not the one pinned/);
  });
});

/** A TCP connection from `from` that never starts TLS: the cheapest way to hold a place. */
function tcpFrom(port: number, from: string): Promise<{ socket: Socket; closed: Promise<number> }> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: "127.0.0.1", port, localAddress: from });
    const t0 = Date.now();
    const closed = new Promise<number>((r) => socket.on("close", () => r(Date.now() - t0)));
    socket.on("error", () => {});
    socket.once("connect", () => resolve({ socket, closed }));
    socket.once("error", reject);
    cleanups.push(() => void socket.destroy());
  });
}

async function until(what: string, cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(10);
  }
}

/** MAX_UNAUTHENTICATED silent connections from 127.0.0.2 on, MAX_UNAUTHENTICATED_PER_SOURCE from each. */
async function flood(l: HaListener): Promise<Array<{ socket: Socket; closed: Promise<number> }>> {
  const held = [];
  for (let i = 0; i < MAX_UNAUTHENTICATED; i++) held.push(await tcpFrom(l.port, `127.0.0.${2 + Math.floor(i / MAX_UNAUTHENTICATED_PER_SOURCE)}`));
  await until("the flood to be counted", () => l.unauthenticated === MAX_UNAUTHENTICATED);
  return held;
}

describe("connections before authentication", () => {
  test("are limited in all and per source, destroyed at once past it, and the enrolled peer still connects", async () => {
    const { lines, log } = logSink();
    const srv = await listen(a, "node-b", log, { peerCertSha256: certFingerprint(b.certPem), peerAddresses: ["127.0.0.1"] });
    const held = await flood(srv.l);
    // One more from a source at its limit, and one from a new source: both cut at accept.
    const overSource = await tcpFrom(srv.l.port, "127.0.0.2");
    const overTotal = await tcpFrom(srv.l.port, "127.0.0.200");
    expect(await overSource.closed).toBeLessThan(HANDSHAKE_TIMEOUT_MS / 2);
    expect(await overTotal.closed).toBeLessThan(HANDSHAKE_TIMEOUT_MS / 2);
    expect(srv.l.unauthenticated).toBe(MAX_UNAUTHENTICATED);
    const limitLines = lines.filter((l) => l.includes("HA connection refused") && l.includes("kind=limit"));
    expect(limitLines).toHaveLength(2);
    expect(limitLines.join("\n")).toContain(`reason="${MAX_UNAUTHENTICATED_PER_SOURCE} unauthenticated connections from 127.0.0.2 are open (the limit per source)"`);
    expect(limitLines.join("\n")).toContain(`reason="${MAX_UNAUTHENTICATED} unauthenticated connections are open (the limit)"`);
    // More past the total from other sources: one line for all of them, counted in the next.
    for (let i = 0; i < 3; i++) await (await tcpFrom(srv.l.port, `127.0.0.${201 + i}`)).closed;
    expect(lines.filter((l) => l.includes("kind=limit"))).toHaveLength(2);

    // The partner dials from an address of its pair.json while the flood holds every place.
    const conn = await dialHa({ host: "127.0.0.1", port: srv.l.port, creds: b, peerName: "node-a", peerCertSha256: certFingerprint(a.certPem) });
    expect((await srv.next()).peerName).toBe("node-b");
    // Authenticated, it holds no place; the flood's places come back as it leaves.
    await until("the peer's place to be given back", () => srv.l.unauthenticated === MAX_UNAUTHENTICATED);
    for (const h of held) h.socket.destroy();
    await until("the flood's places to be given back", () => srv.l.unauthenticated === 0);
    conn.close();
  });

  test("an address the peer connected from is not turned away by the total", async () => {
    const srv = await listen(a, "node-b", logSink().log, { peerCertSha256: certFingerprint(b.certPem) });
    const first = await dialHa({ host: "127.0.0.1", port: srv.l.port, creds: b, peerName: "node-a" });
    await srv.next();
    first.close();
    await flood(srv.l);
    const again = await dialHa({ host: "127.0.0.1", port: srv.l.port, creds: b, peerName: "node-a" });
    expect((await srv.next()).peerName).toBe("node-b");
    again.close();
    // An address the peer never used is: the total applies to it.
    const stranger = await tcpFrom(srv.l.port, "127.0.0.100");
    expect(await stranger.closed).toBeLessThan(HANDSHAKE_TIMEOUT_MS / 2);
  });

  test("a silent connection is dropped after the handshake timeout, a silent TLS client after the probation", async () => {
    expect(HANDSHAKE_TIMEOUT_MS).toBeLessThanOrEqual(5000);
    expect(PROBATION_MS).toBeLessThanOrEqual(5000);
    const { lines, log } = logSink();
    const srv = await listen(a, "node-b", log);
    const tcp = await tcpFrom(srv.l.port, "127.0.0.2");
    const tls = await rawClient(srv.l.port);
    const tlsAt = Date.now();
    const [tcpMs] = await Promise.all([tcp.closed, tls.ended]);
    const tlsMs = Date.now() - tlsAt;
    expect(tcpMs).toBeGreaterThanOrEqual(HANDSHAKE_TIMEOUT_MS - 50);
    expect(tcpMs).toBeLessThan(HANDSHAKE_TIMEOUT_MS + 1000);
    expect(tlsMs).toBeGreaterThanOrEqual(PROBATION_MS - 50);
    expect(tlsMs).toBeLessThan(PROBATION_MS + 1000);
    expect(tls.frames.map((f) => f.T)).toEqual(["Unauthenticated"]);
    const refusals = lines.filter((l) => l.includes("HA connection refused"));
    expect(refusals.some((l) => /remote=127\.0\.0\.2 kind=handshake error="no TLS handshake within \d+ ms"/.test(l))).toBe(true);
    expect(refusals.some((l) => /remote=127\.0\.0\.1 kind=timeout .*error="no frame within \d+ ms"/.test(l))).toBe(true);
    await until("both places to be given back", () => srv.l.unauthenticated === 0);
  }, 20_000);
});

describe("AdmissionGate", () => {
  test("limits per source and in all; a known address passes the total only; release is once", () => {
    const gate = new AdmissionGate({ total: 3, perSource: 2 });
    const p1 = gate.admit("192.0.2.1", false);
    const p2 = gate.admit("192.0.2.1", false);
    expect(gate.admit("192.0.2.1", false)).toEqual({ refused: "2 unauthenticated connections from 192.0.2.1 are open (the limit per source)", limit: "source" });
    const p3 = gate.admit("192.0.2.2", false);
    expect(gate.admit("192.0.2.3", false)).toEqual({ refused: "3 unauthenticated connections are open (the limit)", limit: "total" });
    const known = gate.admit("192.0.2.9", true);
    expect("release" in known).toBe(true);
    expect(gate.count).toBe(4);
    if (!("release" in p1) || !("release" in p2) || !("release" in p3) || !("release" in known)) throw new Error("expected places");
    p1.release();
    p1.release();
    expect(gate.count).toBe(3);
    // 192.0.2.1 has a place again, the total is still full for strangers.
    expect(gate.admit("192.0.2.3", false)).toMatchObject({ limit: "total" });
    known.release();
    expect("release" in gate.admit("192.0.2.3", false)).toBe(true);
  });

  test("IPv6 sources are counted per /64", () => {
    expect(sourceOf("2001:db8:1:2:aaaa::1")).toBe("2001:db8:1:2::/64");
    expect(sourceOf("2001:db8:1:2:bbbb::2")).toBe("2001:db8:1:2::/64");
    expect(sourceOf("192.0.2.7")).toBe("192.0.2.7");
    const gate = new AdmissionGate({ total: 10, perSource: 1 });
    expect("release" in gate.admit("2001:db8:1:2::a", false)).toBe(true);
    expect(gate.admit("2001:db8:1:2::b", false)).toMatchObject({ limit: "source" });
    expect("release" in gate.admit("2001:db8:1:3::a", false)).toBe(true);
  });
});

describe("RefusalLog", () => {
  test("one line per source per minute, the held-back refusals counted in the next", () => {
    const lines: string[] = [];
    let clock = 1_000_000;
    const log = new RefusalLog(createLogger({ sink: (l) => lines.push(l) }), "HA connection refused", () => clock);
    for (let i = 0; i < 5; i++) log.refused("192.0.2.1", "enrol", { reason: `try ${i}` });
    log.refused("192.0.2.2", "enrol", { reason: "other" });
    expect(lines).toHaveLength(2);
    clock += REFUSAL_LOG_MS;
    log.refused("192.0.2.1", "enrol", { reason: "later" });
    expect(lines).toHaveLength(3);
    expect(lines[2]).toMatch(/remote=192\.0\.2\.1 kind=enrol reason=later alsoRefusedSinceLastLine=4$/);
  });

  test("a flood from more sources than it tells apart costs a bounded number of lines", () => {
    const lines: string[] = [];
    const log = new RefusalLog(createLogger({ sink: (l) => lines.push(l) }), "HA connection refused", () => 5);
    for (let i = 0; i < 5000; i++) log.refused(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, "limit", {});
    expect(lines.length).toBeGreaterThan(1000);
    expect(lines.length).toBeLessThanOrEqual(1025);
  });
});
