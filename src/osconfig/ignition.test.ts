import { describe, expect, test } from "bun:test";
import { IgnitionError, checkIgnition, ignitionText, mergeIgnition, networkdFiles, nmKeyfiles, profileIgnition } from "./ignition.ts";
import type { OsNetwork, OsProfile } from "./profile.ts";
import { ProfileError } from "./read.ts";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIexample admin@site";

const base = (over: Partial<OsProfile> = {}): OsProfile => ({
  hostname: "n1",
  fqdn: "n1.example.com",
  adminKeys: [KEY],
  users: [],
  files: [],
  units: [],
  kernelArgs: [],
  installDisk: "/dev/sda",
  timezone: "Europe/Paris",
  ...over,
});

const NET: OsNetwork = {
  interfaces: [
    { name: "eno1", dhcp4: false, addresses: [] },
    { name: "eno2", mac: "52:54:00:aa:bb:cc", dhcp4: false, addresses: [] },
    { name: "eno3", mac: "52:54:00:aa:bb:dd", dhcp4: false, addresses: [] },
  ],
  bonds: [{ name: "bond0", interfaces: ["eno1", "eno2"], mode: "802.3ad", dhcp4: false, addresses: ["198.51.100.20/24", "2001:db8::20/64"], gateway4: "198.51.100.1", mtu: 9000 }],
  vlans: [
    { name: "vlan10", id: 10, link: "bond0", dhcp4: true, addresses: [] },
    { name: "vlan20", id: 20, link: "eno3", dhcp4: false, addresses: ["203.0.113.5/28"] },
  ],
  nameservers: ["198.51.100.53", "2001:db8::53"],
  searchDomains: ["example.com", "lab.example.com"],
};

describe("profileIgnition", () => {
  test("a full profile validates under 3.3.0 and 3.4.0, for both variants", () => {
    const p = base({
      adminPasswordHash: "$6$s$h",
      caPem: "CA",
      identity: { certPem: "CERT", keyPem: "KEY", caPem: "CA" },
      network: NET,
      users: [{ name: "ops", passwordHash: "$6$x$y", sshAuthorizedKeys: [KEY], groups: ["wheel", "docker"], sudo: true, shell: "/bin/bash" }],
      files: [{ path: "/etc/motd", contents: "hi & bye\n", mode: 0o640, owner: "ops:wheel" }],
      units: [{ name: "app.service", contents: "[Service]\nExecStart=/bin/true\n", enabled: true, dropins: [{ name: "10-env.conf", contents: "[Service]\n" }] }],
      kernelArgs: ["mitigations=auto"],
    });
    for (const version of ["3.3.0", "3.4.0"] as const) {
      for (const variant of ["fcos", "flatcar"] as const) {
        const cfg = profileIgnition(p, { version, variant });
        expect(checkIgnition(cfg, version)).toEqual([]);
        const text = ignitionText(cfg);
        expect(JSON.parse(text).ignition.version).toBe(version);
      }
    }
    const cfg = JSON.parse(ignitionText(profileIgnition(p, { version: "3.4.0", variant: "fcos" })));
    expect(Object.keys(cfg)).toEqual(["ignition", "passwd", "storage", "systemd", "kernelArguments"]);
    expect(cfg.passwd.users).toEqual([
      { name: "core", sshAuthorizedKeys: [KEY], passwordHash: "$6$s$h" },
      { name: "ops", passwordHash: "$6$x$y", sshAuthorizedKeys: [KEY], groups: ["wheel", "docker"], shell: "/bin/bash" },
    ]);
    const files = new Map<string, { mode: number; contents: { source: string }; user?: unknown; group?: unknown }>(cfg.storage.files.map((f: { path: string }) => [f.path, f]));
    expect(files.get("/etc/hostname")!.contents.source).toBe("data:,n1");
    expect(files.get("/etc/socle/ca.pem")!.mode).toBe(0o644);
    expect(files.get("/etc/socle/machine.crt")!.mode).toBe(0o644);
    expect(files.get("/etc/socle/machine.key")).toMatchObject({ mode: 0o600, contents: { source: "data:,KEY" } });
    expect(files.get("/etc/sudoers.d/socle-ops")).toMatchObject({ mode: 0o440, contents: { source: `data:,${encodeURIComponent("ops ALL=(ALL) NOPASSWD: ALL\n")}` } });
    expect(files.get("/etc/motd")).toMatchObject({ mode: 0o640, user: { name: "ops" }, group: { name: "wheel" }, contents: { source: "data:,hi%20%26%20bye%0A" } });
    expect(files.get("/etc/NetworkManager/system-connections/bond0.nmconnection")!.mode).toBe(0o600);
    expect(cfg.storage.links).toEqual([{ path: "/etc/localtime", target: "/usr/share/zoneinfo/Europe/Paris", overwrite: true, hard: false }]);
    expect(cfg.systemd.units[0]).toEqual({ name: "app.service", enabled: true, contents: "[Service]\nExecStart=/bin/true\n", dropins: [{ name: "10-env.conf", contents: "[Service]\n" }] });
    expect(cfg.kernelArguments).toEqual({ shouldExist: ["mitigations=auto"] });
    const flatcar = JSON.parse(ignitionText(profileIgnition(p, { version: "3.3.0", variant: "flatcar" })));
    expect(flatcar.storage.files.map((f: { path: string }) => f.path).filter((x: string) => x.startsWith("/etc/systemd/network/"))).toEqual([
      "/etc/systemd/network/10-eno1.network",
      "/etc/systemd/network/10-eno2.network",
      "/etc/systemd/network/10-eno3.network",
      "/etc/systemd/network/20-bond0.netdev",
      "/etc/systemd/network/20-bond0.network",
      "/etc/systemd/network/30-vlan10.netdev",
      "/etc/systemd/network/30-vlan10.network",
      "/etc/systemd/network/30-vlan20.netdev",
      "/etc/systemd/network/30-vlan20.network",
    ]);
  });

  test("no network: no network files (DHCP, the OS's default); no units, no kernelArguments keys", () => {
    const cfg = profileIgnition(base(), { version: "3.3.0", variant: "fcos" });
    expect(Object.keys(cfg)).toEqual(["ignition", "passwd", "storage"]);
    expect((cfg.storage as { files: unknown[] }).files).toHaveLength(1);
  });

  test("profile values Ignition cannot carry are ProfileErrors", () => {
    expect(() => profileIgnition(base({ users: [{ name: "core", sshAuthorizedKeys: [], groups: [], sudo: false }] }), { version: "3.3.0", variant: "fcos" })).toThrow(ProfileError);
    expect(() => profileIgnition(base({ files: [{ path: "/x", contents: "", mode: 0o4755 }] }), { version: "3.3.0", variant: "fcos" })).toThrow("os-files: /x: mode 04755 has setuid/setgid/sticky bits");
  });
});

