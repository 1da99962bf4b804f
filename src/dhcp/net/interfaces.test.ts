import { expect, test } from "bun:test";
import { createLogger } from "../../log/logger.ts";
import { cidrContains, diffInterfaces, listInterfaces, networkCidr, selectInterfaces, watchInterfaces, type NetInterface, type RawInterfaces } from "./interfaces.ts";

const v4 = (address: string, netmask: string, mac = "02:00:00:00:00:01", internal = false) =>
  ({ address, netmask, family: "IPv4", mac, internal, cidr: null }) as const;
const v6 = { address: "fe80::1", netmask: "ffff:ffff:ffff:ffff::", family: "IPv6", mac: "02:00:00:00:00:01", internal: false, cidr: null, scopeid: 2 } as const;

const RAW: RawInterfaces = {
  lo: [v4("127.0.0.1", "255.0.0.0", "00:00:00:00:00:00", true)],
  eth1: [v6, v4("198.51.100.7", "255.255.255.0"), v4("198.51.100.8", "255.255.255.0")],
  eth0: [v4("203.0.113.130", "255.255.255.128", "02:00:00:00:00:02")],
  v6only: [v6],
};

const iface = (name: string, address: string, netmask = "255.255.255.0"): NetInterface => ({ name, address, netmask, cidr: networkCidr(address, netmask), mac: "02:00:00:00:00:01" });

test("networkCidr gives the network form", () => {
  expect(networkCidr("198.51.100.7", "255.255.255.0")).toBe("198.51.100.0/24");
  expect(networkCidr("203.0.113.130", "255.255.255.128")).toBe("203.0.113.128/25");
  expect(networkCidr("203.0.113.3", "0.0.0.0")).toBe("0.0.0.0/0");
  expect(networkCidr("203.0.113.3", "255.255.255.255")).toBe("203.0.113.3/32");
});

test("cidrContains", () => {
  expect(cidrContains("198.51.100.0/24", "198.51.100.255")).toBe(true);
  expect(cidrContains("198.51.100.0/24", "198.51.101.0")).toBe(false);
  expect(cidrContains("203.0.113.128/25", "203.0.113.127")).toBe(false);
  expect(cidrContains("0.0.0.0/0", "1.2.3.4")).toBe(true);
  expect(cidrContains("garbage", "1.2.3.4")).toBe(false);
  expect(cidrContains("1.2.3.0/33", "1.2.3.4")).toBe(false);
});

test("listInterfaces skips loopback and IPv6-only interfaces, takes the first IPv4 address, sorts by name", () => {
  expect(listInterfaces(RAW)).toEqual([
    { name: "eth0", address: "203.0.113.130", netmask: "255.255.255.128", cidr: "203.0.113.128/25", mac: "02:00:00:00:00:02" },
    { name: "eth1", address: "198.51.100.7", netmask: "255.255.255.0", cidr: "198.51.100.0/24", mac: "02:00:00:00:00:01" },
  ]);
  expect(listInterfaces({})).toEqual([]);
});

test("selectInterfaces: empty list selects all; named ones in order, missing ones reported once", () => {
  const all = listInterfaces(RAW);
  expect(selectInterfaces(all, []).selected.map((i) => i.name)).toEqual(["eth0", "eth1"]);
  const s = selectInterfaces(all, ["eth1", "br9", "eth1", "lo"]);
  expect(s.selected.map((i) => i.name)).toEqual(["eth1"]);
  expect(s.missing).toEqual(["br9", "lo"]);
});

test("diffInterfaces reports added, removed and changed", () => {
  const a = iface("a", "198.51.100.1");
  const b = iface("b", "203.0.113.1");
  const b2 = iface("b", "203.0.113.2");
  const c = iface("c", "198.51.100.129", "255.255.255.128");
  expect(diffInterfaces([a, b], [b2, c])).toEqual({ added: [c], removed: [a], changed: [{ before: b, after: b2 }] });
  expect(diffInterfaces([a, b], [b, a])).toEqual({ added: [], removed: [], changed: [] });
  expect(diffInterfaces([a], [{ ...a, netmask: "255.255.0.0" }]).changed).toHaveLength(1);
});

test("watchInterfaces waits for a missing interface (one warning) and reports it when it appears and vanishes", () => {
  const lines: string[] = [];
  const log = createLogger({ sink: (l) => lines.push(l) });
  let now: NetInterface[] = [iface("eth0", "198.51.100.1")];
  const changes: string[] = [];
  const w = watchInterfaces({
    wanted: ["eth0", "eth1"],
    log,
    pollMs: 60_000,
    list: () => now,
    onChange: (d, cur) => changes.push(`+${d.added.map((i) => i.name)} -${d.removed.map((i) => i.name)} ~${d.changed.map((c) => c.after.name)} =${cur.map((i) => i.name)}`),
  });
  try {
    expect(w.current().map((i) => i.name)).toEqual(["eth0"]);
    w.poll();
    expect(lines.filter((l) => l.includes('interface "eth1"'))).toHaveLength(1);
    expect(lines[0]).toContain("WARN");
    expect(changes).toEqual([]);
    now = [iface("eth0", "198.51.100.1"), iface("eth1", "203.0.113.1"), iface("eth2", "203.0.113.200")];
    w.poll();
    now = [iface("eth0", "198.51.100.2")];
    w.poll();
    expect(changes).toEqual(["+eth1 - ~ =eth0,eth1", "+ -eth1 ~eth0 =eth0"]);
    // Vanished again: warned again, once.
    w.poll();
    expect(lines.filter((l) => l.includes('interface "eth1"'))).toHaveLength(2);
  } finally {
    w.stop();
  }
});

test("watchInterfaces survives a failing interface source", () => {
  const lines: string[] = [];
  let fail = false;
  const w = watchInterfaces({
    wanted: [],
    log: createLogger({ sink: (l) => lines.push(l) }),
    pollMs: 60_000,
    list: () => {
      if (fail) throw new Error("getifaddrs: EMFILE");
      return [iface("eth0", "198.51.100.1")];
    },
    onChange: () => {},
  });
  fail = true;
  expect(w.poll()).toEqual({ added: [], removed: [], changed: [] });
  expect(w.current().map((i) => i.name)).toEqual(["eth0"]);
  expect(lines.join("\n")).toContain("cannot list network interfaces");
  w.stop();
});
