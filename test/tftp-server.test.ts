// The TFTP server on 127.0.0.1 against real clients (tftp-hpa, atftp, curl) and hand-made
// datagrams: byte-identical downloads, block rollover, errors, TID checks, malformed packets,
// EDK2's probe-then-download pattern replayed from a capture.
// Needs the Debian packages tftp-hpa, atftp and curl; tests for a missing client are skipped.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BootFile, FileSource } from "../src/files/file-source.ts";
import { createLogger } from "../src/log/logger.ts";
import { SocleError } from "../src/model/errors.ts";
import { readPcapUdp } from "../src/dhcp/codec/testdata/pcap.ts";
import { formatAck, formatError, formatRequest, parsePacket, type TftpPacket } from "../src/tftp/packet.ts";
import { startTftpServer, type TftpServer } from "../src/tftp/server.ts";

const have = (bin: string) => Bun.which(bin) !== null;

function pseudoRandom(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  const words = new Uint32Array(out.buffer, 0, n >>> 2);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  return out;
}

const FILES = new Map<string, Uint8Array>([
  ["small.bin", pseudoRandom(100_003, 1)],
  ["boot/ipxe.efi", pseudoRandom(1_000_000, 2)],
  ["exact.bin", pseudoRandom(1468 * 10, 3)],
  ["text.txt", new TextEncoder().encode("line one\nline two\r\nend\n")],
  // > 65535 blocks of 512: block numbers roll over.
  ["big.bin", pseudoRandom(65536 * 512 + 1_000_000, 4)],
]);
const STREAMED = pseudoRandom(300_001, 5);

const source: FileSource = {
  async get(path) {
    if (path === "broken.ipxe") throw new SocleError("ValidationError", "templates", "broken.ipxe", 'render "broken.ipxe": param "ntp-server" is missing');
    if (path === "streamed.bin") {
      // Unknown size: no tsize, chunks of odd sizes.
      return { size: undefined, read: () => chunked(STREAMED, 777) } satisfies BootFile;
    }
    const b = FILES.get(path);
    if (!b) return undefined;
    return { size: b.length, read: (s = 0, e = b.length) => chunked(b.subarray(s, e), 65536) } satisfies BootFile;
  },
};

function chunked(b: Uint8Array, size: number): ReadableStream<Uint8Array> {
  let off = 0;
  return new ReadableStream({
    pull(c) {
      if (off >= b.length) return c.close();
      c.enqueue(b.slice(off, off + size));
      off += size;
    },
  });
}

const lines: string[] = [];
const log = createLogger({ level: "debug", sink: (l) => void lines.push(l) });
let server: TftpServer;
let port = 0;
let dir = "";

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "socle-tftp-test-"));
  // A high port chosen from the pid so parallel suites rarely collide; retried on EADDRINUSE.
  for (let attempt = 0; attempt < 20 && !server; attempt++) {
    port = 20000 + ((process.pid * 7 + attempt * 131) % 30000);
    try {
      server = await startTftpServer({ port, listen: ["127.0.0.1"], source, log, retransmitMs: 300, maxTransfers: 8 });
    } catch {
      /* try another port */
    }
  }
  expect(server).toBeDefined();
});

afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function run(cmd: string[]): Promise<{ code: number; out: string }> {
  const p = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe", timeout: 60_000 });
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  return { code: await p.exited, out: out + err };
}

