import { describe, expect, test } from "bun:test";
import type { NetworkInterfaceInfo } from "node:os";
import { SocleError } from "../model/errors.ts";
import { isDnsName, missingNames, parseSubjectAltName, subjectNames } from "./subject-names.ts";

const iface = (address: string, family: "IPv4" | "IPv6"): NetworkInterfaceInfo =>
  ({ address, family, netmask: "", mac: "00:00:00:00:00:00", internal: false, cidr: null, scopeid: 0 }) as NetworkInterfaceInfo;

const sources = {
  hostname: "Rack-Mgr01",
  interfaces: {
    lo: [iface("127.0.0.1", "IPv4"), iface("::1", "IPv6")],
    eth0: [iface("192.0.2.10", "IPv4"), iface("FE80::5054:FF:FE12:3456", "IPv6")],
  },
};

describe("subjectNames", () => {
  test("host name, loopback names, every interface address, extras", () => {
    const n = subjectNames(["socle.example.org."], ["198.51.100.1", "2001:DB8::1"], sources);
    expect(n.dns).toEqual(["localhost", "rack-mgr01", "socle.example.org"]);
    expect(n.ips).toEqual([
      "0:0:0:0:0:0:0:1",
      "127.0.0.1",
      "192.0.2.10",
      "198.51.100.1",
      "2001:db8:0:0:0:0:0:1",
      "fe80:0:0:0:5054:ff:fe12:3456",
    ]);
    expect(n.skipped).toEqual([]);
  });

  test("the real host yields at least the loopback names", () => {
    const n = subjectNames();
    expect(n.dns).toContain("localhost");
    expect(n.ips).toContain("127.0.0.1");
    expect(n.ips).toContain("0:0:0:0:0:0:0:1");
  });

  test("a bad operator extra is a ValidationError quoting it", () => {
    expect(() => subjectNames(["bad name"], [], sources)).toThrow('add certificate host name "bad name": not a DNS name');
    expect(() => subjectNames([], ["198.51.100.300"], sources)).toThrow(SocleError);
    expect(() => subjectNames([], ["198.51.100.300"], sources)).toThrow('"198.51.100.300"');
    expect(subjectNames(["*.lab.example"], [], sources).dns).toContain("*.lab.example");
  });

  test("an unusable OS host name is skipped, not fatal", () => {
    const n = subjectNames([], [], { ...sources, hostname: "my host" });
    expect(n.dns).toEqual(["localhost"]);
    expect(n.skipped).toEqual(['host name "my host" is not a DNS name']);
  });
});

describe("isDnsName", () => {
  test("accepts host names, refuses junk", () => {
    for (const ok of ["a", "web-1", "host_1.lab", "x.example.org."]) expect(isDnsName(ok)).toBe(true);
    for (const bad of ["", "-a", "a-", "a..b", "a b", "é.com", "a".repeat(64), "*.x"]) expect(isDnsName(bad)).toBe(false);
    expect(isDnsName("*.x", true)).toBe(true);
  });
});

describe("parseSubjectAltName / missingNames", () => {
  test("reads node's text form and reports what is missing", () => {
    const have = parseSubjectAltName("DNS:localhost, DNS:Rack-Mgr01, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1");
    expect(have).toEqual({ dns: ["localhost", "rack-mgr01"], ips: ["127.0.0.1", "0:0:0:0:0:0:0:1"] });
    const want = subjectNames([], [], sources);
    expect(missingNames(want, have)).toEqual(["192.0.2.10", "fe80:0:0:0:5054:ff:fe12:3456"]);
    expect(missingNames(want, { dns: want.dns, ips: want.ips })).toEqual([]);
    expect(parseSubjectAltName(undefined)).toEqual({ dns: [], ips: [] });
  });
});
