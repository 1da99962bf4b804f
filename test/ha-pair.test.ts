// The HA pair over real links (network namespaces, no VMs): enrolment and join with the CLI, lease
// sync before DHCPACK, kill -9 of the active while a client asks (failover time measured from the
// client's side), the old active rejoining as standby, a cut peer link (and a cut of every
// heartbeat path while the active still answers on the LAN) never promoting the standby, and API
// writes through the VIP across a failover. Real clients: busybox udhcpc, a DHCP prober that
// retransmits like firmware, and an HTTPS writer. Needs root; skips with the reason otherwise.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { needsRoot } from "./helpers/netns.ts";
import { HA_VIP, HaPairLab, type Node } from "./helpers/ha-pair.ts";
import { replies, startProber, type ProbeReply } from "./helpers/dhcp-prober.ts";
import { addressHalf } from "../src/dhcp/leases/pool-split.ts";
import { startWriter, writes } from "./helpers/api-writer.ts";
import { join } from "node:path";
import { until } from "./helpers/socle-netns.ts";

const skip = needsRoot() ?? (Bun.which("busybox") ? undefined : "needs busybox (udhcpc)");
if (skip) console.log(`ha-pair: skipped: ${skip}`);

const other = (n: Node): Node => (n === "a" ? "b" : "a");

