import { describe, expect, test } from "bun:test";
import YAML from "yaml";
import { CA_PEM, CERT_PEM, HASH, KEY_PEM, fullProfile, minimalProfile, staticProfile } from "./fixtures.test-util.ts";
import { GRUB_DROPIN_PATH, MACHINE_CERT_PATH, MACHINE_KEY_PATH, SOCLE_CA_PATH, SUDO_ALL, metaData, networkConfig, octalMode, userData, vendorData } from "./nocloud.ts";

type Obj = Record<string, any>;
/** Parsed as cloud-init parses (YAML 1.1): a MAC or a mode must survive that reading. */
const parse11 = (text: string): Obj => YAML.parse(text, { version: "1.1" }) as Obj;
const cloud = (p = fullProfile()): Obj => {
  const text = userData(p);
  expect(text.startsWith("#cloud-config\n")).toBe(true);
  return parse11(text);
};
const file = (cfg: Obj, path: string): Obj | undefined => (cfg.write_files as Obj[] | undefined)?.find((f) => f.path === path);

describe("meta-data", () => {
  test("instance-id is the machine's Uuid, local-hostname the profile's hostname", () => {
    expect(parse11(metaData(fullProfile(), { instanceId: "3f1c2a9e-5b7d-4e21-9c11-0a1b2c3d4e5f" }))).toEqual({
      "instance-id": "3f1c2a9e-5b7d-4e21-9c11-0a1b2c3d4e5f",
      "local-hostname": "web-7",
    });
  });
  test("refuses an empty instance-id", () => {
    expect(() => metaData(minimalProfile(), { instanceId: "" })).toThrow("instance-id");
  });
});

describe("vendor-data", () => {
  test("an empty cloud-config", () => {
    expect(vendorData(minimalProfile())).toBe("#cloud-config\n{}\n");
  });
});

describe("user-data", () => {
  test("minimal profile: hostname, fqdn, the default user, timezone, nothing else", () => {
    expect(cloud(minimalProfile())).toEqual({ hostname: "n1", fqdn: "n1.example.org", users: ["default"], timezone: "Etc/UTC" });
  });

  test("the admin user is the image's default user, with the keys and the hash", () => {
    const c = cloud();
    expect(c.users[0]).toBe("default");
    expect(c.ssh_authorized_keys).toEqual(["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAdmin admin@site"]);
    expect(c.system_info).toEqual({ default_user: { hashed_passwd: HASH, lock_passwd: false } });
  });

  test("further users: groups, sudo, hash (unlocked), shell, keys; a user without a hash stays locked", () => {
    const [, ops, backup] = cloud().users as Obj[];
    expect(ops).toEqual({
      name: "ops",
      groups: ["adm", "docker"],
      sudo: SUDO_ALL,
      shell: "/bin/bash",
      hashed_passwd: "$6$opsSalt$b3BzaGFzaA",
      lock_passwd: false,
      ssh_authorized_keys: ["ssh-rsa AAAAB3NzaC1yc2EAAAA ops@site"],
    });
    expect(backup).toEqual({ name: "backup" });
  });

  test("files: octal string permissions, owner, base64 only when the text needs it", () => {
    const c = cloud();
    expect(file(c, "/etc/motd")).toEqual({ path: "/etc/motd", content: "Welcome to web-7\n", permissions: "0644", owner: "root:root" });
    expect(file(c, "/var/lib/app/config.json")).toMatchObject({ permissions: "0640", owner: "app:app" });
    const bin = file(c, "/etc/binaryish")!;
    expect(bin.encoding).toBe("b64");
    expect(Buffer.from(bin.content, "base64").toString("utf8")).toBe("bell\x07 and escape\x1b[0m\n");
    expect(bin.owner).toBe("ops:ops");
    expect(userData(fullProfile())).toContain('permissions: "0600"');
  });

  test("units go to /etc/systemd/system (drop-ins in <unit>.d/), then reload, enable and disable", () => {
    const c = cloud();
    expect(file(c, "/etc/systemd/system/app.service")!.content).toContain("ExecStart=/usr/bin/app");
    expect(file(c, "/etc/systemd/system/ssh.service.d/10-socle.conf")!.content).toBe("[Service]\nEnvironment=SOCLE=1\n");
    expect(file(c, "/etc/systemd/system/ssh.service")).toBeUndefined();
    expect(c.runcmd.slice(0, 3)).toEqual([
      ["systemctl", "daemon-reload"],
      ["systemctl", "enable", "--now", "app.service"],
      ["systemctl", "disable", "--now", "bluetooth.service"],
    ]);
  });

  test("the CA is trusted and written, the identity written with a private key mode", () => {
    const c = cloud();
    expect(c.ca_certs).toEqual({ trusted: [CA_PEM] });
    expect(file(c, SOCLE_CA_PATH)).toMatchObject({ content: CA_PEM, permissions: "0644" });
    expect(file(c, MACHINE_CERT_PATH)).toMatchObject({ content: CERT_PEM, permissions: "0644" });
    expect(file(c, MACHINE_KEY_PATH)).toMatchObject({ content: KEY_PEM, permissions: "0600" });
  });

  test("kernel args: a GRUB drop-in and update-grub", () => {
    const c = cloud();
    expect(file(c, GRUB_DROPIN_PATH)!.content).toContain('GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX console=ttyS0,115200n8 intel_iommu=on"');
    expect(c.runcmd.at(-1)).toEqual(["sh", "-c", "if command -v update-grub >/dev/null 2>&1; then update-grub; fi"]);
  });

  test("a kernel arg that would break the shell-sourced GRUB file is refused, naming the param and the value", () => {
    const p = { ...minimalProfile(), kernelArgs: ['foo="bar baz"'] };
    expect(() => userData(p)).toThrow(/os-kernel-args.*foo=/);
  });

  test("a file path that collides with Socle's own is refused", () => {
    const p = { ...fullProfile(), files: [{ path: SOCLE_CA_PATH, contents: "x", mode: 0o644 }] };
    expect(() => userData(p)).toThrow(/os-files.*\/etc\/socle\/ca.pem/);
  });

  test("a param change shows in the output", () => {
    const a = userData(fullProfile());
    const b = userData({ ...fullProfile(), timezone: "America/New_York", hostname: "web-8" });
    expect(a).not.toBe(b);
    expect(cloud({ ...fullProfile(), timezone: "America/New_York" }).timezone).toBe("America/New_York");
  });

  test("deterministic, and no anchors or aliases even when a value repeats", () => {
    const p = fullProfile();
    p.users[1]!.sshAuthorizedKeys = p.users[0]!.sshAuthorizedKeys;
    const text = userData(p);
    expect(userData(p)).toBe(text);
    expect(text).not.toMatch(/[&*][a-z0-9]+\n/);
  });

  test("octalMode", () => {
    expect(octalMode(0o644)).toBe("0644");
    expect(octalMode(0o4755)).toBe("04755");
    expect(octalMode(0)).toBe("0000");
    expect(() => octalMode(0o10000)).toThrow("10000"); // 4096 decimal
  });
});

