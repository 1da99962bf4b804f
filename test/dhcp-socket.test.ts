// Device-bound DHCP sockets and the DhcpServer on real (virtual) wires, inside namespaces this
// test creates. The server side runs in a child process inside the server namespace: this file
// re-runs itself as that child when SOCLE_DHCP_CHILD is set (a test process must not open DHCP
// sockets in the default namespace).
//
// Topology:  [ns cla] cla0 --veth-- sva0 (198.51.100.1/24) [ns srv] svb0 (203.0.113.1/24) --veth-- clb0 [ns clb]

import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../src/log/logger.ts";
import { MessageType } from "../src/dhcp/codec/message-type.ts";
import { BOOTREPLY, FLAG_BROADCAST, formatPacket, newPacket } from "../src/dhcp/codec/packet.ts";
import { DhcpServer } from "../src/dhcp/net/server.ts";
import { openDhcpSocket } from "../src/dhcp/net/socket.ts";
import type { DhcpHandler } from "../src/dhcp/net/handler-types.ts";
import { NetLab, needsRoot, type Spawned } from "./helpers/netns.ts";

// Namespaces, veths and child processes take seconds to set up on a loaded 2-core machine;
// hooks get the same room as tests.
setDefaultTimeout(60_000);

interface SocketChild {
  mode: "socket";
  iface?: string;
  port: number;
  fallback?: boolean;
  /** Answer every datagram with "reply-from-<iface>" to this address (port = the sender's). */
  replyTo?: string;
  /** Datagrams to send once ready, 100 ms apart: hex payloads. */
  sends?: { address: string; port: number; hex: string }[];
}
interface ServerChild {
  mode: "server";
  interfaces: string[];
  offer: Record<string, string>; // iface -> address offered
}
type ChildSpec = SocketChild | ServerChild;

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const T0 = Date.now();
/** One JSON line for the test process; `ms` (since the child started) dates it in failure dumps. */
const say = (o: Record<string, unknown>) => process.stdout.write(JSON.stringify({ ...o, ms: Date.now() - T0 }) + "\n");
/**
 * The one client whose requests make the server child's handler throw. Matched in full: a prefix
 * would also hit real clients, whose veth MACs are random unless a test sets them (a random MAC
 * starting with 0xee once made udhcpc's every DISCOVER a handler fault, and the test fail).
 */
const FAULTY_MAC = Uint8Array.of(0xee, 0, 0, 0, 0, 1);
/** Fixed client MACs: nothing in a run depends on what the kernel picks for a veth. */
const CLIENT_MAC = { a: "02:00:00:5c:03:01", b: "02:00:00:5c:03:02" };

async function socketChild(spec: SocketChild): Promise<void> {
  const log = createLogger({ level: "debug", sink: (l) => say({ log: l }) });
  const sock = await openDhcpSocket({
    iface: spec.iface,
    port: spec.port,
    log,
    forceFallback: spec.fallback,
    onMessage(data, from) {
      say({ recv: Buffer.from(data).toString("latin1"), from: `${from.address}:${from.port}` });
      if (spec.replyTo) sock.send(new TextEncoder().encode(`reply-from-${spec.iface}`), spec.replyTo, from.port);
    },
  });
  say({ ready: true, port: sock.port, bound: sock.bound });
  for (const s of spec.sends ?? []) {
    say({ sent: sock.send(Buffer.from(s.hex, "hex"), s.address, s.port) });
    await Bun.sleep(100);
  }
  await new Promise(() => {}); // until killed
}

async function serverChild(spec: ServerChild): Promise<void> {
  const log = createLogger({ level: "debug", sink: (l) => say({ log: l }) });
  // Echo-like: OFFER to DISCOVER, ACK to REQUEST, the interface's fixed address; broadcast replies.
  const handler: DhcpHandler = async (req, ctx) => {
    const type = req.options.getMessageType();
    const yiaddr = spec.offer[ctx.iface];
    if (!yiaddr || (type !== MessageType.DHCPDISCOVER && type !== MessageType.DHCPREQUEST)) return undefined;
    if (req.hlen === FAULTY_MAC.length && FAULTY_MAC.every((b, i) => req.chaddr[i] === b)) throw new Error("handler fault for this client");
    const packet = newPacket({ op: BOOTREPLY, xid: req.xid, flags: req.flags, chaddr: req.chaddr, htype: req.htype, yiaddr, siaddr: ctx.serverAddress });
    packet.options
      .setMessageType(type === MessageType.DHCPDISCOVER ? MessageType.DHCPOFFER : MessageType.DHCPACK)
      .setServerId(ctx.serverAddress)
      .setLeaseTime(600)
      .setSubnetMask("255.255.255.0");
    say({ handled: MessageType[type], iface: ctx.iface, serverAddress: ctx.serverAddress, ifaceCidr: ctx.ifaceCidr, localPort: ctx.localPort });
    return { packet, to: { address: "255.255.255.255", port: 68 } };
  };
  const server = new DhcpServer({ handler, log, interfaces: spec.interfaces, binlPort: 4011, pollMs: 200 });
  await server.start();
  say({ ready: true, stats: server.stats() });
  setInterval(() => say({ stats: server.stats() }), 300);
  await new Promise(() => {});
}