describe.skipIf(skip !== undefined)("HA pair in namespaces", () => {
  let pair: HaPairLab;

  beforeAll(async () => {
    pair = await HaPairLab.up();
    await pair.formPair();
  }, 90_000);

  afterAll(async () => {
    await pair?.down();
  }, 30_000);

  /** Both nodes running and a failover safe; returns the active one. */
  async function healthy(): Promise<Node> {
    for (const n of ["a", "b"] as const) if (!pair.procs[n]) pair.start(n);
    return pair.waitSafe(60_000);
  }

  /** One DORA with busybox udhcpc from the client namespace: the address and the server id. */
  async function udhcpc(): Promise<{ ip: string; serverId: string }> {
    const r = await pair.lab.exec(pair.ns.c, ["busybox", "udhcpc", "-i", "c0", "-n", "-q", "-f", "-t", "4", "-T", "1", "-s", "/bin/true"], 20_000);
    const m = /lease of ([0-9.]+) obtained from ([0-9.]+)/.exec(r.stderr + r.stdout);
    if (!m) throw new Error(`udhcpc got no lease: ${r.stderr}`);
    return { ip: m[1]!, serverId: m[2]! };
  }

  test("the second node syncs store, certificates and secrets; the active reports a failover safe", async () => {
    const active = await healthy();
    const s = (await pair.status(active))!;
    expect(s.State).toBe("active");
    expect(s.Peer.State).toBe("standby");
    expect(s.Peer.Paths.every((p) => p.Up)).toBe(true);
    // The standby got the files replicated: the same CA, server key (the installers' pin) and secrets.
    for (const f of ["pki/ca.pem", "pki/ca-key.pem", "pki/server-key.pem", "settings.json"]) {
      await until(`${f} on the standby`, 10_000, async () => {
        const [x, y] = await Promise.all([Bun.file(join(pair.dirs.a, f)).text().catch(() => "a"), Bun.file(join(pair.dirs.b, f)).text().catch(() => "b")]);
        return x === y;
      });
    }
  }, 90_000);

  test("kill -9 of the active while a client asks: the survivor answers on the VIP within 5 s with every ACKed lease and acknowledged write", async () => {
    const dead = await healthy();
    const survivor = other(dead);
    // A lease ACKed through the VIP (the ACK left only once the standby had the lease).
    const lease = await udhcpc();
    expect(lease.serverId).toBe(HA_VIP);
    // An API client writing through the VIP at 100 writes/s, across the failover.
    const token = (await pair.cliJson<{ Token: string }>(dead, "users", "token", "admin")).Token;
    const writer = startWriter(pair.lab, pair.ns.w, {
      endpoint: `https://${HA_VIP}:8092`,
      caFile: join(pair.dirs[dead], "pki", "ca.pem"),
      token,
      everyMs: 10,
      forMs: 9000,
      prefix: `ha-w-${dead}`,
    });
    const prober = startProber(pair.lab, pair.ns.c, { iface: "c0", mac: "52:54:00:e2:6f:01", everyMs: 500, forMs: 9000 });
    await Bun.sleep(2000);
    const t0 = Date.now();
    await pair.kill9(dead);
    // The guard takes the VIP off the dead node's interface.
    await until("VIP gone from the killed node", 500, async () => !(await pair.holdsVipInKernel(dead)));
    await prober.proc.exited;
    await writer.proc.exited;

    const after = replies(prober).filter((r) => r.t > t0 && r.type === "DHCPOFFER");
    expect(after.length).toBeGreaterThan(0);
    const first = after[0]!;
    const failoverMs = first.t - t0;
    console.log(`ha-pair: failover after kill -9: first DHCPOFFER from the survivor ${failoverMs} ms after the kill`);
    // Clients only ever learn the VIP as the server, also in the instant the survivor starts.
    expect(after.filter((r) => r.serverId !== HA_VIP)).toEqual([]);
    expect(first.from).toBe(survivor === "a" ? "198.51.100.1" : "198.51.100.2");
    expect(failoverMs).toBeLessThan(5000);
    const reason = pair.transitions(survivor).find((t) => t.startsWith("standby -> partner-down"));
    expect(reason).toBeDefined();
    console.log(`ha-pair: takeover: ${reason}`);

    // Nothing lost: the lease ACKed before the kill, and every acknowledged write.
    const leases = await pair.cliJson<{ Addr: string; Token: string; State: string }[]>(survivor, "leases", "list");
    expect(leases.find((l) => l.Addr === lease.ip)?.State).toBe("ACK");
    const results = writes(writer);
    const acked = new Set(results.filter((w) => w.ok).map((w) => w.name));
    const failed = results.filter((w) => !w.ok).length;
    const stored = new Set((await pair.cliJson<{ Name: string }[]>(survivor, "profiles", "list")).map((p) => p.Name));
    const lost = [...acked].filter((n) => !stored.has(n));
    console.log(`ha-pair: writer: ${results.length} requests, ${acked.size} acknowledged, ${failed} failed during the failover, ${lost.length} acknowledged writes lost`);
    expect(acked.size).toBeGreaterThan(100);
    expect(lost).toEqual([]);
  }, 120_000);

  test("the old active comes back as standby, catches up, and a failover is safe again; it does not hold the VIP", async () => {
    const active = await pair.active(30_000);
    const back = other(active);
    if (!pair.procs[back]) pair.start(back);
    // A write the returning node has never seen.
    await pair.cli(active, ["profiles", "create", JSON.stringify({ Name: "written-while-away" })]);
    expect(await pair.waitSafe(60_000)).toBe(active);
    expect(await pair.holdsVipInKernel(back)).toBe(false);
    const t = pair.transitions(back);
    expect(t[t.length - 1]).toContain("-> standby");
  }, 90_000);

  test("a cut peer link, then every heartbeat path cut while the active answers on the LAN: the standby never takes over", async () => {
    const active = await healthy();
    const standby = other(active);
    const before = pair.transitions(standby).length;
    const prober = startProber(pair.lab, pair.ns.c, { iface: "c0", mac: "52:54:00:e2:6f:02", everyMs: 500, forMs: 9000 });
    // The dedicated link down: heartbeats go on over the LAN.
    await pair.lab.ip(pair.ns[standby], "link", "set", "peer0", "down");
    await Bun.sleep(3000);
    const s = (await pair.status(active))!;
    expect(s.Peer.Paths.find((p) => p.Address.startsWith("203.0.113."))?.Up).toBe(false);
    expect(s.Peer.Paths.find((p) => p.Address.startsWith("198.51.100."))?.Up).toBe(true);
    // Replication moved to the LAN path: writes wait for the standby again (not solo), no lag.
    await pair.cli(active, ["profiles", "create", JSON.stringify({ Name: "during-peer-link-cut" })]);
    let during: typeof s | undefined;
    await until(() => `writes synced over the LAN path (${during?.State}, lag ${during?.LagSeq})`, 10_000, async () => {
      during = await pair.status(active);
      return during?.State === "active" && during.LagSeq === 0 && during.FailoverSafe === true;
    });
    // Now the LAN path too: each node's route to the other's LAN address is a blackhole, so the
    // nodes cannot hear each other at all (TCP to 8094 goes nowhere), while the standby still
    // receives the active's broadcast DHCP replies on the LAN.
    const lanOf = (n: Node) => (n === "a" ? "198.51.100.1" : "198.51.100.2");
    for (const n of ["a", "b"] as const) await pair.lab.ip(pair.ns[n], "route", "add", "blackhole", `${lanOf(other(n))}/32`);
    await Bun.sleep(2500);
    // Really cut: the active hears its partner on no path (and writes stop waiting for it).
    const cut = (await pair.status(active))!;
    expect(cut.Peer.Paths.map((p) => p.Up)).toEqual([false, false]);
    expect(cut.State).toBe("active-solo");
    await prober.proc.exited;
    const heard = replies(prober);
    const sources = new Set(heard.map((r) => r.from));
    for (const n of ["a", "b"] as const) await pair.lab.ip(pair.ns[n], "route", "del", "blackhole", `${lanOf(other(n))}/32`);
    await pair.lab.ip(pair.ns[standby], "link", "set", "peer0", "up");
    expect(heard.length).toBeGreaterThan(10);
    expect([...sources]).toEqual([active === "a" ? "198.51.100.1" : "198.51.100.2"]);
    expect(pair.transitions(standby).slice(before).filter((t) => t.includes("partner-down"))).toEqual([]);
    await pair.waitSafe(60_000);
  }, 90_000);

  test("a full partition with clients on both sides: both serve from their own half, no address twice; on heal one active and a merged store", async () => {
    const active = await healthy();
    const macs = (side: string, n: number) => Array.from({ length: n }, (_, i) => `52:54:00:e3:${side}:${(i + 1).toString(16).padStart(2, "0")}`);
    await pair.cli(active, ["profiles", "create", JSON.stringify({ Name: "shared", Description: "before" })]);
    await Bun.sleep(500);
    await pair.partition();
    // D's clients wake the cut-off node (unanswered, partner silent): it takes over for its side.
    const dSide = startProber(pair.lab, pair.ns.d, { iface: "d0", mac: "52:54:00:e3:0d:00", everyMs: 500, forMs: 4000 });
    await dSide.proc.exited;
    const serving = async (n: Node) => (await pair.status(n))?.HoldsVip === true;
    await until("both nodes serving their side", 20_000, async () => (await serving("a")) && (await serving("b")));
    // Clients and writes on both sides while partitioned.
    const onA = startProber(pair.lab, pair.ns.c, { iface: "c0", mac: "00:00:00:00:00:00", everyMs: 0, forMs: 0, dora: macs("0a", 12) });
    const onB = startProber(pair.lab, pair.ns.d, { iface: "d0", mac: "00:00:00:00:00:00", everyMs: 0, forMs: 0, dora: macs("0b", 12) });
    await Promise.all([onA.proc.exited, onB.proc.exited]);
    for (const n of ["a", "b"] as const) {
      await pair.cli(n, ["profiles", "create", JSON.stringify({ Name: `written-on-${n}` })]);
      await pair.cli(n, ["profiles", "update", "shared", JSON.stringify({ Name: "shared", Description: `partitioned on ${n}` })]);
    }
    const acks = (p: typeof onA) => replies(p).filter((r) => r.type === "DHCPACK");
    const a = acks(onA);
    const b = acks(onB);
    expect({ ackedOnA: a.length, ackedOnB: b.length, noAck: [...replies(onA), ...replies(onB)].filter((r) => r.type !== "DHCPACK") }).toEqual({ ackedOnA: 12, ackedOnB: 12, noAck: [] });
    const slotOf = (n: Node) => (n === "a" ? 0 : 1); // "a" enrolled first: slot 0
    expect(a.every((r) => addressHalf(r.yiaddr) === slotOf("a"))).toBe(true);
    expect(b.every((r) => addressHalf(r.yiaddr) === slotOf("b"))).toBe(true);
    const owner = new Map<string, string>();
    const twice: ProbeReply[] = [];
    for (const r of [...a, ...b]) {
      const had = owner.get(r.yiaddr);
      if (had !== undefined && had !== r.mac) twice.push(r);
      owner.set(r.yiaddr, r.mac!);
    }
    expect(twice).toEqual([]);

    await pair.heal();
    const winner = await pair.waitSafe(60_000);
    const loser = other(winner);
    expect({ loserHoldsVip: await pair.holdsVipInKernel(loser) }).toEqual({ loserHoldsVip: false });
    const s = (await pair.status(winner))! as unknown as { Conflicts: { ObjectType: string; ObjectKey: string; Kept: string }[] };
    // Merged: both sides' writes and leases on the winner, the object both changed reported.
    const names = new Set((await pair.cliJson<{ Name: string }[]>(winner, "profiles", "list")).map((p) => p.Name));
    expect({ writtenOnA: names.has("written-on-a"), writtenOnB: names.has("written-on-b") }).toEqual({ writtenOnA: true, writtenOnB: true });
    const leases = new Map((await pair.cliJson<{ Addr: string; Token: string; State: string }[]>(winner, "leases", "list")).map((l) => [l.Addr, l]));
    for (const r of [...a, ...b]) expect(leases.get(r.yiaddr)?.Token).toBe(r.mac);
    expect(s.Conflicts.some((c) => c.ObjectType === "profiles" && c.ObjectKey === "shared")).toBe(true);
    console.log(`ha-pair: partition: ${a.length} + ${b.length} leases from disjoint halves, none twice; healed: ${winner} active, ${s.Conflicts.length} conflict(s) reported`);
  }, 120_000);

  test.skipIf(!Bun.which("dhcrelay"))("a relay pointed at the VIP only: relayed clients are served before and after a failover (the idle takeover: the standby sees no relayed request)", async () => {
    const dead = await healthy();
    const survivor = other(dead);
    const relay = pair.startRelay();
    try {
      await relay.waitFor(/Sending on\s+Socket\/fallback/, 10_000);
      const dora = async (mac: string) => {
        const p = startProber(pair.lab, pair.ns.e, { iface: "e0", mac, everyMs: 0, forMs: 0, dora: [mac] });
        await p.proc.exited;
        return replies(p)[0];
      };
      const before = await dora("52:54:00:e4:00:01");
      expect(before).toMatchObject({ type: "DHCPACK", serverId: HA_VIP });
      expect(before!.yiaddr.startsWith("203.0.113.")).toBe(true);
      const t0 = Date.now();
      await pair.kill9(dead);
      let after: Awaited<ReturnType<typeof dora>>;
      await until("a relayed DORA answered by the survivor", 20_000, async () => {
        after = await dora("52:54:00:e4:00:02");
        return after?.type === "DHCPACK";
      });
      console.log(`ha-pair: relayed client served again ${Date.now() - t0} ms after the kill (idle takeover)`);
      expect(after!.serverId).toBe(HA_VIP);
      expect(pair.transitions(survivor).some((t) => t.startsWith("standby -> partner-down") && t.includes("no DHCP request seen"))).toBe(true);
      const leases = await pair.cliJson<{ Addr: string; Token: string; Via: string }[]>(survivor, "leases", "list");
      expect(leases.find((l) => l.Addr === before!.yiaddr)).toMatchObject({ Token: "52:54:00:e4:00:01", Via: "203.0.113.129" });
    } finally {
      await relay.kill(2000);
    }
  }, 120_000);

  test("a planned switchover: step-down hands the active role to the caught-up standby; requests that cannot apply are refused with the reason", async () => {
    const active = await healthy();
    const standby = other(active);
    const takeover = await pair.cli(active, ["ha", "takeover"]);
    expect(takeover.code).toBe(1);
    expect(takeover.stderr).toContain("already serves");
    const down = await pair.cli(active, ["ha", "partner-down", "--confirm"]);
    expect(down.code).toBe(1);
    expect(down.stderr).toContain("the partner is heard");
    const t0 = Date.now();
    const step = await pair.cli(active, ["ha", "step-down"]);
    expect(step.code).toBe(0);
    await until("the standby holds the VIP", 15_000, () => pair.holdsVipInKernel(standby));
    console.log(`ha-pair: step-down: the partner holds the VIP ${Date.now() - t0} ms after the request`);
    expect(await pair.waitSafe(60_000)).toBe(standby);
    expect(await pair.holdsVipInKernel(active)).toBe(false);
    expect(pair.transitions(standby).some((t) => t.includes("handed over"))).toBe(true);
  }, 90_000);
});