describe("network files", () => {
  test("NetworkManager keyfiles: bond, members, VLAN by parent name and by parent MAC", () => {
    const files = new Map(nmKeyfiles(NET).map((f) => [f.path.replace("/etc/NetworkManager/system-connections/", ""), f.contents]));
    expect(files.get("eno1.nmconnection")).toBe("[connection]\nid=eno1\ntype=ethernet\ninterface-name=eno1\nmaster=bond0\nslave-type=bond\n");
    expect(files.get("eno2.nmconnection")).toBe("[connection]\nid=eno2\ntype=ethernet\nmaster=bond0\nslave-type=bond\n\n[ethernet]\nmac-address=52:54:00:aa:bb:cc\n");
    expect(files.get("bond0.nmconnection")).toBe(
      [
        "[connection]",
        "id=bond0",
        "type=bond",
        "interface-name=bond0",
        "",
        "[bond]",
        "mode=802.3ad",
        "miimon=100",
        "",
        "[ethernet]",
        "mtu=9000",
        "",
        "[ipv4]",
        "method=manual",
        "address1=198.51.100.20/24,198.51.100.1",
        "dns=198.51.100.53;",
        "dns-search=example.com;lab.example.com;",
        "",
        "[ipv6]",
        "method=manual",
        "address1=2001:db8::20/64",
        "dns=2001:db8::53;",
        "",
      ].join("\n"),
    );
    expect(files.get("vlan10.nmconnection")).toContain("[vlan]\nid=10\nparent=bond0\n\n[ipv4]\nmethod=auto\n");
    expect(files.get("vlan20.nmconnection")).toContain("[vlan]\nid=20\n\n[ethernet]\nmac-address=52:54:00:aa:bb:dd\n");
    expect(files.get("eno3.nmconnection")).toContain("[ipv4]\nmethod=disabled\n\n[ipv6]\nmethod=disabled\n");
  });

  test("systemd-networkd: match by name or MAC, Bond= on members, VLAN= on the parent", () => {
    const files = new Map(networkdFiles(NET).map((f) => [f.path.replace("/etc/systemd/network/", ""), f.contents]));
    expect(files.get("10-eno2.network")).toBe("[Match]\nMACAddress=52:54:00:aa:bb:cc\n\n[Network]\nBond=bond0\n");
    expect(files.get("10-eno3.network")).toBe("[Match]\nMACAddress=52:54:00:aa:bb:dd\n\n[Network]\nLinkLocalAddressing=no\nVLAN=vlan20\n");
    expect(files.get("20-bond0.netdev")).toBe("[NetDev]\nName=bond0\nKind=bond\nMTUBytes=9000\n\n[Bond]\nMode=802.3ad\nMIIMonitorSec=100ms\n");
    expect(files.get("20-bond0.network")).toBe(
      "[Match]\nName=bond0\n\n[Network]\nAddress=198.51.100.20/24\nAddress=2001:db8::20/64\nGateway=198.51.100.1\nDNS=198.51.100.53\nDNS=2001:db8::53\nDomains=example.com lab.example.com\nVLAN=vlan10\n",
    );
    expect(files.get("30-vlan10.netdev")).toBe("[NetDev]\nName=vlan10\nKind=vlan\n\n[VLAN]\nId=10\n");
    expect(files.get("30-vlan10.network")).toContain("[Network]\nDHCP=ipv4\n");
  });
});

