import { describe, expect, test } from "bun:test";
import { contains, parseCidr, parseIp } from "./net-address.ts";
import { ProfileError, hostLabel, isNormalPath, readProfile, type ProfileSource } from "./read.ts";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIexample admin@site";

function source(params: Record<string, unknown>, over: Partial<ProfileSource> = {}): ProfileSource {
  return {
    machineName: "n1.example.com",
    macs: ["52:54:00:12:34:56"],
    param: (n) => {
      if (!Object.hasOwn(params, n)) throw new Error(`param ${n} read without paramExists`);
      return params[n];
    },
    paramExists: (n) => Object.hasOwn(params, n),
    ...over,
  };
}

/** The ProfileError's message for these params. */
function problem(params: Record<string, unknown>): string {
  try {
    readProfile(source(params));
  } catch (e) {
    expect(e).toBeInstanceOf(ProfileError);
    return (e as Error).message;
  }
  throw new Error("no error");
}

describe("addresses", () => {
  test("IPv4 and IPv6, CIDR and containment", () => {
    expect(parseIp("198.51.100.1")).toEqual({ family: 4, value: 0xc6336401n });
    expect(parseIp("010.0.0.1")).toBeUndefined();
    expect(parseIp("2001:db8::1")?.family).toBe(6);
    expect(parseIp("::ffff:192.0.2.1")?.value).toBe(0xffffc0000201n);
    expect(parseIp("1::2::3")).toBeUndefined();
    expect(parseIp("1:2:3:4:5:6:7:8:9")).toBeUndefined();
    expect(parseCidr("198.51.100.20/33")).toBeUndefined();
    expect(parseCidr("198.51.100.20")).toBeUndefined();
    const net = parseCidr("198.51.100.20/24")!;
    expect(contains(net, parseIp("198.51.100.1")!)).toBe(true);
    expect(contains(net, parseIp("198.51.101.1")!)).toBe(false);
    expect(contains(parseCidr("2001:db8::5/64")!, parseIp("2001:db8::1")!)).toBe(true);
  });
});

