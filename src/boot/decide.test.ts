import { describe, expect, test } from "bun:test";
import type { ModelObject } from "../model/object.ts";
import { bootPrefs } from "./boot-data.ts";
import type { ClientFacts } from "./booter.ts";
import { decide, type BootFacts, type BootView } from "./decide.ts";

const KNOWN = "52:54:00:00:00:01";
const BARE = "52:54:00:00:00:02"; // a machine with BootEnv ""
const UNKNOWN = "52:54:00:99:99:99";

const n1: ModelObject = { Uuid: "00000000-0000-0000-0000-000000000001", Name: "n1", HardwareAddrs: [KNOWN], BootEnv: "rocky" };
const n2: ModelObject = { Uuid: "00000000-0000-0000-0000-000000000002", Name: "n2", HardwareAddrs: [BARE], BootEnv: "" };
const ENVS: Record<string, ModelObject> = {
  rocky: { Name: "rocky", Loaders: { amd64: "/custom/ipxe.efi", "386": "" }, Templates: [{ Name: "ipxe", Path: "<%= it.Machine.Path %>.ipxe" }] },
  local: { Name: "local", Templates: [{ Name: "boot", Path: "local.ipxe" }, { Name: "grub", Path: "grub/local.cfg" }] },
  discovery: { Name: "discovery", Templates: [{ Name: "ipxe", Path: "discovery.ipxe" }, { Name: "grub", Path: "grub/discovery.cfg" }] },
  ignore: { Name: "ignore", Templates: [{ Name: "ipxe", Path: "ignore.ipxe" }] },
};

/** A read-only view over plain objects: decide reads nothing else. */
function view(prefs: Record<string, string> = {}, envs: Record<string, ModelObject> = ENVS): BootView {
  const machines = [n1, n2];
  return {
    machineByMac: (mac) => machines.find((m) => (m.HardwareAddrs as string[]).includes(mac)),
    bootEnv: (name) => envs[name],
    prefs: () => bootPrefs({ unknownBootEnv: "discovery", defaultBootEnv: "local", ...prefs }),
  };
}

/** DHCP facts of a PXE client (option 60 PXEClient), x64 UEFI unless told. */
const dhcp = (mac: string, over: Partial<ClientFacts> = {}): BootFacts => ({ asks: "loader", mac, arch: 7, userClass: "", vendorClass: "PXEClient:Arch:00007:UNDI:003016", ...over });
const script = (mac: string, loader: "iPXE" | "GRUB" = "iPXE"): BootFacts => ({ asks: "script", mac, loader });

