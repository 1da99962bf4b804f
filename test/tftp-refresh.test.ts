// TftpServer.refresh(): a listen set read from an injected list (as the local addresses would be),
// changed while the server runs. 127.0.0.2 stands for an address that appears, like the HA pair's
// VIP after `ip addr add`: Linux answers on all of 127.0.0.0/8 through lo.

import { afterAll, expect, test } from "bun:test";
import type { BootFile, FileSource } from "../src/files/file-source.ts";
import { createLogger } from "../src/log/logger.ts";
import { formatError, formatRequest, parsePacket, type TftpPacket } from "../src/tftp/packet.ts";
import { startTftpServer, type TftpServer } from "../src/tftp/server.ts";

const FILE = new TextEncoder().encode("#!ipxe\nchain http://198.51.100.10:8091/boot.ipxe\n");
const source: FileSource = {
  async get(path) {
    if (path !== "boot.ipxe") return undefined;
    return { size: FILE.length, read: () => new Blob([FILE]).stream() } satisfies BootFile;
  },
};

const lines: string[] = [];
const log = createLogger({ level: "debug", sink: (l) => void lines.push(l) });
const servers: TftpServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop();
});

/** A server on a free high port whose listen set is `list` (read at each sync); no polling unless asked. */
async function start(list: string[], pollMs = 3_600_000): Promise<{ server: TftpServer; port: number }> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = 20000 + ((process.pid * 13 + attempt * 137) % 30000);
    try {
      const server = await startTftpServer({ port, source, log, addresses: () => list, pollMs, workers: 0 });
      servers.push(server);
      return { server, port };
    } catch {
      // port taken: next
    }
  }
  throw new Error("no free port for the TFTP server");
}

/** Sends an RRQ for boot.ipxe to address:port; the first answer (with its source), or undefined after `ms`. */
async function rrq(address: string, port: number, ms = 700): Promise<{ p: TftpPacket; from: string } | undefined> {
  let got: { p: TftpPacket; from: string } | undefined;
  const sock = await Bun.udpSocket({
    hostname: "127.0.0.1",
    binaryType: "uint8array",
    socket: {
      data: (_s, d, p, from) => {
        if (got) return;
        got = { p: parsePacket(d), from };
        sock.send(formatError(0, "enough"), p, from); // end the transfer: only the first block matters
      },
      error: () => {}, // ICMP port unreachable when nothing listens: that is the "no answer" case
    },
  });
  try {
    sock.send(formatRequest("RRQ", "boot.ipxe", "octet"), port, address);
    for (let t = 0; t < ms / 10 && !got; t++) await Bun.sleep(10);
    return got;
  } finally {
    sock.close();
  }
}

const listening = (s: TftpServer) => s.stats().listening.map((l) => l.address).sort();

test("refresh binds an address that appeared and answers from it at once; a removed one is closed", async () => {
  const list = ["127.0.0.1"];
  const { server, port } = await start(list);
  expect(listening(server)).toEqual(["127.0.0.1"]);

  list.push("127.0.0.2");
  expect(await rrq("127.0.0.2", port)).toBeUndefined(); // not yet: the next poll is an hour away
  await server.refresh();
  expect(listening(server)).toEqual(["127.0.0.1", "127.0.0.2"]);
  const answer = await rrq("127.0.0.2", port);
  expect(answer?.p).toEqual({ op: "DATA", block: 1, data: FILE });
  expect(answer?.from).toBe("127.0.0.2"); // the reply leaves from the address the client used

  list.splice(list.indexOf("127.0.0.2"), 1);
  await server.refresh();
  expect(listening(server)).toEqual(["127.0.0.1"]);
  expect(await rrq("127.0.0.2", port)).toBeUndefined();
  expect((await rrq("127.0.0.1", port))?.p.op).toBe("DATA");
  expect(lines.some((l) => l.includes("stopped listening") && l.includes("address=127.0.0.2"))).toBe(true);
});

test("refreshes at once, and alongside the poll, bind each address once", async () => {
  const list = ["127.0.0.1"];
  const { server } = await start(list, 20);
  const before = lines.length;
  list.push("127.0.0.3", "127.0.0.4");
  await Promise.all([server.refresh(), server.refresh(), Bun.sleep(30).then(() => server.refresh())]);
  expect(listening(server)).toEqual(["127.0.0.1", "127.0.0.3", "127.0.0.4"]);
  const fresh = lines.slice(before);
  expect(fresh.filter((l) => / listening /.test(l) && l.includes("address=127.0.0.3")).length).toBe(1);
  expect(fresh.filter((l) => l.includes("failed"))).toEqual([]);
});

test("the poll reads the same injected list", async () => {
  const list = ["127.0.0.1"];
  const { server } = await start(list, 50);
  list.push("127.0.0.5");
  for (let t = 0; t < 100 && !listening(server).includes("127.0.0.5"); t++) await Bun.sleep(10);
  expect(listening(server)).toEqual(["127.0.0.1", "127.0.0.5"]);
});

test("refresh after stop does nothing", async () => {
  const list = ["127.0.0.1"];
  const { server } = await start(list);
  await server.stop();
  list.push("127.0.0.6");
  await server.refresh();
  expect(server.stats().listening).toEqual([]);
});