describe("readProfile", () => {
  test("host name by common-hostname.tmpl's rule, FQDN with dns-domain", () => {
    expect(hostLabel("Rack 4 Node_7.example.com", [])).toBe("rack-4-node-7");
    expect(hostLabel("...", ["52:54:00:AB:CD:EF"])).toBe("host525400abcdef");
    const p = readProfile(source({ "dns-domain": "lab.example" }));
    expect(p.hostname).toBe("n1");
    expect(p.fqdn).toBe("n1.lab.example");
    expect(readProfile(source({})).fqdn).toBe("n1");
  });

  test("admin keys, hash, disk, timezone, CA, and empty lists by default", () => {
    const p = readProfile(
      source(
        { "access-keys": { a: KEY }, "provisioner-default-password-hash": "$6$salt$hash", "operating-system-disk": "/dev/vda", timezone: "Europe/Paris" },
        { caPem: "PEM" },
      ),
    );
    expect(p).toMatchObject({ adminKeys: [KEY], adminPasswordHash: "$6$salt$hash", installDisk: "/dev/vda", timezone: "Europe/Paris", caPem: "PEM", users: [], files: [], units: [], kernelArgs: [] });
    expect(p.network).toBeUndefined();
  });

  test("users, files, units and kernel args are read and normalised", () => {
    const p = readProfile(
      source({
        "os-users": [{ name: "ops", groups: ["wheel"], sudo: true, sshAuthorizedKeys: [KEY], shell: "/bin/bash" }],
        "os-files": [
          { path: "/etc/motd", contents: "hi\n", mode: "0600", owner: "ops:ops" },
          { path: "/opt/x", contents: "", mode: 493 },
          { path: "/etc/y" },
        ],
        "os-units": [{ name: "app.service", contents: "[Service]\n", enabled: true, dropins: [{ name: "10-x.conf", contents: "[Unit]\n" }] }, { name: "getty@tty1.service", enabled: false }],
        "os-kernel-args": ["mitigations=auto", "quiet"],
      }),
    );
    expect(p.users).toEqual([{ name: "ops", groups: ["wheel"], sudo: true, sshAuthorizedKeys: [KEY], shell: "/bin/bash" }]);
    expect(p.files).toEqual([
      { path: "/etc/motd", contents: "hi\n", mode: 0o600, owner: "ops:ops" },
      { path: "/opt/x", contents: "", mode: 0o755 },
      { path: "/etc/y", contents: "", mode: 0o644 },
    ]);
    expect(p.units[1]).toEqual({ name: "getty@tty1.service", enabled: false, dropins: [] });
    expect(p.kernelArgs).toEqual(["mitigations=auto", "quiet"]);
  });

  test("bad users, files, units and args name the param, the place and the value", () => {
    expect(problem({ "os-users": [{ name: "Bad Name" }] })).toBe('os-users: [0].name: "Bad Name" is not a user name (lower-case letter or _, then letters, digits, _ or -; at most 32)');
    expect(problem({ "os-users": [{ name: "a" }, { name: "a" }] })).toBe('os-users: user "a" appears twice');
    expect(problem({ "os-users": [{ name: "a", colour: 1 }] })).toContain('os-users: [0]: unknown field "colour"');
    expect(problem({ "os-users": "ops" })).toBe('os-users: expected a list, got "ops"');
    expect(problem({ "os-files": [{ path: "etc/x" }] })).toContain('os-files: [0].path: "etc/x" is not a normalised absolute path');
    expect(problem({ "os-files": [{ path: "/etc/../x" }] })).toContain('"/etc/../x" is not a normalised');
    expect(problem({ "os-files": [{ path: "/a" }, { path: "/a" }] })).toBe('os-files: path "/a" appears twice');
    expect(problem({ "os-files": [{ path: "/a", mode: 0o10000 }] })).toBe("os-files: [0].mode: expected an integer from 0 to 4095, got 4096");
    expect(problem({ "os-files": [{ path: "/a", mode: "rwx" }] })).toBe('os-files: [0].mode: "rwx" is not an octal mode (e.g. "0644")');
    expect(problem({ "os-units": [{ name: "app" }] })).toContain('os-units: [0].name: "app" is not a unit name');
    expect(problem({ "os-units": [{ name: "a.service", dropins: [{ name: "x", contents: "" }] }] })).toContain('os-units: [0].dropins[0].name: "x" is not a drop-in file name');
    expect(problem({ "os-kernel-args": ["a b"] })).toContain('os-kernel-args: [0]: "a b" is not one kernel argument');
    expect(problem({ "provisioner-default-password-hash": "plain" })).toContain('provisioner-default-password-hash: "plain" is not a crypt(3) hash');
    expect(problem({ "os-users": "[secure]" })).toContain("os-users: its value is withheld");
  });

  test("isNormalPath", () => {
    for (const p of ["/etc/x", "/a/b.c/d"]) expect(isNormalPath(p)).toBe(true);
    for (const p of ["", "/", "x", "/a//b", "/a/./b", "/a/../b", "/a/", "/a\nb"]) expect(isNormalPath(p)).toBe(false);
  });
});