describe("network-config v2", () => {
  test("no network in the profile: a comment only, which cloud-init reads as no config (its DHCP fallback)", () => {
    const text = networkConfig(minimalProfile());
    expect(text.startsWith("# ")).toBe(true);
    expect(YAML.parse(text, { version: "1.1" })).toBeNull();
  });

  test("static: match by MAC with set-name, addresses, default route, nameservers, VLAN on the link", () => {
    const text = networkConfig(staticProfile());
    expect(text).toContain('macaddress: "52:54:00:12:34:56"'); // quoted: YAML 1.1 would read it as base 60
    expect(parse11(text)).toEqual({
      version: 2,
      ethernets: {
        ens3: {
          match: { macaddress: "52:54:00:12:34:56" },
          "set-name": "ens3",
          dhcp4: false,
          addresses: ["198.51.100.30/24"],
          routes: [{ to: "0.0.0.0/0", via: "198.51.100.1" }],
          nameservers: { addresses: ["198.51.100.53"] },
        },
      },
      vlans: { "ens3.100": { id: 100, link: "ens3", dhcp4: true, nameservers: { addresses: ["198.51.100.53"] } } },
    });
  });

  test("bond: members, parameters.mode, mtu, IPv6 address, search domains; members carry no DNS", () => {
    const n = parse11(networkConfig(fullProfile()));
    expect(n.bonds.bond0).toEqual({
      interfaces: ["eno1", "eno2"],
      parameters: { mode: "802.3ad" },
      dhcp4: false,
      addresses: ["198.51.100.20/24", "2001:db8::20/64"],
      routes: [{ to: "0.0.0.0/0", via: "198.51.100.1" }],
      mtu: 9000,
      nameservers: { addresses: ["198.51.100.53", "2001:db8::53"], search: ["dc1.example.org", "example.org"] },
    });
    expect(n.ethernets.eno1).toEqual({ match: { macaddress: "52:54:00:aa:bb:01" }, "set-name": "eno1", dhcp4: false, mtu: 9000 });
    expect(n.ethernets.eth2).toMatchObject({ dhcp4: true });
    expect(n.vlans["bond0.42"]).toMatchObject({ id: 42, link: "bond0", addresses: ["203.0.113.5/28"] });
  });
});