const outFile = (name: string) => join(dir, name.replace(/\//g, "_") + Math.random().toString(36).slice(2));

describe.skipIf(!have("tftp"))("tftp-hpa client", () => {
  test("binary download is byte-identical", async () => {
    const dest = outFile("small");
    const r = await run(["tftp", "127.0.0.1", String(port), "-m", "binary", "-c", "get", "small.bin", dest]);
    expect(r.code).toBe(0);
    expect(readFileSync(dest)).toEqual(Buffer.from(FILES.get("small.bin")!));
  });

  test("a file over 65535 blocks of 512 crosses the block-number rollover", async () => {
    const dest = outFile("big");
    const r = await run(["tftp", "127.0.0.1", String(port), "-m", "binary", "-c", "get", "big.bin", dest]);
    expect(r.code).toBe(0);
    const got = readFileSync(dest);
    expect(got.length).toBe(FILES.get("big.bin")!.length);
    expect(Buffer.compare(got, Buffer.from(FILES.get("big.bin")!))).toBe(0);
  }, 60_000);

  test("netascii mode: line ends survive the round trip", async () => {
    const dest = outFile("text");
    const r = await run(["tftp", "127.0.0.1", String(port), "-m", "netascii", "-c", "get", "text.txt", dest]);
    expect(r.code).toBe(0);
    expect(readFileSync(dest, "utf8")).toBe("line one\nline two\r\nend\n");
  });

  test("a missing file is reported as such", async () => {
    const r = await run(["tftp", "-v", "127.0.0.1", String(port), "-m", "binary", "-c", "get", "missing.bin", outFile("m")]);
    expect(r.out).toContain('file "missing.bin" not found');
  });

  test("WRQ is refused", async () => {
    const r = await run(["tftp", "127.0.0.1", String(port), "-m", "binary", "-c", "put", "/etc/hostname", "upload.bin"]);
    expect(r.out).toContain("write requests are not accepted");
  });
});

describe.skipIf(!have("atftp"))("atftp client", () => {
  for (const [name, opts] of [
    ["blksize 1468", ["--option", "blksize 1468"]],
    ["blksize 1468 windowsize 16", ["--option", "blksize 1468", "--option", "windowsize 16"]],
    ["tsize, windowsize 4", ["--option", "tsize", "--option", "windowsize 4"]],
  ] as const) {
    test(`${name}: byte-identical`, async () => {
      for (const file of ["boot/ipxe.efi", "exact.bin"]) {
        const dest = outFile(file);
        const r = await run(["atftp", ...opts, "-g", "-r", file, "-l", dest, "127.0.0.1", String(port)]);
        expect(r.code).toBe(0);
        expect(readFileSync(dest)).toEqual(Buffer.from(FILES.get(file)!));
      }
    });
  }

  test("content of unknown size streams (no tsize)", async () => {
    const dest = outFile("streamed");
    const r = await run(["atftp", "--option", "tsize", "--option", "blksize 1468", "-g", "-r", "streamed.bin", "-l", dest, "127.0.0.1", String(port)]);
    expect(r.code).toBe(0);
    expect(readFileSync(dest)).toEqual(Buffer.from(STREAMED));
  });
});

describe.skipIf(!have("curl"))("curl client", () => {
  test("blksize 1468 with backslashes and a leading slash in the path", async () => {
    const dest = outFile("curl");
    const r = await run(["curl", "-sS", "--tftp-blksize", "1468", "-o", dest, `tftp://127.0.0.1:${port}//boot%5Cipxe.efi`]);
    expect(r.code).toBe(0);
    expect(readFileSync(dest)).toEqual(Buffer.from(FILES.get("boot/ipxe.efi")!));
  });

  test("a template error reaches the client as ERROR 0 with its message", async () => {
    const r = await run(["curl", "-sS", "-o", "/dev/null", `tftp://127.0.0.1:${port}/broken.ipxe`]);
    expect(r.code).not.toBe(0);
    expect(lines.some((l) => l.includes("RRQ refused") && l.includes("ntp-server"))).toBe(true);
  });
});

/** A raw client socket collecting every datagram. */
async function rawClient() {
  const got: { p: TftpPacket; port: number }[] = [];
  const sock = await Bun.udpSocket({
    hostname: "127.0.0.1",
    binaryType: "uint8array",
    socket: { data: (_s, d, p) => void got.push({ p: parsePacket(d), port: p }) },
  });
  const waitFor = async (n: number, ms = 3000) => {
    for (let t = 0; t < ms / 5 && got.length < n; t++) await Bun.sleep(5);
    expect(got.length).toBeGreaterThanOrEqual(n);
    return got[n - 1]!;
  };
  return { sock, got, waitFor, send: (b: Uint8Array, to = port) => void sock.send(b, to, "127.0.0.1") };
}

describe("raw datagrams", () => {
  test("a packet from a wrong port gets ERROR 5 and the transfer completes", async () => {
    const c = await rawClient();
    const stranger = await rawClient();
    c.send(formatRequest("RRQ", "small.bin", "octet", [["blksize", "1468"]]));
    const oack = await c.waitFor(1);
    expect(oack.p).toEqual({ op: "OACK", options: [["blksize", "1468"]] });
    const tid = oack.port;
    expect(tid).not.toBe(port);
    c.send(formatAck(0), tid);
    stranger.send(formatAck(1), tid);
    const err = await stranger.waitFor(1);
    expect(err).toEqual({ p: { op: "ERROR", code: 5, message: "unknown transfer ID" }, port: tid });
    const data: Uint8Array[] = [];
    for (let b = 1; b < 200; b++) {
      const d = (await c.waitFor(b + 1)).p;
      if (d.op !== "DATA") throw new Error(`expected DATA, got ${d.op}`);
      expect(d.block).toBe(b);
      data.push(d.data);
      c.send(formatAck(b), tid);
      if (d.data.length < 1468) break;
    }
    expect(Buffer.concat(data)).toEqual(Buffer.from(FILES.get("small.bin")!));
    c.sock.close();
    stranger.sock.close();
  });

  test("malformed packets are dropped with a log line and nothing breaks", async () => {
    const c = await rawClient();
    const before = server.stats().dropped;
    c.send(Uint8Array.of(0));
    c.send(Uint8Array.of(0, 1, 65, 66)); // RRQ without terminators
    c.send(Uint8Array.of(0, 9, 0, 0));
    c.send(formatAck(3)); // ACK to the request port
    await Bun.sleep(50);
    expect(c.got).toEqual([]);
    expect(server.stats().dropped).toBe(before + 4);
    expect(lines.some((l) => l.includes("packet dropped") && l.includes("no NUL terminator"))).toBe(true);
    c.send(formatRequest("RRQ", "exact.bin", "octet"));
    expect((await c.waitFor(1)).p).toMatchObject({ op: "DATA", block: 1 });
    c.send(formatError(0, "done testing"), c.got[0]!.port);
    c.sock.close();
  });

  test("path escapes are refused with ERROR 2", async () => {
    const c = await rawClient();
    c.send(formatRequest("RRQ", "..\\..\\etc\\passwd", "octet"));
    expect((await c.waitFor(1)).p).toEqual({ op: "ERROR", code: 2, message: 'refuse path "..\\\\..\\\\etc\\\\passwd": ".." is not allowed' });
    c.sock.close();
  });

  test("unsupported mode gets ERROR 4", async () => {
    const c = await rawClient();
    c.send(formatRequest("RRQ", "small.bin", "mail"));
    expect((await c.waitFor(1)).p).toEqual({ op: "ERROR", code: 4, message: 'unsupported mode "mail"' });
    c.sock.close();
  });

  test("EDK2: tsize probe abandoned after the OACK (ERROR 8 or silence), then the real RRQ", async () => {
    const [probe, real] = readPcapUdp(readFileSync(join(import.meta.dir, "../src/tftp/testdata/uefi-edk2-tftp-requests.pcap"))).map((d) => d.payload);
    const served = async (fileLen: number, c: Awaited<ReturnType<typeof rawClient>>) => {
      const oack = await c.waitFor(1);
      expect(oack.p).toEqual({ op: "OACK", options: [["blksize", "1468"], ["windowsize", "4"]] });
      let total = 0;
      c.send(formatAck(0), oack.port);
      for (let b = 1, seen = 1; b < 10_000; b++) {
        const d = (await c.waitFor(++seen)).p;
        if (d.op !== "DATA") throw new Error(`expected DATA, got ${d.op}`);
        total += d.data.length;
        if (d.data.length < 1468) break;
        if (b % 4 === 0) c.send(formatAck(b), oack.port);
      }
      const last = c.got[c.got.length - 1]!.p as { block: number };
      c.send(formatAck(last.block), oack.port);
      expect(total).toBe(fileLen);
    };
    FILES.set("ipxe.efi", FILES.get("boot/ipxe.efi")!);
    const active0 = server.stats().active;
    for (const ending of ["error8", "silence"] as const) {
      const p = await rawClient();
      p.send(probe!);
      const oack = await p.waitFor(1);
      expect(oack.p).toEqual({ op: "OACK", options: [["tsize", "1000000"], ["blksize", "1468"], ["windowsize", "4"]] });
      if (ending === "error8") p.send(formatError(8, "tsize only"), oack.port);
      const c = await rawClient();
      c.send(real!);
      await served(1_000_000, c);
      c.sock.close();
      p.sock.close();
    }
    // The silent probe expires after a few OACK retransmissions (300 ms, 600 ms, 1200 ms here).
    for (let i = 0; i < 100 && server.stats().active > active0; i++) await Bun.sleep(50);
    expect(server.stats().active).toBe(active0);
    expect(server.stats().probes).toBeGreaterThanOrEqual(2);
  }, 20_000);

  test("the transfer cap answers ERROR 0 server busy", async () => {
    for (let i = 0; i < 100 && server.stats().active > 0; i++) await Bun.sleep(50);
    expect(server.stats().active).toBe(0);
    const clients = await Promise.all(Array.from({ length: 9 }, () => rawClient()));
    for (const c of clients) c.send(formatRequest("RRQ", "small.bin", "octet", [["tsize", "0"]]));
    for (const c of clients) await c.waitFor(1);
    const busy = clients.filter((c) => c.got[0]!.p.op === "ERROR");
    expect(busy.map((c) => c.got[0]!.p)).toEqual([{ op: "ERROR", code: 0, message: "server busy" }]);
    for (const c of clients) {
      if (c.got[0]!.p.op === "OACK") c.send(formatError(8, "bye"), c.got[0]!.port);
      c.sock.close();
    }
  });
});

/** Download `name` in lockstep (512-byte blocks, no options) through a raw client. */
async function rawDownload(name: string): Promise<Uint8Array> {
  const c = await rawClient();
  c.send(formatRequest("RRQ", name, "octet"));
  const data: Uint8Array[] = [];
  for (let b = 1; ; b++) {
    const got = await c.waitFor(b);
    if (got.p.op !== "DATA") throw new Error(`expected DATA, got ${got.p.op}`);
    data.push(got.p.data);
    c.send(formatAck(b), got.port);
    if (got.p.data.length < 512) break;
  }
  c.sock.close();
  return Buffer.concat(data);
}

test("stats count what happened; stop closes the listening socket", async () => {
  // This test makes what it counts: two downloads and two refusals (it does not rely on what
  // other tests, which may be skipped, have done). Transfers other tests ended may still be
  // winding down: wait for none, or the cap of 8 could answer "server busy".
  for (let i = 0; i < 100 && server.stats().active > 0; i++) await Bun.sleep(50);
  const before = server.stats();
  expect(before.active).toBe(0);
  expect(before.listening).toEqual([{ address: "127.0.0.1", port }]);
  expect(Buffer.from(await rawDownload("exact.bin"))).toEqual(Buffer.from(FILES.get("exact.bin")!));
  expect(Buffer.from(await rawDownload("text.txt"))).toEqual(Buffer.from(FILES.get("text.txt")!));
  const r = await rawClient();
  r.send(formatRequest("RRQ", "no-such-file", "octet"));
  expect((await r.waitFor(1)).p).toMatchObject({ op: "ERROR", code: 1 });
  r.send(formatRequest("RRQ", "small.bin", "mail"));
  expect((await r.waitFor(2)).p).toMatchObject({ op: "ERROR", code: 4 });
  r.sock.close();
  let s = server.stats();
  for (let i = 0; i < 40 && s.completed < before.completed + 2; i++) {
    await Bun.sleep(25);
    s = server.stats();
  }
  expect(s.completed).toBe(before.completed + 2);
  expect(s.refused).toBe(before.refused + 2);
  const other = await startTftpServer({ port: 0, listen: ["127.0.0.1"], source, log });
  const p = other.stats().listening[0]!.port;
  await other.stop();
  const again = await startTftpServer({ port: p, listen: ["127.0.0.1"], source, log });
  await again.stop();
  await expect(startTftpServer({ port, listen: ["127.0.0.1"], source, log })).rejects.toThrow(`listen on 127.0.0.1:${port} failed`);
});