describe("spec checks", () => {
  const ok = { ignition: { version: "3.3.0" } };

  test("an unknown key is refused with its JSON path", () => {
    expect(checkIgnition({ ...ok, storage: { files: [{ path: "/a", colour: "red" }] } }, "3.3.0")).toEqual(['$.storage.files[0]: unexpected property "colour"']);
    expect(checkIgnition({ ...ok, extra: 1 }, "3.3.0")).toEqual(['$: unexpected property "extra"']);
    expect(checkIgnition({ ...ok, systemd: { units: [{ name: "a.service", dropins: [{ name: "x.conf", body: "" }] }] } }, "3.3.0")).toEqual(['$.systemd.units[0].dropins[0]: unexpected property "body"']);
  });

  test("3.4-only fields are refused under 3.3.0 and accepted under 3.4.0", () => {
    const luks = (version: string) => ({ ignition: { version }, storage: { luks: [{ name: "root", device: "/dev/sda4", discard: true, openOptions: ["--perf-no_read_workqueue"], clevis: { tang: [{ url: "http://t", thumbprint: "x", advertisement: "{}" }] } }] } });
    expect(checkIgnition(luks("3.3.0"), "3.3.0")).toEqual([
      '$.storage.luks[0]: unexpected property "discard"',
      '$.storage.luks[0]: unexpected property "openOptions"',
      '$.storage.luks[0].clevis.tang[0]: unexpected property "advertisement"',
    ]);
    expect(checkIgnition(luks("3.4.0"), "3.4.0")).toEqual([]);
  });

  test("version, types, required keys, duplicates", () => {
    expect(checkIgnition({ ignition: { version: "3.4.0" } }, "3.3.0")).toEqual(['$.ignition.version: "3.4.0" is not "3.3.0"']);
    expect(checkIgnition({}, "3.3.0")).toEqual(['$: missing required property "ignition"']);
    expect(checkIgnition({ ...ok, storage: { files: [{ path: "/a", mode: "0644" }] } }, "3.3.0")).toEqual(['$.storage.files[0].mode: expected integer or null, got "0644"']);
    expect(checkIgnition({ ...ok, storage: { files: [{ path: "/a" }], links: [{ path: "/a", target: "/b" }] } }, "3.3.0")).toEqual(['$.storage.links[0]: path "/a" is also at $.storage.files[0]']);
    expect(checkIgnition({ ...ok, systemd: { units: [{ name: "a.service" }, { name: "a.service" }] } }, "3.3.0")).toEqual(['$.systemd.units[1]: name "a.service" is also at $.systemd.units[0]']);
    expect(checkIgnition({ ...ok, storage: { files: [{ path: "/a", mode: 0o4755 }] } }, "3.3.0")).toEqual(["$.storage.files[0].mode: 2541 (04755) is not a permission mode Ignition sets on a file"]);
    expect(() => ignitionText({ ignition: { version: "3.2.0" } })).toThrow(IgnitionError);
    expect(() => ignitionText({ ignition: { version: "3.3.0" }, bogus: true })).toThrow('the Ignition config is invalid: $: unexpected property "bogus"');
  });
});

describe("mergeIgnition", () => {
  test("same path, unit or user merge field by field (the later wins), new ones are appended, resources replace whole", () => {
    const a = {
      ignition: { version: "3.3.0" },
      passwd: { users: [{ name: "core", sshAuthorizedKeys: ["k1"] }] },
      storage: { files: [{ path: "/a", mode: 420, contents: { source: "http://x/a", verification: { hash: "sha256-00" } } }, { path: "/b", mode: 420 }] },
      systemd: { units: [{ name: "x.service", enabled: true, dropins: [{ name: "1.conf", contents: "a" }] }] },
    };
    const b = {
      ignition: { version: "3.4.0" },
      passwd: { users: [{ name: "core", sshAuthorizedKeys: ["k2"], passwordHash: "$6$" }] },
      storage: { files: [{ path: "/a", contents: { source: "data:,new" } }], directories: [{ path: "/b" }] },
      systemd: { units: [{ name: "x.service", enabled: false, dropins: [{ name: "2.conf", contents: "b" }] }, { name: "y.service" }] },
      kernelArguments: { shouldExist: ["q"] },
    };
    expect(mergeIgnition(a, b)).toEqual({
      ignition: { version: "3.3.0" },
      passwd: { users: [{ name: "core", sshAuthorizedKeys: ["k1", "k2"], passwordHash: "$6$" }] },
      storage: { files: [{ path: "/a", mode: 420, contents: { source: "data:,new" } }], directories: [{ path: "/b" }] },
      systemd: {
        units: [
          { name: "x.service", enabled: false, dropins: [{ name: "1.conf", contents: "a" }, { name: "2.conf", contents: "b" }] },
          { name: "y.service" },
        ],
      },
      kernelArguments: { shouldExist: ["q"] },
    });
    expect(a.storage.files).toHaveLength(2); // inputs are not changed
  });
});
