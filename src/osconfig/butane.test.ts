import { describe, expect, test } from "bun:test";
import { translateButane } from "./butane.ts";
import { FORMATS } from "./formats.ts";
import type { OsProfile } from "./profile.ts";

const FCOS = `variant: fcos
version: 1.5.0
passwd:
  users:
    - name: core
      ssh_authorized_keys: [ "ssh-ed25519 AAAA butane" ]
    - name: app
      groups: [docker]
      home_dir: /var/home/app
storage:
  files:
    - path: /etc/hostname
      overwrite: true
      mode: 0644
      contents:
        inline: butane-host
    - path: /opt/fetch
      mode: 0o755
      contents:
        source: https://example.com/x
        verification:
          hash: sha256-abc
  directories:
    - path: /var/lib/app
      mode: 0750
  links:
    - path: /etc/localtime
      target: ../usr/share/zoneinfo/UTC
      overwrite: true
  disks:
    - device: /dev/vdb
      wipe_table: true
      partitions:
        - label: data
          size_mib: 1024
          start_mib: 0
systemd:
  units:
    - name: app.service
      enabled: true
      contents: |
        [Service]
        ExecStart=/bin/true
kernel_arguments:
  should_exist: [quiet]
`;

describe("translateButane", () => {
  test("translates the 1:1 subset and inline contents", () => {
    const f = translateButane(FCOS, "fcos");
    expect(f.spec).toBe("3.4.0");
    expect(f.config).toEqual({
      ignition: { version: "3.4.0" },
      passwd: {
        users: [
          { name: "core", sshAuthorizedKeys: ["ssh-ed25519 AAAA butane"] },
          { name: "app", groups: ["docker"], homeDir: "/var/home/app" },
        ],
      },
      storage: {
        files: [
          { path: "/etc/hostname", overwrite: true, mode: 0o644, contents: { source: "data:,butane-host" } },
          { path: "/opt/fetch", mode: 0o755, contents: { source: "https://example.com/x", verification: { hash: "sha256-abc" } } },
        ],
        directories: [{ path: "/var/lib/app", mode: 0o750 }],
        links: [{ path: "/etc/localtime", target: "../usr/share/zoneinfo/UTC", overwrite: true }],
        disks: [{ device: "/dev/vdb", wipeTable: true, partitions: [{ label: "data", sizeMiB: 1024, startMiB: 0 }] }],
      },
      systemd: { units: [{ name: "app.service", enabled: true, contents: "[Service]\nExecStart=/bin/true\n" }] },
      kernelArguments: { shouldExist: ["quiet"] },
    });
    expect(translateButane("variant: flatcar\nversion: 1.0.0\n", "flatcar")).toEqual({ variant: "flatcar", spec: "3.3.0", config: { ignition: { version: "3.3.0" } } });
  });

  test("refusals name the param, the YAML path and why", () => {
    const err = (text: string, variant: "fcos" | "flatcar" = "fcos") => {
      try {
        translateButane(text, variant);
      } catch (e) {
        return (e as Error).message;
      }
      return "no error";
    };
    expect(err("variant: fcos\nversion: 1.5.0\nstorage:\n  files:\n    - path: /a\n      contents:\n        local: a.txt\n")).toBe(
      "butane-config: storage.files[0].contents.local: not supported: Socle renders from params and has no --files-dir; put the contents inline",
    );
    expect(err("variant: fcos\nversion: 1.5.0\nstorage:\n  trees:\n    - local: x\n")).toContain("butane-config: storage.trees: not supported: storage.trees embeds a local directory");
    expect(err("variant: fcos\nversion: 1.5.0\nsystemd:\n  units:\n    - name: a.service\n      colour: red\n")).toContain('butane-config: systemd.units[0].colour: unknown key "colour"; known here: name, enabled');
    expect(err("variant: fcos\nversion: 1.5.0\nbogus: 1\n")).toContain('butane-config: bogus: unknown key "bogus"');
    expect(err("variant: flatcar\nversion: 1.0.0\n")).toBe('butane-config: variant: "flatcar" does not match this boot environment\'s Ignition variant "fcos"');
    expect(err("variant: fcos\nversion: 1.3.0\n")).toBe('butane-config: version: "1.3.0" is not a fcos Butane version Socle translates (1.4.0, 1.5.0)');
    expect(err("variant: fcos\nversion: 1.5.0\na: [\n")).toMatch(/^butane-config: not valid YAML: /);
    expect(err("- 1\n")).toBe("butane-config: expected a YAML mapping with variant and version, got [1]");
    expect(err("variant: fcos\nversion: 1.5.0\nstorage:\n  files:\n    - path: /a\n      contents:\n        inline: x\n        source: http://y\n")).toContain("source and inline are mutually exclusive");
    // A 3.4 field in a Butane version that generates 3.3.
    expect(err("variant: fcos\nversion: 1.4.0\nstorage:\n  luks:\n    - name: r\n      device: /dev/sda4\n      discard: true\n")).toBe(
      'butane-config: translates to an invalid Ignition 3.3.0 config: $.storage.luks[0]: unexpected property "discard"',
    );
    expect(err("variant: fcos\nversion: 1.5.0\nstorage:\n  files:\n    - path: /a\n      mode: '0644'\n")).toContain('$.storage.files[0].mode: expected integer or null, got "0644"');
  });
});

