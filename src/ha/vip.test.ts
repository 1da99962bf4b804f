// VirtualIp against a fake iproute2: a shell script that keeps the interface's addresses in a file
// and answers like `ip` does ("File exists", "Cannot assign requested address", "Cannot find
// device"). The guard runs the same fake, so its delete is visible too. Real interfaces and real
// ARP are test/ha-vip.test.ts's job (namespaces, root).
//
// Some tests need a parent to kill: this file re-runs itself as that parent when
// SOCLE_VIP_UNIT_CHILD is set.

import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger, nullLogger } from "../log/logger.ts";
import { garpDelaysMs, parseVipCidr, VirtualIp } from "./vip.ts";

const CIDR = "198.51.100.10/24";

interface ChildSpec {
  ip: string[];
  /** "wait": stay alive; "exit": return from the script at once after acquiring. */
  then: "wait" | "exit";
  /** Also start a detached `sleep` after acquiring (it must not inherit the guard's pipe). */
  sleeper?: boolean;
}

const childSpec = process.env.SOCLE_VIP_UNIT_CHILD;
if (childSpec) {
  const spec = JSON.parse(childSpec) as ChildSpec;
  const vip = new VirtualIp({ cidr: CIDR, iface: "lan0", log: nullLogger, ip: spec.ip, garp: async () => ({ sent: 2 }) });
  await vip.acquire();
  let sleeperPid: number | undefined;
  if (spec.sleeper) {
    const s = Bun.spawn(["sleep", "30"], { stdin: "ignore", stdout: "ignore", stderr: "ignore", detached: true });
    s.unref();
    sleeperPid = s.pid;
  }
  process.stdout.write(JSON.stringify({ acquired: true, guardPid: vip.guardPid, sleeperPid }) + "\n");
  if (spec.then === "wait") setInterval(() => {}, 60_000);
} else {
  const dir = mkdtempSync(join(tmpdir(), "socle-vip-test-"));
  const killLater: number[] = [];
  afterAll(() => {
    for (const pid of killLater) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone already
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  interface FakeIp {
    argv: string[];
    /** Every invocation, one line each ("addr add 198.51.100.10/24 dev lan0"). */
    calls(): string[];
    /** Addresses on interfaces, "198.51.100.10/24 lan0". */
    addrs(): string[];
    assign(cidr: string, iface: string): void;
    /** Someone else removed every address. */
    clear(): void;
  }

  let fakes = 0;
  function fakeIp(): FakeIp {
    const d = join(dir, `ip${fakes++}`);
    mkdirSync(d);
    const log = join(d, "calls");
    const state = join(d, "addrs");
    writeFileSync(state, "");
    const bin = join(d, "ip");
    writeFileSync(
      bin,
      `#!/bin/sh
echo "$*" >> '${log}'
[ "$1" = addr ] && [ "$4" = dev ] || { echo "fake ip: unexpected arguments: $*" >&2; exit 9; }
case "$5" in nodev0) echo "Cannot find device \\"$5\\"" >&2; exit 1;; esac
case "$2" in
  add) if grep -qxF "$3 $5" '${state}'; then echo "RTNETLINK answers: File exists" >&2; exit 2; fi
       echo "$3 $5" >> '${state}';;
  del) if ! grep -qxF "$3 $5" '${state}'; then echo "RTNETLINK answers: Cannot assign requested address" >&2; exit 2; fi
       grep -vxF "$3 $5" '${state}' > '${state}.new'; mv '${state}.new' '${state}';;
  *) exit 9;;
esac
`,
    );
    chmodSync(bin, 0o755);
    const lines = (f: string) => (existsSync(f) ? readFileSync(f, "utf8").split("\n").filter(Boolean) : []);
    return {
      argv: [bin],
      calls: () => lines(log),
      addrs: () => lines(state),
      assign: (cidr, iface) => writeFileSync(state, `${cidr} ${iface}\n`, { flag: "a" }),
      clear: () => writeFileSync(state, ""),
    };
  }

  /** Alive and not a zombie. */
  function running(pid: number): boolean {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
    } catch {
      return false;
    }
  }

  function sessionOf(pid: number): number {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[3]);
  }

  async function until(what: string, ok: () => boolean, timeoutMs: number): Promise<number> {
    const t0 = performance.now();
    while (!ok()) {
      if (performance.now() - t0 > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
      await Bun.sleep(5);
    }
    return performance.now() - t0;
  }

  function logged(): { lines: string[]; log: ReturnType<typeof createLogger> } {
    const lines: string[] = [];
    return { lines, log: createLogger({ level: "debug", sink: (l) => void lines.push(l) }) };
  }

  test("gratuitous ARP schedule: 0, 0.5, 2 s, then doubling", () => {
    expect(garpDelaysMs(0)).toEqual([]);
    expect(garpDelaysMs(1)).toEqual([0]);
    expect(garpDelaysMs(3)).toEqual([0, 500, 2000]);
    expect(garpDelaysMs(5)).toEqual([0, 500, 2000, 4000, 8000]);
  });

  test("bad VIP settings are refused with the value named", () => {
    expect(parseVipCidr("198.51.100.10/24")).toEqual({ address: "198.51.100.10", prefix: 24 });
    expect(parseVipCidr("198.51.100.10/32")).toEqual({ address: "198.51.100.10", prefix: 32 });
    expect(() => parseVipCidr("198.51.100.10")).toThrow('VIP "198.51.100.10" is not an address with a prefix length ("198.51.100.10/24")');
    expect(() => parseVipCidr("198.51.100.300/24")).toThrow('VIP "198.51.100.300/24": "198.51.100.300" is not an IPv4 address');
    expect(() => parseVipCidr("198.51.100.10/33")).toThrow('VIP "198.51.100.10/33": prefix length 33 is outside 1-32');
    expect(() => parseVipCidr("198.51.100.0/24")).toThrow('VIP "198.51.100.0/24" is the network address of its /24');
    expect(() => parseVipCidr("198.51.100.255/24")).toThrow('VIP "198.51.100.255/24" is the broadcast address of its /24');
    expect(() => new VirtualIp({ cidr: CIDR, iface: "lan 0", log: nullLogger })).toThrow('VIP interface "lan 0" is not an interface name');
    expect(() => new VirtualIp({ cidr: CIDR, iface: "lan0", log: nullLogger, garpCount: 11 })).toThrow("VIP gratuitous ARP count 11 is not a whole number from 0 to 10");
  });

  test("acquire adds the address, guards it from its own session, announces at 0, 0.5 and 2 s; release undoes all", async () => {
    const ip = fakeIp();
    const { lines, log } = logged();
    const t0 = performance.now();
    const garps: number[] = [];
    const vip = new VirtualIp({ cidr: CIDR, iface: "lan0", log, ip: ip.argv, garp: async (iface, addr) => {
      expect([iface, addr]).toEqual(["lan0", "198.51.100.10"]);
      garps.push(performance.now() - t0);
      return { sent: 2 };
    } });
    expect(vip.held()).toBe(false);
    await vip.acquire();
    expect(vip.held()).toBe(true);
    expect(ip.addrs()).toEqual(["198.51.100.10/24 lan0"]);
    expect(ip.calls()).toEqual(["addr add 198.51.100.10/24 dev lan0"]);
    expect(garps.length).toBe(1); // the first round before acquire resolves
    const guard = vip.guardPid!;
    expect(running(guard)).toBe(true);
    expect(sessionOf(guard)).toBe(guard); // its own session: our process group's signals miss it
    expect(sessionOf(guard)).not.toBe(sessionOf(process.pid));
    expect(lines.some((l) => l.includes("VIP 198.51.100.10/24 acquired on lan0; 3 gratuitous ARPs"))).toBe(true);

    await until("three gratuitous ARP rounds", () => garps.length === 3, 5_000);
    expect(garps[1]! - garps[0]!).toBeGreaterThanOrEqual(450);
    expect(garps[2]! - garps[0]!).toBeGreaterThanOrEqual(1_950);

    await vip.release();
    expect(vip.held()).toBe(false);
    expect(vip.guardPid).toBeUndefined();
    expect(ip.addrs()).toEqual([]);
    expect(running(guard)).toBe(false);
    await Bun.sleep(200);
    // The guard was stopped, not set off: the one delete is release's own.
    expect(ip.calls()).toEqual(["addr add 198.51.100.10/24 dev lan0", "addr del 198.51.100.10/24 dev lan0"]);
    expect(lines.some((l) => l.includes("VIP 198.51.100.10/24 released on lan0"))).toBe(true);
  }, 15_000);

  test("release cancels the gratuitous ARPs still pending", async () => {
    const ip = fakeIp();
    let garps = 0;
    const vip = new VirtualIp({ cidr: CIDR, iface: "lan0", log: nullLogger, ip: ip.argv, garp: async () => ({ sent: 2 * ++garps }) });
    await vip.acquire();
    await vip.release();
    await Bun.sleep(2_300);
    expect(garps).toBe(1);
  }, 10_000);

  test("an address already there is acquired; one already gone is released; both say so", async () => {
    const ip = fakeIp();
    ip.assign(CIDR, "lan0");
    const { lines, log } = logged();
    const vip = new VirtualIp({ cidr: CIDR, iface: "lan0", log, ip: ip.argv, garpCount: 1, garp: async () => ({ sent: 2 }) });
    await vip.acquire();
    expect(vip.held()).toBe(true);
    expect(lines.some((l) => l.includes("acquired on lan0; 1 gratuitous ARP") && l.includes("already on the interface"))).toBe(true);
    ip.clear();
    await vip.release();
    expect(vip.held()).toBe(false);
    expect(lines.some((l) => l.includes("released on lan0") && l.includes("already gone"))).toBe(true);
    await vip.release(); // idempotent
    expect(ip.calls().filter((c) => c.startsWith("addr del")).length).toBe(2);
  });

  test("an unknown interface: the error names it, the guard is stopped without deleting anything", async () => {
    const ip = fakeIp();
    const vip = new VirtualIp({ cidr: CIDR, iface: "nodev0", log: nullLogger, ip: ip.argv, garp: async () => ({ sent: 2 }) });
    const err = await vip.acquire().catch((e) => e);
    expect(err.message).toBe('cannot add VIP 198.51.100.10/24 to nodev0: no interface "nodev0" (ip: Cannot find device "nodev0")');
    expect(vip.held()).toBe(false);
    expect(vip.guardPid).toBeUndefined();
    await Bun.sleep(200);
    expect(ip.calls()).toEqual(["addr add 198.51.100.10/24 dev nodev0"]);
  });

  test("a failed gratuitous ARP is a warning; the VIP is still held", async () => {
    const ip = fakeIp();
    const { lines, log } = logged();
    const vip = new VirtualIp({ cidr: CIDR, iface: "lan0", log, ip: ip.argv, garpCount: 1, garp: async () => {
      throw new Error("sending gratuitous ARP for 198.51.100.10 on lan0 needs CAP_NET_RAW");
    } });
    await vip.acquire();
    expect(vip.held()).toBe(true);
    expect(lines.some((l) => l.includes("WARN") && l.includes("gratuitous ARP for 198.51.100.10 on lan0 failed") && l.includes("needs CAP_NET_RAW"))).toBe(true);
    await vip.release();
  });

  test("acquire and release run in call order", async () => {
    const ip = fakeIp();
    const vip = new VirtualIp({ cidr: CIDR, iface: "lan0", log: nullLogger, ip: ip.argv, garpCount: 0 });
    await Promise.all([vip.acquire(), vip.release(), vip.acquire(), vip.release()]);
    expect(ip.calls().map((c) => c.split(" ")[1])).toEqual(["add", "del", "add", "del"]);
    expect(vip.held()).toBe(false);
    expect(ip.addrs()).toEqual([]);
  });

  test("cleanupStale removes a leftover VIP and says whether there was one", async () => {
    const ip = fakeIp();
    ip.assign(CIDR, "lan0");
    expect(await VirtualIp.cleanupStale(CIDR, "lan0", { ip: ip.argv })).toBe(true);
    expect(await VirtualIp.cleanupStale(CIDR, "lan0", { ip: ip.argv })).toBe(false);
    await expect(VirtualIp.cleanupStale(CIDR, "nodev0", { ip: ip.argv })).rejects.toThrow('no interface "nodev0"');
    await expect(VirtualIp.cleanupStale("198.51.100.10", "lan0", { ip: ip.argv })).rejects.toThrow('VIP "198.51.100.10" is not an address');
  });

  function startParent(spec: ChildSpec) {
    const proc = Bun.spawn([process.execPath, import.meta.path], {
      env: { ...process.env, SOCLE_VIP_UNIT_CHILD: JSON.stringify(spec) },
      stdin: "ignore",
      stdout: "pipe",
      stderr: "inherit",
      detached: true, // its own process group, so the test can kill the whole group
    });
    killLater.push(proc.pid);
    const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
    const first = (async () => {
      let out = "";
      while (!out.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`parent exited before acquiring: ${out}`);
        out += new TextDecoder().decode(value);
      }
      return JSON.parse(out.split("\n")[0]!) as { guardPid: number; sleeperPid?: number };
    })();
    return { proc, first };
  }

  test("kill -9 of the parent's whole process group: the guard survives and deletes the VIP", async () => {
    const ip = fakeIp();
    const parent = startParent({ ip: ip.argv, then: "wait", sleeper: true });
    const { guardPid, sleeperPid } = await parent.first;
    killLater.push(guardPid, sleeperPid!);
    expect(ip.addrs()).toEqual(["198.51.100.10/24 lan0"]);
    process.kill(-parent.proc.pid, "SIGKILL");
    // A later child of the parent (the detached sleep) is still alive: the guard must not wait for it.
    const ms = await until("the guard's delete", () => ip.addrs().length === 0, 500);
    expect(running(sleeperPid!)).toBe(true);
    expect(ip.calls()).toEqual(["addr add 198.51.100.10/24 dev lan0", "addr del 198.51.100.10/24 dev lan0"]);
    await until("the guard's exit", () => !running(guardPid), 2_000);
    console.log(`guard removed the VIP ${ms.toFixed(0)} ms after kill -9`);
  });

  test("systemd stopping the unit (SIGTERM to every process of its cgroup, the guard too): the guard deletes the VIP", async () => {
    const ip = fakeIp();
    const parent = startParent({ ip: ip.argv, then: "wait" });
    const { guardPid } = await parent.first;
    killLater.push(guardPid, parent.proc.pid);
    // The guard first, its parent still alive (its pipe still open): only the signal can make it act.
    process.kill(guardPid, "SIGTERM");
    await until("the guard's delete", () => ip.addrs().length === 0, 1_000);
    expect(running(parent.proc.pid)).toBe(true);
    expect(ip.calls()).toEqual(["addr add 198.51.100.10/24 dev lan0", "addr del 198.51.100.10/24 dev lan0"]);
    process.kill(parent.proc.pid, "SIGKILL");
  });

  test("the guard does not keep its parent alive; the parent's normal exit also removes the VIP", async () => {
    const ip = fakeIp();
    const parent = startParent({ ip: ip.argv, then: "exit" });
    await parent.first;
    const code = await Promise.race([parent.proc.exited, Bun.sleep(5_000).then(() => "still running")]);
    expect(code).toBe(0);
    await until("the guard's delete", () => ip.addrs().length === 0, 1_000);
  });
}
