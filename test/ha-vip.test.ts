// The HA pair's virtual IP on a real (virtual) wire: two namespaces joined by a veth, A holding
// the VIP through src/ha/vip.ts in a child process, B watching as a LAN neighbour would:
// - the gratuitous ARPs reach B, byte for byte, at 0, 0.5 and 2 s, and move B's stale neighbour
//   entry (the old holder's MAC) to A's MAC without B sending anything;
// - B reaches the VIP (ICMP and a UDP echo answered from the VIP);
// - kill -9 of the holder's whole process group: the guard removes the VIP within 500 ms;
// - release() removes it and stops the guard; a later normal death leaves nothing behind either;
// - without CAP_NET_RAW, sending a gratuitous ARP fails with an error that says so.
//
// This file re-runs itself as the child (SOCLE_HA_VIP_CHILD): the test process never touches an
// address or sends ARP in the default namespace.
//
// Topology:  [ns A] hva0 02:00:00:5c:0a:01 198.51.100.1/24 (+ VIP .10) --veth-- hvb0 02:00:00:5c:0a:02 198.51.100.2/24 [ns B]

import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { readFileSync } from "node:fs";
import { createLogger } from "../src/log/logger.ts";
import { VirtualIp } from "../src/ha/vip.ts";
import { gratuitousArpFrame, sendGratuitousArp } from "../src/sys/arp.ts";
import { NetLab, needsRoot, type Spawned } from "./helpers/netns.ts";

setDefaultTimeout(60_000);

const VIP = "198.51.100.10";
const CIDR = `${VIP}/24`;
const MAC_A = "02:00:00:5c:0a:01";
const MAC_B = "02:00:00:5c:0a:02";
/** The MAC B's cache holds for the VIP before A takes it: the previous holder's. */
const MAC_OLD = "02:00:00:5c:0a:99";
const ECHO_PORT = 7007;

type ChildSpec =
  | { mode: "holder"; iface: string }
  | { mode: "udp-probe" }
  | { mode: "garp"; iface: string };

const T0 = Date.now();
const say = (o: Record<string, unknown>) => process.stdout.write(JSON.stringify({ ...o, ms: Date.now() - T0 }) + "\n");

/** Holds the VIP with a UDP echo on it; SIGUSR1 toggles release / acquire. */
async function holder(iface: string): Promise<void> {
  const log = createLogger({ level: "debug", sink: (l) => say({ log: l }) });
  const vip = new VirtualIp({ cidr: CIDR, iface, log });
  let echo: Bun.udp.Socket<"uint8array"> | undefined;
  const take = async () => {
    await vip.acquire();
    // Bound right after acquire, as the TFTP server's refresh() binds VIP:69.
    echo = await Bun.udpSocket({ hostname: VIP, port: ECHO_PORT, binaryType: "uint8array", socket: { data: (s, d, p, a) => void s.send(d, p, a) } });
    say({ acquired: true, guardPid: vip.guardPid });
  };
  let busy = false;
  process.on("SIGUSR1", () => {
    if (busy) return;
    busy = true;
    const step = vip.held()
      ? (async () => {
          echo?.close();
          await vip.release();
          say({ released: true, held: vip.held() });
        })()
      : take();
    step.catch((e) => say({ error: String(e) })).finally(() => (busy = false));
  });
  await take();
  setInterval(() => {}, 60_000);
}

/** From B: one datagram to VIP:ECHO_PORT; prints who answered. */
async function udpProbe(): Promise<void> {
  let answered: { from: string; text: string } | undefined;
  const sock = await Bun.udpSocket({ binaryType: "uint8array", socket: { data: (_s, d, _p, from) => void (answered = { from, text: new TextDecoder().decode(d) }) } });
  for (let i = 0; i < 20 && !answered; i++) {
    sock.send(new TextEncoder().encode("ping-vip"), ECHO_PORT, VIP);
    await Bun.sleep(100);
  }
  say({ answered: answered ?? null });
  sock.close();
}