describe("the Ignition format with butane-config", () => {
  const profile: OsProfile = { hostname: "n1", fqdn: "n1", adminKeys: ["ssh-ed25519 AAAA admin"], users: [], files: [], units: [], kernelArgs: [], installDisk: "/dev/sda", timezone: "Etc/UTC" };
  const render = (params: Record<string, unknown>, opts: Record<string, unknown> = {}) => FORMATS.ignition!.render(profile, { family: "fedora-coreos", param: (n) => params[n], ...opts });

  test("Butane wins for the same path, unit and user; the rest is kept", () => {
    const cfg = JSON.parse(render({ "butane-config": FCOS }));
    expect(cfg.ignition.version).toBe("3.4.0");
    const paths = cfg.storage.files.map((f: { path: string }) => f.path);
    expect(paths).toEqual(["/etc/hostname", "/opt/fetch"]);
    expect(cfg.storage.files[0].contents.source).toBe("data:,butane-host");
    expect(cfg.storage.links).toEqual([{ path: "/etc/localtime", target: "../usr/share/zoneinfo/UTC", overwrite: true, hard: false }]);
    expect(cfg.passwd.users[0]).toEqual({ name: "core", sshAuthorizedKeys: ["ssh-ed25519 AAAA admin", "ssh-ed25519 AAAA butane"] });
    expect(cfg.kernelArguments.shouldExist).toEqual(["quiet"]);
  });

  test("a Butane version newer than the config's spec is refused; versions and variants are checked", () => {
    expect(() => render({ "butane-config": FCOS, "ignition-version": "3.3.0" })).toThrow('butane-config: version "3.4.0" of Ignition (from Butane) is newer than the 3.3.0 this config is written in');
    expect(() => render({ "ignition-version": "3.5.0" })).toThrow('ignition-version: "3.5.0" is not one of 3.3.0, 3.4.0');
    expect(() => render({}, { variant: "rhcos" })).toThrow('it.OsConfig.Ignition: variant "rhcos" is not one of fcos, flatcar');
    expect(JSON.parse(render({}, { family: "flatcar" })).ignition.version).toBe("3.3.0");
    expect(JSON.parse(render({ "ignition-version": "3.3.0" })).ignition.version).toBe("3.3.0");
  });

  test("profile: false renders only the template's fragments, still checked", () => {
    expect(JSON.parse(render({ "butane-config": FCOS }, { profile: false, extra: { systemd: { units: [{ name: "a.service", enabled: true }] } } }))).toEqual({
      ignition: { version: "3.4.0" },
      systemd: { units: [{ name: "a.service", enabled: true }] },
    });
    expect(() => render({}, { extra: { systemd: { unit: [] } } })).toThrow('$.systemd: unexpected property "unit"');
  });
});
