import { describe, expect, test } from "bun:test";
import { createLogger } from "../log/logger.ts";
import type { ModelObject } from "../model/object.ts";
import { ParamCipher } from "../model/secure-params.ts";
import { memoryBootData, type MemoryBootData } from "./boot-data.ts";
import { metadataSource, type MetadataSourceOptions } from "./machine-metadata.ts";

const KEY_A = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa a@x";
const KEY_Z = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIZzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz z@x";
const ONE = "11111111-1111-4111-8111-111111111111";
const TWO = "22222222-2222-4222-8222-222222222222";

function machine(uuid: string, name: string, extra: Partial<ModelObject> = {}): ModelObject {
  return { Uuid: uuid, Name: name, HardwareAddrs: [], Arch: "amd64", BootEnv: "linuxkit", Profiles: [], Params: {}, ...extra };
}

function lease(addr: string, mac: string, state = "ACK", expiresInMs = 3600_000): ModelObject {
  return { Addr: addr, Token: mac, State: state, ExpireTime: new Date(Date.now() + expiresInMs).toISOString() };
}

const lines: string[] = [];
const log = createLogger({ level: "debug", sink: (l) => lines.push(l) });

function sourceOver(data: MemoryBootData, extra: Partial<MetadataSourceOptions> = {}) {
  return metadataSource({ data, log, ...extra });
}

describe("which machine asks: the per-machine file rule (Address, or an active lease of one of its MACs)", () => {
  const data = memoryBootData({
    machines: [
      machine(ONE, "web-1", { Address: "198.51.100.7", HardwareAddrs: ["52:54:00:00:00:01"] }),
      machine(TWO, "db-2", { HardwareAddrs: ["52:54:00:00:00:02", "52:54:00:00:00:03"] }),
    ],
    leases: [
      lease("198.51.100.20", "52:54:00:00:00:03"),
      lease("198.51.100.21", "52:54:00:00:00:02", "OFFER"),
      lease("198.51.100.22", "52:54:00:00:00:02", "ACK", -1000),
    ],
  });
  const src = sourceOver(data);

  test("by Address, also as an IPv4-mapped IPv6 source", () => {
    expect(src.byAddress("198.51.100.7")?.uuid).toBe(ONE);
    expect(src.byAddress("::ffff:198.51.100.7")?.uuid).toBe(ONE);
    expect(src.byAddress("::ffff:198.51.100.7")?.address).toBe("198.51.100.7");
  });

  test("by an active lease of any of its MACs", () => {
    expect(src.byAddress("198.51.100.20")?.uuid).toBe(TWO);
  });

  test("not by an offered or expired lease, an unknown address, or nothing", () => {
    for (const a of ["198.51.100.21", "198.51.100.22", "198.51.100.99", "", "  "]) expect(src.byAddress(a)).toBeUndefined();
  });

  test("an address two machines hold answers neither, with one log line naming both", () => {
    const d = memoryBootData({ machines: [machine(ONE, "web-1", { Address: "198.51.100.7" }), machine(TWO, "db-2", { HardwareAddrs: ["52:54:00:00:00:02"] })] });
    d.set("leases", "198.51.100.7", lease("198.51.100.7", "52:54:00:00:00:02"));
    const before = lines.length;
    expect(sourceOver(d).byAddress("198.51.100.7")).toBeUndefined();
    expect(lines.slice(before).join("\n")).toContain("machines=web-1,db-2");
  });

  test("bindMachineFiles=false (NAT labs) changes nothing: the address is the only identity", () => {
    const d = memoryBootData({ machines: [machine(ONE, "web-1", { Address: "198.51.100.7" })], prefs: [{ bindMachineFiles: "false" }] });
    expect(sourceOver(d).byAddress("198.51.100.8")).toBeUndefined();
  });
});

describe("what it is told", () => {
  test("params from every layer, in resolution order; unset ones absent; machine-type falls back to Arch", async () => {
    const data = memoryBootData({
      machines: [
        machine(ONE, "web-1.example", {
          Address: "198.51.100.7",
          Profiles: ["rack"],
          Params: { "access-keys": { zed: KEY_Z, alice: KEY_A, empty: "" }, "linuxkit-user-data": "hello" },
        }),
        machine(TWO, "db-2", { Address: "198.51.100.8", Arch: "" }),
      ],
      profiles: [
        { Name: "rack", Params: { "failure-domain": "rack-4", "machine-type": "r650" } },
        { Name: "global", Params: { "dns-domain": "lab.example", "metaldata-public-ipv4": "203.0.113.7" } },
      ],
    });
    const src = sourceOver(data);
    const one = src.byAddress("198.51.100.7")!;
    expect(await one.hostname()).toBe("web-1");
    expect(one).toMatchObject({
      uuid: ONE,
      address: "198.51.100.7",
      dnsDomain: "lab.example",
      publicIpv4: "203.0.113.7",
      failureDomain: "rack-4",
      machineType: "r650",
      userData: "hello",
      accessKeys: [
        { label: "alice", key: KEY_A },
        { label: "zed", key: KEY_Z },
      ],
    });
    const two = src.byAddress("198.51.100.8")!;
    expect(two.failureDomain).toBeUndefined();
    expect(two.machineType).toBeUndefined();
    expect(two.userData).toBeUndefined();
    expect(two.accessKeys).toEqual([]);
    const amd = sourceOver(memoryBootData({ machines: [machine(ONE, "x", { Address: "198.51.100.7" })] })).byAddress("198.51.100.7")!;
    expect(amd.machineType).toBe("amd64");
  });

  test("the host name is the one installers write (it.Machine.HostName): the Name's first label, cleaned; whatever the machine's BootEnv", async () => {
    const data = memoryBootData({
      machines: [
        machine(ONE, "Web 1.lab.example", { Address: "198.51.100.7", BootEnv: "gone" }),
        machine(TWO, "...", { Address: "198.51.100.8", HardwareAddrs: ["52:54:00:AA:BB:CC"] }),
      ],
    });
    expect(await sourceOver(data).byAddress("198.51.100.7")!.hostname()).toBe("web-1");
    expect(await sourceOver(data).byAddress("198.51.100.8")!.hostname()).toBe("host525400aabbcc");
  });

  test("sealed user data is opened for its machine; other sealed params stay sealed", () => {
    const cipher = new ParamCipher(ParamCipher.generateKey());
    const owner = { type: "machines" as const, key: ONE };
    const sealedUser = cipher.seal(owner, "linuxkit-user-data", "secret-user-data");
    const sealedHash = cipher.seal(owner, "provisioner-default-password-hash", "$6$x$y");
    const data = memoryBootData({
      machines: [machine(ONE, "web-1", { Address: "198.51.100.7", Params: { "linuxkit-user-data": sealedUser, "provisioner-default-password-hash": sealedHash } })],
    });
    expect(sourceOver(data, { cipher }).byAddress("198.51.100.7")!.userData).toBe("secret-user-data");
    // Without the key the lookup fails (the handler answers 503), rather than serve the envelope.
    expect(() => sourceOver(data).byAddress("198.51.100.7")).toThrow("cannot be decrypted");
  });
});