describe("os-network", () => {
  const net = (v: unknown) => readProfile(source({ "os-network": v })).network;

  test("interfaces, bonds and VLANs with addresses, gateways and DNS", () => {
    const n = net({
      interfaces: [{ name: "eno1" }, { name: "eno2", mac: "52-54-00-AA-BB-CC" }, { name: "eno3", dhcp4: true }],
      bonds: [{ name: "bond0", interfaces: ["eno1", "eno2"], mode: "802.3ad", addresses: ["198.51.100.20/24", "2001:db8::20/64"], gateway4: "198.51.100.1", mtu: 9000 }],
      vlans: [{ name: "vlan10", id: 10, link: "bond0", addresses: ["203.0.113.5/28"] }],
      nameservers: ["198.51.100.53", "2001:db8::53"],
      searchDomains: ["example.com"],
    })!;
    expect(n.interfaces[1]).toEqual({ name: "eno2", mac: "52:54:00:aa:bb:cc", dhcp4: false, addresses: [] });
    expect(n.bonds[0]).toEqual({ name: "bond0", interfaces: ["eno1", "eno2"], mode: "802.3ad", dhcp4: false, addresses: ["198.51.100.20/24", "2001:db8::20/64"], gateway4: "198.51.100.1", mtu: 9000 });
    expect(n.vlans[0]).toMatchObject({ name: "vlan10", id: 10, link: "bond0" });
    expect(net(null)).toBeUndefined();
  });

  test("semantic checks JSON Schema cannot make", () => {
    const bad = (v: unknown) => problem({ "os-network": v });
    expect(bad({ interfaces: [{ name: "eth0", addresses: ["198.51.100.20/33"] }] })).toBe('os-network: interfaces[0].addresses[0]: "198.51.100.20/33" is not an address in CIDR notation (e.g. "198.51.100.20/24", "2001:db8::20/64")');
    expect(bad({ interfaces: [{ name: "eth0", addresses: ["198.51.100.20/24"], gateway4: "198.51.101.1" }] })).toBe('os-network: interfaces[0].gateway4: "198.51.101.1" lies in none of this link\'s IPv4 subnets (198.51.100.20/24)');
    expect(bad({ interfaces: [{ name: "eth0", dhcp4: true, gateway4: "198.51.101.1" }] })).toContain("it has no static IPv4 address");
    expect(bad({ interfaces: [{ name: "eth0", addresses: ["198.51.100.20/24"], gateway4: "2001:db8::1" }] })).toContain('"2001:db8::1" is not an IPv4 address');
    expect(bad({ interfaces: [{ name: "eth0" }], bonds: [{ name: "bond0", interfaces: ["eth1"] }] })).toBe('os-network: bonds[0].interfaces[0]: "eth1" is not one of the interfaces (eth0); list each bond member under interfaces');
    expect(bad({ interfaces: [{ name: "eth0", dhcp4: true }], bonds: [{ name: "bond0", interfaces: ["eth0"] }] })).toContain('"eth0" is a bond member and so carries no addresses');
    expect(bad({ interfaces: [{ name: "eth0" }], bonds: [{ name: "b0", interfaces: ["eth0"] }, { name: "b1", interfaces: ["eth0"] }] })).toContain('"eth0" is already a member of bond "b0"');
    expect(bad({ interfaces: [{ name: "eth0" }], vlans: [{ name: "v", id: 5, link: "eth9" }] })).toBe('os-network: vlans[0].link: "eth9" is neither an interface nor a bond of this profile');
    expect(bad({ interfaces: [{ name: "eth0" }], vlans: [{ name: "v", id: 5000, link: "eth0" }] })).toContain("vlans[0].id: expected an integer from 1 to 4094, got 5000");
    expect(bad({ interfaces: [{ name: "eth0" }, { name: "eth0" }] })).toBe('os-network: interface name "eth0" appears twice');
    expect(bad({ interfaces: [{ name: "a-very-long-interface" }] })).toContain("is not an interface name");
    expect(bad({ interfaces: [{ name: "eth0", mac: "zz" }] })).toContain('interfaces[0].mac: "zz" is not a MAC address');
    expect(bad({ bonds: [{ name: "b0", interfaces: ["x"], mode: "fast" }] })).toContain('bonds[0].mode: "fast" is not a bond mode');
    expect(bad({ nameservers: ["dns.example"] })).toBe('os-network: nameservers[0]: "dns.example" is not an IP address');
    expect(bad({ routes: [] })).toContain('os-network: unknown field "routes"');
  });
});
