import { setDefaultTimeout, afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, statSync, existsSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer } from "node:tls";
import { createLogger, nullLogger } from "../log/logger.ts";
import { buildCaCert, generateRsaKey, publicKeyPin } from "../pki/certs.ts";
import { certFingerprint, makeNodeKeyAndCsr } from "../pki/node-certs.ts";
import {
  ENROL_FAILURES_PER_WINDOW,
  ENROL_FAILURE_WINDOW_MS,
  ENROL_VALIDITY_MS,
  EnrolmentBook,
  base32,
  enrolAnswerer,
  ensureNodeCredentials,
  joinPair,
} from "./enrol.ts";
import { haPaths, readNodeCredentials, readPairState } from "./pair-state.ts";
import { dialHa, listenHa, type HaConnection, type HaListener } from "./transport.ts";
import type { EnrolRequest, HaMessage } from "./protocol.ts";

setDefaultTimeout(60_000);

const root = mkdtempSync(join(tmpdir(), "socle-ha-enrol-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = () => mkdtempSync(join(root, `d${n++}-`));

type Ca = { certPem: string; keyPem: string };
let ca: Ca;
let otherCa: Ca;
beforeAll(async () => {
  const [k1, k2] = await Promise.all([generateRsaKey(2048), generateRsaKey(2048)]);
  ca = { certPem: buildCaCert(k1, "Pair CA"), keyPem: k1.privateKeyPem };
  otherCa = { certPem: buildCaCert(k2, "Other CA"), keyPem: k2.privateKeyPem };
});

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

const VIP = "198.51.100.10/24";

/** The first node, unpaired, taking enrolments. */
async function firstNode(opts: { now?: () => number } = {}) {
  const dir = freshDir();
  const lines: string[] = [];
  const log = createLogger({ level: "info", sink: (l) => lines.push(l), subsystem: "ha" });
  const creds = await ensureNodeCredentials({ dataDir: dir, nodeName: "node-a", ca, log });
  const book = new EnrolmentBook({ caPem: ca.certPem });
  const conns: HaConnection[] = [];
  const enrolCalls: string[] = [];
  const answer = enrolAnswerer({ book, ca, dataDir: dir, nodeName: "node-a", vip: VIP, log, ...(opts.now ? { now: opts.now } : {}) });
  const listener: HaListener = await listenHa({
    host: "127.0.0.1",
    port: 0,
    creds,
    peerName: null,
    log,
    onConnection: (c) => void conns.push(c),
    onEnrol: (req, remote) => {
      enrolCalls.push(req.nodeName);
      return answer(req, remote);
    },
  });
  cleanups.push(() => listener.close());
  return { dir, creds, book, listener, conns, lines, enrolCalls, answer };
}

const join_ = (port: number, caPin: string, secret: string, dataDir: string, nodeName = "node-b") =>
  joinPair({ host: "127.0.0.1", port, caPin, secret, nodeName, dataDir, lanAddress: "127.0.0.2", timeoutMs: 5000 });

describe("enrolment over the wire", () => {
  test("a node joins, both record the pair, and the two then connect both ways", async () => {
    const a = await firstNode();
    const ticket = a.book.issue(Date.now());
    expect(ticket.secret).toMatch(/^[A-Z2-7]{52}$/);
    expect(ticket.caPin).toBe(publicKeyPin(ca.certPem));
    expect(ticket.expiresAt - Date.now()).toBeGreaterThan(ENROL_VALIDITY_MS - 5000);

    const bDir = freshDir();
    // Typed by a person: lower case, grouped with dashes.
    const typed = ticket.secret.toLowerCase().replace(/(.{4})/g, "$1-");
    const joined = await join_(a.listener.port, ticket.caPin, typed, bDir);
    const bCreds = await readNodeCredentials(bDir);
    // Each side pins the other's certificate: B the one A presented, A the one it issued.
    expect(joined).toEqual({
      clusterId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      nodeName: "node-b",
      slot: 1,
      peerName: "node-a",
      peerAddresses: ["127.0.0.1"],
      vip: VIP,
      peerCertSha256: certFingerprint(a.creds.certPem),
    });
    expect(await readPairState(bDir)).toEqual(joined);
    expect(await readPairState(a.dir)).toEqual({
      clusterId: joined.clusterId,
      nodeName: "node-a",
      slot: 0,
      peerName: "node-b",
      peerAddresses: ["127.0.0.2", "127.0.0.1"],
      vip: VIP,
      peerCertSha256: certFingerprint(bCreds!.certPem),
    });
    const p = haPaths(bDir);
    expect(statSync(p.key).mode & 0o777).toBe(0o600);
    expect(statSync(haPaths(a.dir).key).mode & 0o777).toBe(0o600);
    expect(bCreds?.nodeName).toBe("node-b");
    expect(bCreds?.caPem.trim()).toBe(ca.certPem.trim());
    // The key never left B: A's log and pair.json say nothing of it, and B's key is not A's.
    expect(readFileSync(p.key, "utf8")).not.toBe(a.creds.keyPem);
    expect(a.lines.join("\n")).not.toContain("PRIVATE KEY");
    expect(a.lines.some((l) => l.includes("HA node enrolled") && l.includes("node=node-b"))).toBe(true);

    // B dials A's listener, which learnt its peer from the enrolment.
    const bToA = await dialHa({ host: "127.0.0.1", port: a.listener.port, creds: bCreds!, peerName: "node-a", peerCertSha256: joined.peerCertSha256 });
    await Bun.sleep(20);
    const aSide = a.conns[0]!;
    expect(aSide.peerName).toBe("node-b");
    // And A dials a listener of B's.
    const bConns: HaConnection[] = [];
    const bListener = await listenHa({ host: "127.0.0.1", port: 0, creds: bCreds!, peerName: "node-a", peerCertSha256: joined.peerCertSha256, log: nullLogger, onConnection: (c) => void bConns.push(c) });
    cleanups.push(() => bListener.close());
    const aToB = await dialHa({ host: "127.0.0.1", port: bListener.port, creds: a.creds, peerName: "node-b", peerCertSha256: (await readPairState(a.dir))?.peerCertSha256 });
    await Bun.sleep(20);

    const recv = (c: HaConnection) => new Promise<HaMessage>((r) => c.onMessage((m) => r(m)));
    const r1 = recv(aSide);
    const r2 = recv(bToA);
    const r3 = recv(bConns[0]!);
    const r4 = recv(aToB);
    bToA.send({ T: "Ping", from: "b" });
    aSide.send({ T: "Pong", from: "a" });
    aToB.send({ T: "Ping", from: "a" });
    bConns[0]!.send({ T: "Pong", from: "b" });
    expect(await Promise.all([r1, r2, r3, r4])).toEqual([
      { T: "Ping", from: "b" },
      { T: "Pong", from: "a" },
      { T: "Ping", from: "a" },
      { T: "Pong", from: "b" },
    ]);
    bToA.close();
    aToB.close();

    // The secret is spent: a second join with it is refused, and writes nothing.
    const cDir = freshDir();
    await expect(join_(a.listener.port, ticket.caPin, ticket.secret, cDir, "node-c")).rejects.toThrow(/refused the enrolment: the enrolment secret was already used at /);
    expect(existsSync(haPaths(cDir).dir)).toBe(false);
    // A joined node refuses to join again.
    await expect(join_(a.listener.port, ticket.caPin, ticket.secret, bDir)).rejects.toThrow(/already enrolled/);
  });

  test("a re-enrolment replaces the pin: the earlier certificate of the same name is refused", async () => {
    const a = await firstNode();
    const first = freshDir();
    const firstTicket = a.book.issue(Date.now());
    await join_(a.listener.port, firstTicket.caPin, firstTicket.secret, first);
    const oldCreds = (await readNodeCredentials(first))!;
    // node-b enrolled again, from a fresh data directory (a rebuilt machine): a new key and certificate.
    const second = freshDir();
    const ticket = a.book.issue(Date.now());
    const rejoined = await join_(a.listener.port, ticket.caPin, ticket.secret, second);
    const newCreds = (await readNodeCredentials(second))!;
    expect((await readPairState(a.dir))?.peerCertSha256).toBe(certFingerprint(newCreds.certPem));
    expect(rejoined.peerCertSha256).toBe(certFingerprint(a.creds.certPem));
    // The old key has the CA's signature and the name, and is refused all the same.
    await expect(dialHa({ host: "127.0.0.1", port: a.listener.port, creds: oldCreds, peerName: "node-a" })).rejects.toThrow(/certificate of node "node-b" is not the one pinned at enrolment/);
    expect(a.lines.some((l) => l.includes("HA connection refused") && l.includes("not the one pinned"))).toBe(true);
    const conn = await dialHa({ host: "127.0.0.1", port: a.listener.port, creds: newCreds, peerName: "node-a", peerCertSha256: rejoined.peerCertSha256 });
    conn.close();
    expect(a.conns.map((c) => c.peerName)).toEqual(["node-b"]);
  });

  test("refused enrolments cost one log line per source per minute, also past the rate limit", async () => {
    const a = await firstNode();
    const ticket = a.book.issue(Date.now());
    for (let i = 0; i < ENROL_FAILURES_PER_WINDOW + 3; i++) {
      await expect(join_(a.listener.port, ticket.caPin, base32(new Uint8Array(32).fill(i)), freshDir())).rejects.toThrow(/refused the enrolment: (the enrolment secret is not one|too many refused)/);
    }
    const warnings = a.lines.filter((l) => l.includes("WARN"));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/HA connection refused remote=127\.0\.0\.1 kind=enrol node=node-b reason="the enrolment secret is not one this node issued/);
  });

  test("a wrong CA pin is refused before the secret is sent", async () => {
    const a = await firstNode();
    const ticket = a.book.issue(Date.now());
    const dir = freshDir();
    await expect(join_(a.listener.port, publicKeyPin(otherCa.certPem), ticket.secret, dir)).rejects.toThrow(/did not present the pinned CA .*the secret was not sent/);
    expect(a.enrolCalls).toEqual([]);
    expect(existsSync(haPaths(dir).dir)).toBe(false);

    // Stronger: a TLS server that records every byte it gets sees none.
    const received: Buffer[] = [];
    const spy = createServer({ cert: `${a.creds.certPem}${otherCa.certPem}`, key: a.creds.keyPem }, (s) => {
      s.on("data", (d: Buffer) => received.push(d));
      s.on("error", () => {});
    });
    await new Promise<void>((r) => spy.listen(0, "127.0.0.1", () => r()));
    cleanups.push(() => void spy.close());
    const port = (spy.address() as { port: number }).port;
    await expect(join_(port, ticket.caPin, ticket.secret, dir)).rejects.toThrow(/did not present the pinned CA/);
    await Bun.sleep(50);
    expect(Buffer.concat(received).length).toBe(0);
  });

  test("a wrong secret and an expired one are refused with their reason", async () => {
    let clock = Date.now();
    const a = await firstNode({ now: () => clock });
    const ticket = a.book.issue(clock);
    await expect(join_(a.listener.port, ticket.caPin, base32(new Uint8Array(32)), freshDir())).rejects.toThrow(/refused the enrolment: the enrolment secret is not one this node issued/);
    clock += ENROL_VALIDITY_MS;
    await expect(join_(a.listener.port, ticket.caPin, ticket.secret, freshDir())).rejects.toThrow(/refused the enrolment: the enrolment secret expired at .* \(valid 15 minutes\)/);
    expect(existsSync(haPaths(a.dir).pair)).toBe(false);
  });

  test("the joiner may not take the first node's name", async () => {
    const a = await firstNode();
    const ticket = a.book.issue(Date.now());
    await expect(join_(a.listener.port, ticket.caPin, ticket.secret, freshDir(), "node-a")).rejects.toThrow(/nodeName "node-a" is the answering node's own name/);
    // The secret was not spent on a refused request.
    await join_(a.listener.port, ticket.caPin, ticket.secret, freshDir());
  });

  test("join checks its own arguments before dialling", async () => {
    const dir = freshDir();
    const base = { host: "127.0.0.1", port: 1, caPin: publicKeyPin(ca.certPem), secret: "ABC", nodeName: "node-b", dataDir: dir, lanAddress: "127.0.0.2" };
    await expect(joinPair({ ...base, nodeName: "-x" })).rejects.toThrow(/join: nodeName "-x" is not a node name/);
    await expect(joinPair({ ...base, caPin: "sha256//short" })).rejects.toThrow(/caPin "sha256\/\/short" is not a pin/);
    await expect(joinPair({ ...base, secret: " - " })).rejects.toThrow(/secret is empty/);
    await expect(joinPair({ ...base, lanAddress: "lan0" })).rejects.toThrow(/lanAddress "lan0" is not an IP address/);
  });
});

describe("the answering side", () => {
  const req = async (over: Partial<EnrolRequest> = {}): Promise<EnrolRequest> => ({
    T: "Enrol",
    secret: "",
    nodeName: "node-b",
    csrPem: (await makeNodeKeyAndCsr(over.nodeName && /^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$/.test(over.nodeName) ? over.nodeName : "node-b")).csrPem,
    lanAddress: "192.0.2.2",
    ...over,
  });

  test("refuses bad names, addresses and CSRs, and every refusal costs the source a try", async () => {
    const dir = freshDir();
    const book = new EnrolmentBook({ caPem: ca.certPem });
    let clock = 1_000_000;
    const answer = enrolAnswerer({ book, ca, dataDir: dir, nodeName: "node-a", vip: VIP, log: nullLogger, now: () => clock });
    const secret = book.issue(clock).secret;
    const refused = async (r: EnrolRequest) => {
      const a = await answer(r, "::ffff:192.0.2.9");
      return a.T === "EnrolRefused" ? a.reason : "enrolled";
    };
    expect(await refused(await req({ secret, nodeName: "bad/name" }))).toMatch(/^nodeName: "bad\/name" is not a node name/);
    expect(await refused(await req({ secret, lanAddress: "eth0" }))).toBe('lanAddress "eth0" is not an IP address');
    expect(await refused(await req({ secret, csrPem: "junk" }))).toMatch(/^csrPem: expected a PEM block/);
    expect(await refused(await req({ secret, nodeName: "node-a" }))).toMatch(/own name/);
    expect(await refused(await req({ secret: "WRONG" }))).toMatch(/not one this node issued/);
    expect(ENROL_FAILURES_PER_WINDOW).toBe(5);
    // Five refusals: the source is turned away unheard, even with the right secret.
    expect(await refused(await req({ secret }))).toMatch(/^too many refused enrolment attempts from 192\.0\.2\.9 \(5 in 10 minutes\); try again in \d+ s$/);
    // Another source is not.
    const other = await answer(await req({ secret }), "192.0.2.10");
    expect(other.T).toBe("Enrolled");
    // And once the window has passed, the first may try again (the secret is spent now).
    clock += ENROL_FAILURE_WINDOW_MS;
    expect(await refused(await req({ secret }))).toMatch(/already used/);
  });
});

describe("EnrolmentBook", () => {
  test("a secret is good once, within its validity, and only as issued", () => {
    const book = new EnrolmentBook({ caPem: ca.certPem, validityMs: 1000 });
    const t0 = 5_000_000;
    const s1 = book.issue(t0).secret;
    const s2 = book.issue(t0).secret;
    expect(s1).not.toBe(s2);
    expect(book.redeem(s1, "198.51.100.31", t0 + 999)).toEqual({ ok: true });
    expect(book.redeem(s1, "198.51.100.31", t0 + 999)).toEqual({ ok: false, reason: expect.stringMatching(/already used at 1970-01-01T01:23:20\.999Z/) });
    expect(book.redeem(s2, "198.51.100.32", t0 + 1000)).toEqual({ ok: false, reason: expect.stringMatching(/expired at 1970-01-01T01:23:21\.000Z/) });
    expect(book.redeem(s2.slice(0, -1) + (s2.endsWith("A") ? "B" : "A"), "198.51.100.33", t0)).toEqual({ ok: false, reason: expect.stringMatching(/not one this node issued/) });
    // Only hashes are kept.
    expect(JSON.stringify(Object.values(book))).not.toContain(s1);
  });

  test("the rate limit counts failures per source within the window", () => {
    const book = new EnrolmentBook({ caPem: ca.certPem });
    const t0 = 10_000_000;
    const good = book.issue(t0).secret;
    for (let i = 0; i < ENROL_FAILURES_PER_WINDOW; i++) expect(book.redeem("nope", "198.51.100.31", t0 + i).ok).toBe(false);
    expect(book.admit("198.51.100.31", t0 + 10)).toMatch(/too many refused enrolment attempts from 198\.51\.100\.31/);
    expect(book.redeem(good, "198.51.100.31", t0 + 10)).toEqual({ ok: false, reason: expect.stringMatching(/too many/) });
    expect(book.admit("198.51.100.31", t0 + ENROL_FAILURE_WINDOW_MS)).toBeUndefined();
    expect(book.redeem(good, "198.51.100.31", t0 + ENROL_FAILURE_WINDOW_MS)).toEqual({ ok: true });
  });

  test("base32 is RFC 4648's", () => {
    const b = (s: string) => base32(new TextEncoder().encode(s));
    expect([b(""), b("f"), b("fo"), b("foo"), b("foob"), b("fooba"), b("foobar")]).toEqual(["", "MY", "MZXQ", "MZXW6", "MZXW6YQ", "MZXW6YTB", "MZXW6YTBOI"]);
  });
});

describe("ensureNodeCredentials", () => {
  test("keeps good credentials, remakes them for another name or CA", async () => {
    const dir = freshDir();
    const first = await ensureNodeCredentials({ dataDir: dir, nodeName: "node-a", ca, log: nullLogger });
    const again = await ensureNodeCredentials({ dataDir: dir, nodeName: "node-a", ca, log: nullLogger });
    expect(again).toEqual(first);
    const renamed = await ensureNodeCredentials({ dataDir: dir, nodeName: "node-z", ca, log: nullLogger });
    expect(renamed.nodeName).toBe("node-z");
    expect(renamed.keyPem).not.toBe(first.keyPem);
    const moved = await ensureNodeCredentials({ dataDir: dir, nodeName: "node-z", ca: otherCa, log: nullLogger });
    expect(moved.caPem).toBe(otherCa.certPem);
    expect(await readNodeCredentials(dir)).toEqual(moved);
  });
});
