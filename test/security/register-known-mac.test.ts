// Pins finding 2 of the machine-trust issue: "/register hands out and changes known machines. Take
// the registration token from GET :8091/boot/<unknown-mac>.ipxe (no credentials,
// unknownBootEnv=discovery). POST /register with a known machine's MAC plus another MAC. The
// answer carries the known machine's Params, secrets included. The new MAC is added to that
// machine, so it now boots what the attacker's MAC boots. Arch and inventory are overwritten. One
// registration token made 20 registrations in 0.2 s."
//
// A whole Socle with its boot file server; the attacker takes registration tokens from the
// discovery iPXE script of unknown MACs exactly as the finding says, and posts from loopback
// addresses of its choosing (curl --interface), the victim's own recorded address included.
// Required: a known MAC gets one refusal that says nothing about its machine, and nothing changes;
// a registration token creates one machine (single-use; a retry of that registration from the
// same address answers the same machine); requests are limited per source and per token. And a
// machine that registers, boots discovery again and registers again is still one machine: the
// second time it proves itself with its machine token (what the discovery env rendered for a known
// machine carries), not with a registration token.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { TestSocle } from "../helpers/socle.ts";
import { apiFrom, registrationToken, startWithBootServer, type Answer } from "./discovery-boot.ts";

const VICTIM_MAC = "52:54:00:52:00:01";
const VICTIM_ADDRESS = "127.0.0.2";
const ATTACKER_MAC = "52:54:00:52:00:66";
const BMC_PASSWORD = "victim-bmc-password-7f3a";
const HASH = "$6$victimSalt$victimHashThatMustNotLeak";

let s: TestSocle;
let bootPort = 0;
let victim = "";

const register = (from: string, token: string, body: unknown) => apiFrom(s, from, "POST", "/api/v3/register", { auth: `Bearer ${token}`, body });
const victimNow = () => {
  const { Validated, Available, Errors, ...m } = s.socle.store.get("machines", victim)!;
  return m;
};
const leaksNothing = (r: Answer) => {
  for (const secret of [victim, "victim-db", BMC_PASSWORD, HASH, VICTIM_ADDRESS]) expect(r.text).not.toContain(secret);
};

beforeAll(async () => {
  ({ s, bootPort } = await startWithBootServer());
  const made = await s.call("POST", "/api/v3/machines", {
    body: { Name: "victim-db", HardwareAddrs: [VICTIM_MAC], Address: VICTIM_ADDRESS, Arch: "amd64", BootEnv: "local", Params: { "bmc-password": BMC_PASSWORD, "provisioner-default-password-hash": HASH, inventory: { CPUs: 32 } } },
  });
  expect(made.status).toBe(201);
  victim = made.body.Uuid;
});
afterAll(async () => {
  await s?.stop();
});

describe("a registration token and a known machine's MAC", () => {
  test("its MAC plus the attacker's: refused, nothing about the machine in the answer, nothing changed", async () => {
    const before = victimNow();
    const token = await registrationToken(bootPort, ATTACKER_MAC);
    const r = await register("127.0.0.10", token, { HardwareAddrs: [VICTIM_MAC, ATTACKER_MAC], Arch: "arm64", Inventory: { CPUs: 1, SerialNumber: "ATTACKER" } });
    expect(r.status).toBe(403);
    leaksNothing(r);
    expect(victimNow()).toEqual(before);
    expect(victimNow().HardwareAddrs).toEqual([VICTIM_MAC]);
    expect(s.socle.store.list("machines").some((m) => (m.HardwareAddrs as string[]).includes(ATTACKER_MAC))).toBe(false);
  });

  test("its MAC alone, the MAC in capitals, from the victim's own address: the same refusal", async () => {
    const before = victimNow();
    const answers: Answer[] = [];
    for (const [macs, from] of [
      [[VICTIM_MAC], "127.0.0.11"],
      [[VICTIM_MAC.toUpperCase()], "127.0.0.12"],
      [[ATTACKER_MAC, VICTIM_MAC], VICTIM_ADDRESS],
    ] as Array<[string[], string]>) {
      const r = await register(from, await registrationToken(bootPort, ATTACKER_MAC), { HardwareAddrs: macs, Arch: "arm64", Inventory: { CPUs: 2 } });
      expect(r.status).toBe(403);
      leaksNothing(r);
      answers.push(r);
    }
    // One refusal, whichever MAC and address: it tells nothing apart.
    expect(new Set(answers.map((a) => a.text)).size).toBe(1);
    expect(victimNow()).toEqual(before);
  });
});