const childSpec = process.env.SOCLE_HA_VIP_CHILD;
if (childSpec) {
  const spec = JSON.parse(childSpec) as ChildSpec;
  if (spec.mode === "holder") await holder(spec.iface);
  else if (spec.mode === "udp-probe") await udpProbe();
  else {
    try {
      say({ garp: await sendGratuitousArp(spec.iface, VIP) });
    } catch (e) {
      say({ error: (e as Error).message });
    }
  }
} else {
  const skip =
    needsRoot() ??
    (Bun.which("tcpdump") ? undefined : "needs tcpdump") ??
    (Bun.which("setsid") && Bun.which("setpriv") ? undefined : "needs util-linux (setsid, setpriv)");
  if (skip) console.log(`skip ha-vip.test.ts: ${skip}`);

  describe.skipIf(skip !== undefined)("VIP in namespaces", () => {
    const lab = new NetLab();
    let nsA = "";
    let nsB = "";
    let ifA = "";
    let ifB = "";
    const extra: Bun.Subprocess[] = [];

    beforeAll(async () => {
      nsA = await lab.ns("va");
      nsB = await lab.ns("vb");
      ifA = "hva0";
      ifB = "hvb0";
      await lab.veth({ ns: nsA, name: ifA }, { ns: nsB, name: ifB });
      await lab.ip(nsA, "link", "set", ifA, "address", MAC_A);
      await lab.ip(nsB, "link", "set", ifB, "address", MAC_B);
      await lab.addr(nsA, ifA, "198.51.100.1/24");
      await lab.addr(nsB, ifB, "198.51.100.2/24");
      // B has talked to the previous holder: its entry for the VIP points at that MAC.
      await lab.ip(nsB, "neigh", "replace", VIP, "lladdr", MAC_OLD, "dev", ifB, "nud", "stale");
    });

    afterAll(async () => {
      for (const p of extra) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
      await lab.cleanup();
    });

    /** A child of this file in a namespace, in its own session (so its whole group can be killed). */
    const child = (ns: string, spec: ChildSpec): Spawned =>
      lab.spawn(ns, ["setsid", process.execPath, import.meta.path], { SOCLE_HA_VIP_CHILD: JSON.stringify(spec) });

    const vipOnA = async () => / 198\.51\.100\.10\/24 /.test(await lab.ip(nsA, "-4", "-o", "addr", "show", "dev", ifA));

    const running = (pid: number) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
        return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
      } catch {
        return false;
      }
    };
    const sessionOf = (pid: number) => {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[3]);
    };

    async function until(what: string, ok: () => boolean | Promise<boolean>, timeoutMs: number): Promise<number> {
      const t0 = performance.now();
      while (!(await ok())) {
        if (performance.now() - t0 > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
        await Bun.sleep(5);
      }
      return performance.now() - t0;
    }

    const lastJson = (s: Spawned, key: string) => {
      const line = s.output().split("\n").filter((l) => l.includes(`"${key}"`)).pop();
      return line ? (JSON.parse(line) as Record<string, unknown>) : undefined;
    };

    /** tcpdump in `ns` writing pcap to stdout, exiting after `count` packets; resolves once it listens. */
    async function capture(ns: string, iface: string, count: number, filter: string) {
      const proc = Bun.spawn(["ip", "netns", "exec", ns, "tcpdump", "-i", iface, "-n", "-U", "-w", "-", "-c", String(count), filter], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
      extra.push(proc);
      const bytes = new Response(proc.stdout).arrayBuffer();
      let err = "";
      const errDone = (async () => {
        for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) err += new TextDecoder().decode(chunk);
      })();
      await until("tcpdump listening", () => err.includes("listening on") || proc.exitCode !== null, 10_000);
      if (proc.exitCode !== null) throw new Error(`tcpdump exited: ${err}`);
      return {
        async packets(timeoutMs: number): Promise<{ t: number; data: Uint8Array }[]> {
          const timer = setTimeout(() => proc.kill("SIGTERM"), timeoutMs);
          await proc.exited;
          clearTimeout(timer);
          await errDone;
          return readPcap(new Uint8Array(await bytes));
        },
      };
    }

    test("(a) gratuitous ARPs reach the neighbour at 0, 0.5 and 2 s and move its cache entry to A's MAC; (b) the VIP answers", async () => {
      const cap = await capture(nsB, ifB, 6, `arp host ${VIP}`);
      const a = child(nsA, { mode: "holder", iface: ifA });
      await a.waitFor(/"acquired":true/);
      expect(await vipOnA()).toBe(true);
      expect(a.output()).toContain(`VIP ${CIDR} acquired on ${ifA}; 3 gratuitous ARPs`);

      const pkts = await cap.packets(8_000);
      expect(pkts.length).toBe(6);
      const request = gratuitousArpFrame(MAC_A, VIP, "request");
      const reply = gratuitousArpFrame(MAC_A, VIP, "reply");
      pkts.forEach((p, i) => expect(Buffer.from(p.data.subarray(0, 42)).toString("hex")).toBe(Buffer.from(i % 2 === 0 ? request : reply).toString("hex")));
      const rounds = [pkts[0]!.t, pkts[2]!.t, pkts[4]!.t].map((t) => t - pkts[0]!.t);
      expect(rounds[1]).toBeGreaterThanOrEqual(0.45);
      expect(rounds[1]).toBeLessThan(1.5);
      expect(rounds[2]).toBeGreaterThanOrEqual(1.9);
      expect(rounds[2]).toBeLessThan(3.5);

      // B sent nothing (the capture would have counted its own ARP for the VIP); the announcement
      // alone replaced the old holder's MAC.
      const neigh = await lab.ip(nsB, "neigh", "show", VIP, "dev", ifB);
      expect(neigh).toContain(`lladdr ${MAC_A}`);

      const ping = await lab.exec(nsB, ["busybox", "ping", "-c", "1", "-W", "2", VIP]);
      expect(ping.code).toBe(0);
      const probe = child(nsB, { mode: "udp-probe" });
      await probe.waitFor(/"answered"/);
      expect(lastJson(probe, "answered")?.answered).toEqual({ from: VIP, text: "ping-vip" });

      // (c) kill -9 of the holder's whole process group: the guard, in a session of its own,
      // survives it and deletes the address.
      const guardPid = lastJson(a, "acquired")!.guardPid as number;
      expect(sessionOf(a.pid)).toBe(a.pid);
      expect(sessionOf(guardPid)).toBe(guardPid);
      expect(running(guardPid)).toBe(true);
      process.kill(-a.pid, "SIGKILL");
      const ms = await until("VIP gone from A after kill -9", async () => !(await vipOnA()), 500);
      console.log(`VIP gone from ${ifA} ${ms.toFixed(0)} ms after kill -9 of the holder's process group`);
      await until("guard exited", () => !running(guardPid), 2_000);
    });

    test("(d) release() removes the VIP and stops the guard; re-acquire works; a normal death cleans up too", async () => {
      const a = child(nsA, { mode: "holder", iface: ifA });
      await a.waitFor(/"acquired":true/);
      expect(await vipOnA()).toBe(true);
      const guard1 = lastJson(a, "acquired")!.guardPid as number;
      expect(running(guard1)).toBe(true);

      process.kill(a.pid, "SIGUSR1");
      await a.waitFor(/"released":true/);
      expect(await vipOnA()).toBe(false);
      expect(running(guard1)).toBe(false);
      expect(a.output()).toContain(`VIP ${CIDR} released on ${ifA}`);
      await Bun.sleep(300);
      expect(running(a.pid)).toBe(true); // the holder lives on, without the VIP and without a guard
      expect(await vipOnA()).toBe(false);

      process.kill(a.pid, "SIGUSR1");
      await until("re-acquired", () => (a.output().match(/"acquired":true/g) ?? []).length === 2, 10_000);
      expect(await vipOnA()).toBe(true);
      const guard2 = lastJson(a, "acquired")!.guardPid as number;
      expect(guard2).not.toBe(guard1);
      expect(running(guard2)).toBe(true);

      await a.kill(); // SIGTERM: Bun exits without running release()
      await until("VIP gone after a normal death", async () => !(await vipOnA()), 1_000);
      await until("guard exited", () => !running(guard2), 2_000);
    });

    test("without CAP_NET_RAW the gratuitous ARP fails with an error that says so", async () => {
      const s = lab.spawn(nsA, ["setpriv", "--bounding-set=-net_raw", "--inh-caps=-net_raw", process.execPath, import.meta.path], {
        SOCLE_HA_VIP_CHILD: JSON.stringify({ mode: "garp", iface: ifA } satisfies ChildSpec),
      });
      await s.waitFor(/"error"|"garp"/);
      expect(lastJson(s, "error")?.error).toBe(`sending gratuitous ARP for ${VIP} on ${ifA} needs CAP_NET_RAW (socket(AF_PACKET, SOCK_RAW) failed with EPERM)`);
    });
  });
}

/** Records of a classic pcap file (either byte order, micro- or nanosecond stamps). */
function readPcap(b: Uint8Array): { t: number; data: Uint8Array }[] {
  if (b.length < 24) return [];
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const magicLE = v.getUint32(0, true);
  const le = magicLE === 0xa1b2c3d4 || magicLE === 0xa1b23c4d;
  const magic = v.getUint32(0, le);
  if (magic !== 0xa1b2c3d4 && magic !== 0xa1b23c4d) throw new Error(`not a pcap file (magic ${magic.toString(16)})`);
  const frac = magic === 0xa1b23c4d ? 1e9 : 1e6;
  const out: { t: number; data: Uint8Array }[] = [];
  for (let off = 24; off + 16 <= b.length; ) {
    const len = v.getUint32(off + 8, le);
    out.push({ t: v.getUint32(off, le) + v.getUint32(off + 4, le) / frac, data: b.subarray(off + 16, off + 16 + len) });
    off += 16 + len;
  }
  return out;
}
