import { setDefaultTimeout, afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, statSync, unlinkSync, writeFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildCaCert, generateRsaKey } from "../pki/certs.ts";
import { issueNodeCert } from "../pki/node-certs.ts";
import { checkPairState, haPaths, readNodeCredentials, readPairState, writeNodeCredentials, writePairState, type PairState } from "./pair-state.ts";

setDefaultTimeout(60_000);

const root = mkdtempSync(join(tmpdir(), "socle-ha-pair-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = () => mkdtempSync(join(root, `d${n++}-`));

const GOOD: PairState = { clusterId: "0b7e2d9c-3f1a-4c2b-9d8e-1f2a3b4c5d6e", nodeName: "node-a", slot: 0, peerName: "node-b", peerAddresses: ["192.0.2.2", "198.51.100.3"], vip: "198.51.100.10/24" };

describe("pair.json", () => {
  test("round trip, written atomically with no temporary file left", async () => {
    const dir = freshDir();
    expect(await readPairState(dir)).toBeUndefined();
    await writePairState(dir, GOOD);
    expect(await readPairState(dir)).toEqual(GOOD);
    expect(readdirSync(haPaths(dir).dir)).toEqual(["pair.json"]);
    expect(statSync(haPaths(dir).dir).mode & 0o777).toBe(0o700);
  });

  test("each bad field is named with its value", () => {
    const bad = (over: Record<string, unknown>) => () => checkPairState({ ...GOOD, ...over }, "pair.json");
    expect(bad({ slot: 2 })).toThrow("pair.json: field slot is 2, expected 0 or 1");
    expect(bad({ vip: "198.51.100.10" })).toThrow('pair.json: field vip is "198.51.100.10", expected an IPv4 address with a prefix length');
    expect(bad({ vip: "198.51.100.10/33" })).toThrow(/field vip is "198.51.100.10\/33"/);
    expect(bad({ peerAddresses: ["lan0"] })).toThrow('pair.json: field peerAddresses is ["lan0"], expected a list of IP addresses');
    expect(bad({ peerName: "node-a" })).toThrow('field peerName is "node-a", expected a name other than nodeName');
    expect(bad({ nodeName: "a b" })).toThrow('pair.json: field nodeName: "a b" is not a node name');
    expect(bad({ clusterId: undefined })).toThrow("pair.json: field clusterId is missing, expected an identifier");
    expect(() => checkPairState([], "pair.json")).toThrow("pair.json: expected a JSON object");
  });

  test("an unreadable file is an error naming it", async () => {
    const dir = freshDir();
    mkdirSync(haPaths(dir).dir);
    writeFileSync(haPaths(dir).pair, "{not json");
    await expect(readPairState(dir)).rejects.toThrow(new RegExp(`read ".*pair\\.json": not JSON`));
  });
});

describe("node credentials", () => {
  let ca: { certPem: string; keyPem: string };
  let node: { certPem: string; keyPem: string; caPem: string };
  let otherKey: string;
  beforeAll(async () => {
    const [k, nk, ok] = await Promise.all([generateRsaKey(2048), generateRsaKey(2048), generateRsaKey(2048)]);
    ca = { certPem: buildCaCert(k, "Pair CA"), keyPem: k.privateKeyPem };
    node = { certPem: issueNodeCert(nk.publicKeyPem, "node-b", ca).certPem, keyPem: nk.privateKeyPem, caPem: ca.certPem };
    otherKey = ok.privateKeyPem;
  });

  test("round trip; the key is 0600; the name comes from the certificate", async () => {
    const dir = freshDir();
    expect(await readNodeCredentials(dir)).toBeUndefined();
    await writeNodeCredentials(dir, node);
    expect(await readNodeCredentials(dir)).toEqual({ ...node, nodeName: "node-b" });
    expect(statSync(haPaths(dir).key).mode & 0o777).toBe(0o600);
  });

  test("a partial set or a key of another certificate is refused, naming the file", async () => {
    const dir = freshDir();
    await writeNodeCredentials(dir, node);
    unlinkSync(haPaths(dir).cert);
    await expect(readNodeCredentials(dir)).rejects.toThrow(/"[^"]*node\.pem" missing; enrol this node again/);
    await writeNodeCredentials(dir, { ...node, keyPem: otherKey });
    await expect(readNodeCredentials(dir)).rejects.toThrow(/key "[^"]*node-key\.pem" does not match certificate/);
    await writeNodeCredentials(dir, { ...node, certPem: ca.certPem, keyPem: ca.keyPem });
    await expect(readNodeCredentials(dir)).rejects.toThrow(/node\.pem" names no HA node/);
  });
});

describe("the peer's certificate pin", () => {
  const PIN = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

  test("is kept when present, and a pair.json from before pinning still reads", async () => {
    const dir = freshDir();
    await writePairState(dir, { ...GOOD, peerCertSha256: PIN });
    expect(await readPairState(dir)).toEqual({ ...GOOD, peerCertSha256: PIN });
    // Written by hand as an older Socle wrote it: no such field.
    writeFileSync(haPaths(dir).pair, JSON.stringify(GOOD));
    const legacy = await readPairState(dir);
    expect(legacy).toEqual(GOOD);
    expect(legacy && "peerCertSha256" in legacy).toBe(false);
  });

  test("a value that is not a SHA-256 fingerprint is named", () => {
    const bad = (v: unknown) => () => checkPairState({ ...GOOD, peerCertSha256: v }, "pair.json");
    expect(bad(PIN.toUpperCase())).toThrow(/^pair\.json: field peerCertSha256: "9F86D0.*" is not a SHA-256 fingerprint \(64 lower-case hex digits\)$/);
    expect(bad(PIN.slice(1))).toThrow(/field peerCertSha256: .* is not a SHA-256 fingerprint/);
    expect(bad(null)).toThrow("pair.json: field peerCertSha256: expected a string, got null");
  });
});