const childSpec = process.env.SOCLE_DHCP_CHILD;
if (childSpec) {
  const spec = JSON.parse(childSpec) as ChildSpec;
  await (spec.mode === "socket" ? socketChild(spec) : serverChild(spec));
} else {
  const skip = needsRoot() ?? (Bun.which("busybox") ? undefined : "needs busybox (udhcpc)");
  if (skip) console.log(`skip dhcp-socket.test.ts: ${skip}`);

  describe.skipIf(skip !== undefined)("DHCP sockets in namespaces", () => {
    const lab = new NetLab();
    let srv = "";
    let cla = "";
    let clb = "";
    const n = { sva: "", svb: "", cla: "", clb: "" };

    beforeAll(async () => {
      srv = await lab.ns("s");
      cla = await lab.ns("a");
      clb = await lab.ns("b");
      n.sva = lab.name("sva");
      n.svb = lab.name("svb");
      n.cla = lab.name("cla");
      n.clb = lab.name("clb");
      await lab.veth({ ns: srv, name: n.sva }, { ns: cla, name: n.cla });
      await lab.veth({ ns: srv, name: n.svb }, { ns: clb, name: n.clb });
      await lab.ip(cla, "link", "set", n.cla, "address", CLIENT_MAC.a);
      await lab.ip(clb, "link", "set", n.clb, "address", CLIENT_MAC.b);
      await lab.addr(srv, n.sva, "198.51.100.1/24");
      await lab.addr(srv, n.svb, "203.0.113.1/24");
      await lab.addr(cla, n.cla, "198.51.100.10/24");
      await lab.addr(clb, n.clb, "203.0.113.10/24");
    });
    afterAll(async () => {
      await lab.cleanup();
    });

    const child = (ns: string, spec: ChildSpec): Spawned =>
      lab.spawn(ns, [process.execPath, import.meta.path], { SOCLE_DHCP_CHILD: JSON.stringify(spec) });
    const lines = (s: Spawned) =>
      s
        .output()
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    const ascii = (s: string) => hex(new TextEncoder().encode(s));

    /** The last lines a child printed, without its periodic stats lines (but the last of them). */
    const tail = (s: Spawned, max = 80) => {
      const all = s.output().split("\n");
      const lastStats = all.findLastIndex((l) => l.startsWith('{"stats"'));
      return all
        .filter((l, i) => !l.startsWith('{"stats"') || i === lastStats)
        .slice(-max)
        .join("\n");
    };

    /**
     * Run a test body with the children it starts. They are killed (and awaited) when it ends, also
     * when an expectation fails, so nothing of one test is left listening in the next; on a failure,
     * what they and the commands noted printed goes to stderr before the error.
     */
    async function withChildren(
      body: (t: { child: (ns: string, spec: ChildSpec) => Spawned; note: (label: string, text: string) => void }) => Promise<void>,
    ): Promise<void> {
      const started: { label: string; s: Spawned }[] = [];
      const notes: string[] = [];
      try {
        await body({
          child: (ns, spec) => {
            const s = child(ns, spec);
            const what = spec.mode === "socket" ? `socket ${spec.iface ?? "0.0.0.0"}:${spec.port}` : `DhcpServer on ${spec.interfaces.join(",")}`;
            started.push({ label: `${what} in ${ns} (pid ${s.pid})`, s });
            return s;
          },
          note: (label, text) => notes.push(`--- ${label}:\n${text.trimEnd()}`),
        });
      } catch (err) {
        const dump = [...notes, ...started.map(({ label, s }) => `--- ${label}, output (tail):\n${tail(s)}`)];
        console.error(`dhcp-socket.test.ts: the test failed; what its processes printed:\n${dump.join("\n")}\n--- end`);
        throw err;
      } finally {
        for (const { s } of started) await s.kill();
      }
    }

    test("a socket bound to one interface hears only that segment, and its broadcast reply leaves by it", () =>
      withChildren(async ({ child }) => {
        const server = child(srv, { mode: "socket", iface: n.sva, port: 67, replyTo: "255.255.255.255" });
        await server.waitFor(/"ready":true.*"bound":"device"/);
        // Listeners on the client port of both segments: only segment A may hear the reply.
        const listenA = child(cla, { mode: "socket", iface: n.cla, port: 68 });
        const listenB = child(clb, { mode: "socket", iface: n.clb, port: 68 });
        await listenA.waitFor(/"ready":true/);
        await listenB.waitFor(/"ready":true/);
        const sendA = child(cla, { mode: "socket", iface: n.cla, port: 1068, sends: [{ address: "255.255.255.255", port: 67, hex: ascii("hello-from-a") }] });
        const sendB = child(clb, { mode: "socket", iface: n.clb, port: 1068, sends: [{ address: "255.255.255.255", port: 67, hex: ascii("hello-from-b") }] });
        await sendA.waitFor(/"sent":true/);
        await sendB.waitFor(/"sent":true/);
        await sendA.waitFor(/reply-from-/);
        await Bun.sleep(300);

        const heard = lines(server).filter((l) => l.recv).map((l) => `${l.recv} ${l.from}`);
        expect(heard).toEqual(["hello-from-a 198.51.100.10:1068"]);
        expect(lines(sendA).filter((l) => l.recv).map((l) => l.recv)).toEqual([`reply-from-${n.sva}`]);
        expect(lines(sendB).filter((l) => l.recv)).toEqual([]);
        expect(lines(listenB).filter((l) => l.recv)).toEqual([]);
      }),
    30_000);

    test("the unbound fallback socket hears every segment", () =>
      withChildren(async ({ child }) => {
        const server = child(srv, { mode: "socket", port: 67, fallback: true });
        await server.waitFor(/"ready":true.*"bound":"fallback"/);
        child(cla, { mode: "socket", iface: n.cla, port: 1068, sends: [{ address: "255.255.255.255", port: 67, hex: ascii("fb-a") }] });
        child(clb, { mode: "socket", iface: n.clb, port: 1068, sends: [{ address: "255.255.255.255", port: 67, hex: ascii("fb-b") }] });
        await server.waitFor(/fb-a/);
        await server.waitFor(/fb-b/);
      }),
    30_000);

    test("DhcpServer: udhcpc on each segment gets its own segment's address; bad input costs one log line", async () => {
      const dir = mkdtempSync(join(tmpdir(), "socle-udhcpc-"));
      try {
        await withChildren(async ({ child, note }) => {
          const script = join(dir, "script.sh");
          writeFileSync(script, '#!/bin/sh\necho "udhcpc-event $1 ip=$ip mask=$mask serverid=$serverid"\n');
          chmodSync(script, 0o755);
          const server = child(srv, { mode: "server", interfaces: [n.sva, n.svb], offer: { [n.sva]: "198.51.100.50", [n.svb]: "203.0.113.50" } });
          await server.waitFor(/"ready":true/);
          const started = lines(server).find((l) => l.ready) as { stats: { sockets: { iface: string; port: number; bound: string }[] } };
          expect(started.stats.sockets.map((s) => `${s.iface}:${s.port}:${s.bound}`).sort()).toEqual(
            [`${n.sva}:67`, `${n.sva}:68`, `${n.sva}:4011`, `${n.svb}:67`, `${n.svb}:68`, `${n.svb}:4011`].map((s) => `${s}:device`).sort(),
          );

          // Up to 6 DISCOVERs a second apart: the answer takes milliseconds, but a loaded machine may
          // make udhcpc retransmit, which the checks below allow.
          const udhcpc = async (ns: string, iface: string) => {
            const t0 = Date.now();
            const r = await lab.exec(ns, ["busybox", "udhcpc", "-i", iface, "-n", "-q", "-f", "-t", "6", "-T", "1", "-s", script], 20_000);
            note(`busybox udhcpc -i ${iface} in ${ns}: exit ${r.code} after ${Date.now() - t0} ms`, r.stdout + r.stderr);
            return r;
          };
          const [a, b] = await Promise.all([udhcpc(cla, n.cla), udhcpc(clb, n.clb)]);
          expect(a.stdout + a.stderr).toContain("udhcpc-event bound ip=198.51.100.50 mask=24 serverid=198.51.100.1");
          expect(b.stdout + b.stderr).toContain("udhcpc-event bound ip=203.0.113.50 mask=24 serverid=203.0.113.1");
          expect([a.code, b.code]).toEqual([0, 0]);

          // Each request udhcpc sent is handled once, on its own segment's interface: as many
          // DISCOVERs as it broadcast (more than one only when it retransmitted), then its REQUESTs.
          // A request handled twice (two socket sets on one interface) or on the other segment fails.
          const sent = (out: string) => [
            ...Array.from(out.matchAll(/broadcasting discover/g), () => "DHCPDISCOVER"),
            ...Array.from(out.matchAll(/broadcasting select/g), () => "DHCPREQUEST"),
          ];
          const handledOn = (iface: string) =>
            lines(server)
              .filter((l) => l.handled && l.iface === iface)
              .map((l) => l.handled);
          for (const [iface, r] of [[n.sva, a], [n.svb, b]] as const) {
            const want = sent(r.stdout + r.stderr);
            expect(want[0]).toBe("DHCPDISCOVER");
            expect(want.at(-1)).toBe("DHCPREQUEST");
            // The server printed its lines before answering, but this process may not have read them yet.
            for (let i = 0; i < 50 && handledOn(iface).length < want.length; i++) await Bun.sleep(20);
            expect(handledOn(iface)).toEqual(want);
          }
          expect(lines(server).find((l) => l.handled && l.iface === n.svb)).toMatchObject({ serverAddress: "203.0.113.1", ifaceCidr: "203.0.113.0/24", localPort: 67 });

          // Malformed input (a lying option length, 20 copies), a handler fault, and a foreign server's
          // replies (twice): one line per cause, and the server still answers afterwards.
          const bad = new Uint8Array(300);
          bad[0] = 1;
          bad[1] = 1;
          bad[2] = 6;
          bad.set([0x52, 0x54, 0, 1, 2, 3], 28);
          bad.set([99, 130, 83, 99, 53, 200, 1], 236); // option 53 claims 200 bytes
          const faulty = newPacket({ xid: 7, chaddr: FAULTY_MAC });
          faulty.options.setMessageType(MessageType.DHCPDISCOVER);
          const rogue = newPacket({ op: BOOTREPLY, xid: 9, flags: FLAG_BROADCAST, yiaddr: "198.51.100.77", chaddr: Uint8Array.of(2, 0, 0, 0, 0, 9) });
          rogue.options.setMessageType(MessageType.DHCPOFFER).setServerId("198.51.100.99");
          const sends = [
            ...Array.from({ length: 20 }, () => ({ address: "255.255.255.255", port: 67, hex: hex(bad) })),
            { address: "255.255.255.255", port: 67, hex: hex(formatPacket(faulty)) },
            { address: "255.255.255.255", port: 68, hex: hex(formatPacket(rogue)) },
            { address: "255.255.255.255", port: 68, hex: hex(formatPacket(rogue)) },
          ];
          child(cla, { mode: "socket", iface: n.cla, port: 1067, sends });
          await server.waitFor(/another DHCP server answers/, 15_000);
          await Bun.sleep(500);
          const logs = lines(server)
            .map((l) => l.log)
            .filter((l): l is string => typeof l === "string");
          const drops = logs.filter((l) => l.includes("dropped malformed DHCP packet"));
          expect(drops.length).toBeGreaterThanOrEqual(1);
          expect(drops.length).toBeLessThanOrEqual(5); // rateLimited's burst, not 20
          expect(drops[0]).toContain("mac=52:54:00:01:02:03");
          expect(drops[0]).toContain("reason=");
          // The faulty client's one DISCOVER, and no one else's request, made the handler throw.
          expect(logs.filter((l) => l.includes("DHCP handler failed"))).toEqual([expect.stringContaining("mac=ee:00:00:00:00:01")]);
          const rogueLines = logs.filter((l) => l.includes("another DHCP server answers"));
          expect(rogueLines).toHaveLength(1);
          expect(rogueLines[0]).toContain("server=198.51.100.99");
          expect(rogueLines[0]).toContain(`iface=${n.sva}`);
          const again = await udhcpc(cla, n.cla);
          expect(again.stdout + again.stderr).toContain("udhcpc-event bound ip=198.51.100.50");
        });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }, 60_000);

    test("DhcpServer opens sockets for an interface that appears and closes those of one that vanishes", () =>
      withChildren(async ({ child }) => {
        const late = lab.name("svc");
        const peer = lab.name("clc");
        const server = child(srv, { mode: "server", interfaces: [n.sva, late], offer: { [late]: "198.51.100.150" } });
        await server.waitFor(/"ready":true/);
        await server.waitFor(new RegExp(`interface \\\\"${late}\\\\" has no IPv4 address`));
        await lab.veth({ ns: srv, name: late }, { ns: cla, name: peer });
        await lab.addr(srv, late, "198.51.100.129/25");
        await server.waitFor(new RegExp(`interface appeared.*iface=${late}`), 5_000);
        await lab.ip(srv, "link", "del", late);
        await server.waitFor(new RegExp(`interface gone.*iface=${late}`), 5_000);
        await Bun.sleep(400);
        const last = lines(server)
          .filter((l) => l.stats)
          .at(-1) as { stats: { sockets: { iface: string }[] } };
        expect(last.stats.sockets.map((s) => s.iface)).not.toContain(late);
      }),
    30_000);
  });
}