describe("one registration token, many registrations", () => {
  test("20 registrations at once with one token: one machine at most", async () => {
    const token = await registrationToken(bootPort, ATTACKER_MAC);
    const macs = Array.from({ length: 20 }, (_, i) => `52:54:00:52:01:${i.toString(16).padStart(2, "0")}`);
    const count = s.socle.store.list("machines").length;
    const rs = await Promise.all(macs.map((m, i) => register(`127.0.0.${20 + (i % 5)}`, token, { HardwareAddrs: [m] })));
    const created = rs.filter((r) => r.status === 201);
    expect(created.length).toBe(1);
    for (const r of rs) expect([201, 403, 429]).toContain(r.status);
    expect(s.socle.store.list("machines").length).toBe(count + 1);
  });

  test("a retry of that one registration, from its address, answers the same machine and changes nothing", async () => {
    const mac = "52:54:00:52:02:01";
    const token = await registrationToken(bootPort, mac);
    const first = await register("127.0.0.30", token, { HardwareAddrs: [mac], Inventory: { CPUs: 2 } });
    expect(first.status).toBe(201);
    expect(Object.keys(first.body).sort()).toEqual(["Machine", "Token"]);
    expect(Object.keys(first.body.Machine).sort()).toEqual(["Name", "Uuid"]);
    const stored = s.socle.store.get("machines", first.body.Machine.Uuid);
    const again = await register("127.0.0.30", token, { HardwareAddrs: [mac], Inventory: { CPUs: 64 } });
    expect(again.status).toBe(200);
    expect(again.body.Machine).toEqual(first.body.Machine);
    expect(s.socle.store.get("machines", first.body.Machine.Uuid)).toEqual(stored!);
    const elsewhere = await register("127.0.0.31", token, { HardwareAddrs: [mac] });
    expect(elsewhere.status).toBe(403);
    expect(elsewhere.text).not.toContain(first.body.Machine.Uuid);
  });

  test("per source: a flood of fresh tokens from one address is held back (429)", async () => {
    const tokens = await Promise.all(Array.from({ length: 20 }, (_, i) => registrationToken(bootPort, `52:54:00:52:03:${i.toString(16).padStart(2, "0")}`)));
    const count = s.socle.store.list("machines").length;
    const rs = [];
    for (let i = 0; i < tokens.length; i++) rs.push(await register("127.0.0.40", tokens[i]!, { HardwareAddrs: [`52:54:00:52:03:${i.toString(16).padStart(2, "0")}`] }));
    const statuses = rs.map((r) => r.status);
    expect(statuses.filter((st) => st === 429).length).toBeGreaterThanOrEqual(5);
    expect(statuses.filter((st) => st === 201).length).toBeLessThanOrEqual(15);
    expect(s.socle.store.list("machines").length - count).toBe(statuses.filter((st) => st === 201).length);
    // Another address is not held back by this one's flood.
    const other = await register("127.0.0.41", await registrationToken(bootPort, "52:54:00:52:04:01"), { HardwareAddrs: ["52:54:00:52:04:01"] });
    expect(other.status).toBe(201);
  });
});

describe("a machine that registers, boots discovery again and registers again is still one machine", () => {
  test("the second time with its machine token: 200, the same machine, only its inventory updated; a registration token is refused", async () => {
    const mac = "52:54:00:52:05:01";
    const from = "127.0.0.50";
    const first = await register(from, await registrationToken(bootPort, mac), { HardwareAddrs: [mac], Arch: "x86_64", Inventory: { CPUs: 2 } });
    expect(first.status).toBe(201);
    const uuid = first.body.Machine.Uuid;
    const before = s.socle.store.get("machines", uuid)!;
    // The operator sets it to boot discovery; the discovery script rendered for it now carries
    // its machine token (over the boot server as well, when that machine asks).
    const again = await register(from, first.body.Token, { HardwareAddrs: [mac], Arch: "x86_64", Inventory: { CPUs: 4 } });
    expect(again.status).toBe(200);
    expect(again.body.Machine).toEqual(first.body.Machine);
    expect(again.body.Token).not.toBe("");
    const after = s.socle.store.get("machines", uuid)!;
    expect((after.Params as any).inventory.CPUs).toBe(4);
    expect({ ...after, Params: undefined }).toEqual({ ...before, Params: undefined });
    // Booting with a registration token instead (the old way) is refused, and changes nothing.
    const fresh = await register(from, await registrationToken(bootPort, "52:54:00:52:05:99"), { HardwareAddrs: [mac], Inventory: { CPUs: 8 } });
    expect(fresh.status).toBe(403);
    expect(s.socle.store.list("machines").filter((m) => (m.HardwareAddrs as string[]).includes(mac)).length).toBe(1);
    expect((s.socle.store.get("machines", uuid)!.Params as any).inventory.CPUs).toBe(4);
    // Its machine token cannot bring another machine's MAC along.
    const grab = await register(from, first.body.Token, { HardwareAddrs: [mac, VICTIM_MAC] });
    expect(grab.status).toBe(403);
    leaksNothing(grab);
    expect(victimNow().HardwareAddrs).toEqual([VICTIM_MAC]);
  });
});