describe("decide", () => {
  test("known machine with a BootEnv: its env, its loader (BootEnv.Loaders overriding), its script", () => {
    const data = view();
    expect(decide(dhcp(KNOWN.toUpperCase()), data)).toEqual({ kind: "boot", mac: KNOWN, machine: n1, envName: "rocky", env: ENVS.rocky!, loader: { file: "custom/ipxe.efi", fetch: "tftp" } });
    expect(decide(script(KNOWN), data)).toMatchObject({ kind: "boot", machine: n1, envName: "rocky", script: { Name: "ipxe" } });
    expect(decide({ asks: "env", machine: n1 }, data)).toEqual({ kind: "boot", mac: "", machine: n1, envName: "rocky", env: ENVS.rocky! });
  });

  test("BootEnv.Loaders: overrides its arch only; an empty override keeps the default; UEFI HTTP boot is overridden too", () => {
    const data = view();
    expect(decide(dhcp(KNOWN, { arch: 16, vendorClass: "HTTPClient:Arch:00016:UNDI:003001" }), data)).toMatchObject({ loader: { file: "custom/ipxe.efi", fetch: "http" } });
    expect(decide(dhcp(KNOWN, { arch: 0 }), data)).toMatchObject({ loader: { file: "undionly.kpxe", fetch: "tftp" } }); // "386": ""
    expect(decide(dhcp(KNOWN, { arch: 11 }), data)).toMatchObject({ loader: { file: "grubnetaa64.efi", fetch: "tftp" } });
    // Another machine's env has no override.
    expect(decide(dhcp(BARE), data)).toMatchObject({ envName: "local", loader: { file: "ipxe.efi", fetch: "tftp" } });
  });

  test("known machine with an empty BootEnv: the defaultBootEnv pref", () => {
    const data = view({ defaultBootEnv: "discovery" });
    expect(decide(dhcp(BARE), data)).toMatchObject({ kind: "boot", machine: n2, envName: "discovery", env: ENVS.discovery });
    expect(decide({ asks: "env", machine: n2 }, data)).toMatchObject({ kind: "boot", envName: "discovery" });
  });

  test("unknown machine: the unknownBootEnv pref (discovery), with no machine", () => {
    const data = view();
    expect(decide(dhcp(UNKNOWN), data)).toEqual({ kind: "boot", mac: UNKNOWN, machine: undefined, envName: "discovery", env: ENVS.discovery!, loader: { file: "ipxe.efi", fetch: "tftp" } });
    expect(decide(script(UNKNOWN, "GRUB"), data)).toMatchObject({ kind: "boot", machine: undefined, envName: "discovery", script: { Name: "grub" } });
    expect(decide({ asks: "env", machine: undefined }, data)).toMatchObject({ kind: "boot", envName: "discovery" });
  });

  test('unknown machine, unknownBootEnv "ignore", no ignore env: a loader all the same, then an exit script; nothing to render', () => {
    const { ignore: _, ...envs } = ENVS;
    const data = view({ unknownBootEnv: "ignore" }, envs);
    expect(decide(dhcp(UNKNOWN), data)).toEqual({
      kind: "exit",
      reason: "ignored",
      why: 'unknown machine 52:54:00:99:99:99 is ignored (unknownBootEnv "ignore")',
      mac: UNKNOWN,
      machine: undefined,
      envName: "ignore",
      loader: { file: "ipxe.efi", fetch: "tftp" },
    });
    expect(decide(dhcp(UNKNOWN, { userClass: "iPXE" }), data)).toMatchObject({ kind: "exit", loader: { file: "default.ipxe", fetch: "ipxe" } });
    expect(decide(dhcp(UNKNOWN, { arch: 42 }), data)).toMatchObject({ kind: "ignore", reason: "no-loader" });
    expect(decide(script(UNKNOWN), data)).toMatchObject({ kind: "exit", reason: "ignored", why: 'unknown machine 52:54:00:99:99:99 is ignored (unknownBootEnv "ignore")' });
    expect(decide({ asks: "env", machine: undefined }, data)).toMatchObject({ kind: "ignore", reason: "ignored", envName: "ignore" });
    // Known machines are not affected.
    expect(decide(dhcp(KNOWN), data)).toMatchObject({ kind: "boot", envName: "rocky" });
  });

  test('unknown machine, "ignore" with the ignore env stored: that env, like any other', () => {
    const data = view({ unknownBootEnv: "ignore" });
    expect(decide(dhcp(UNKNOWN), data)).toMatchObject({ kind: "boot", envName: "ignore", env: ENVS.ignore, loader: { file: "ipxe.efi" } });
    expect(decide(script(UNKNOWN), data)).toMatchObject({ kind: "boot", script: { Name: "ipxe", Path: "ignore.ipxe" } });
  });

  test("env missing: no DHCP boot answer, an exit script saying why, nothing to render", () => {
    const data = view({ defaultBootEnv: "gone", unknownBootEnv: "nonexistent" });
    const why = 'boot environment "gone" of machine "n2" does not exist';
    expect(decide(dhcp(BARE), data)).toEqual({ kind: "ignore", reason: "no-env", why, mac: BARE, machine: n2, envName: "gone" });
    expect(decide(dhcp(BARE, { userClass: "iPXE" }), data)).toMatchObject({ kind: "ignore", reason: "no-env" }); // before iPXE's dispatcher
    expect(decide(script(BARE), data)).toEqual({ kind: "exit", reason: "no-env", why, mac: BARE, machine: n2, envName: "gone" });
    expect(decide({ asks: "env", machine: n2 }, data)).toMatchObject({ kind: "ignore", reason: "no-env", envName: "gone" });
    expect(decide(script(UNKNOWN), data)).toMatchObject({ kind: "exit", why: 'boot environment "nonexistent" of unknown machines does not exist' });
  });

  test("an env without the asking loader's template: an exit script saying so", () => {
    expect(decide(script(KNOWN, "GRUB"), view())).toMatchObject({ kind: "exit", reason: "no-script", why: 'boot environment "rocky" has no GRUB template', envName: "rocky" });
    // Without a template named "ipxe", iPXE's is the first whose Path ends in .ipxe.
    expect(decide(script(BARE, "iPXE"), view())).toMatchObject({ kind: "boot", script: { Name: "boot" } });
  });

  test("a plain OS DHCP client gets no loader; option 93 alone is enough on a lease", () => {
    const data = view();
    const plain = { kind: "ignore", reason: "not-netboot", mac: KNOWN, machine: undefined, envName: "" };
    expect(decide(dhcp(KNOWN, { arch: undefined, vendorClass: "" }), data)).toMatchObject(plain);
    expect(decide(dhcp(KNOWN, { arch: undefined, vendorClass: "udhcp 1.35.0" }), data)).toMatchObject(plain);
    expect(decide(dhcp(KNOWN, { arch: 7, vendorClass: "" }), data)).toMatchObject({ kind: "boot" });
    // A classic BIOS PXE ROM without option 93: PXEClient says it, and no arch means BIOS.
    expect(decide(dhcp(UNKNOWN, { arch: undefined, vendorClass: "PXEClient:Arch:00000:UNDI:002001" }), data)).toMatchObject({ loader: { file: "undionly.kpxe", fetch: "tftp" } });
  });

  test("iPXE user class: the dispatcher, whatever the firmware below, and no override", () => {
    const data = view();
    expect(decide(dhcp(KNOWN, { userClass: "iPXE", arch: 0 }), data)).toMatchObject({ kind: "boot", envName: "rocky", loader: { file: "default.ipxe", fetch: "ipxe" } });
    expect(decide(dhcp(UNKNOWN, { userClass: "iPXE", arch: undefined, vendorClass: "" }), data)).toMatchObject({ loader: { file: "default.ipxe", fetch: "ipxe" } });
  });

  test("an architecture without a loader: no boot answer; arm64 HTTP boot is one", () => {
    const data = view();
    expect(decide(dhcp(UNKNOWN, { arch: 42 }), data)).toEqual({ kind: "ignore", reason: "no-loader", why: "no loader for client architecture 42", mac: UNKNOWN, machine: undefined, envName: "discovery" });
    expect(decide(dhcp(UNKNOWN, { arch: 19, vendorClass: "HTTPClient:Arch:00019:UNDI:003000" }), data)).toMatchObject({ kind: "ignore", reason: "no-loader" });
  });

  test("the preview names another env: that env, or a missing one", () => {
    const data = view();
    expect(decide({ asks: "env", machine: n1, env: "discovery" }, data)).toMatchObject({ kind: "boot", machine: n1, envName: "discovery" });
    expect(decide({ asks: "env", machine: undefined, env: "nope" }, data)).toMatchObject({ kind: "ignore", reason: "no-env", envName: "nope" });
  });
});
