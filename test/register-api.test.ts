// POST /api/v3/register: self-registration of discovered machines, through the real API app
// (createApi, memory store, real Authenticator). The caller's address comes from a header that
// only this test's remoteOf reads, so requests can come "from" any lab address.

import { beforeEach, describe, expect, test } from "bun:test";
import { createApi } from "../src/api/app.ts";
import { Authenticator } from "../src/api/authn.ts";
import { ObjectService } from "../src/api/objects.ts";
import { PrefsService } from "../src/api/prefs.ts";
import { EventHub } from "../src/api/events.ts";
import type { ApiDeps } from "../src/api/deps.ts";
import { MemoryStore } from "../src/store/memory-store.ts";
import { nullLogger } from "../src/log/logger.ts";
import { registrationClaims, superuserClaims, type Principal } from "../src/auth/claims.ts";
import { discoveredName, parseRegistration, remoteIPv4 } from "../src/api/routes-register.ts";
import { SocleError } from "../src/model/errors.ts";

const REMOTE = "x-test-remote";
const ADMIN = "Bearer admin";
const REG = "Bearer registration";

interface Env {
  deps: ApiDeps;
  store: MemoryStore;
  call(method: string, path: string, opts?: { body?: unknown; auth?: string | null; remote?: string }): Promise<{ status: number; body: any }>;
}

/**
 * The API with a real Authenticator for machine tokens, and two fixed bearer values standing in
 * for an admin and a registration principal (the guard and the route see the same Principal
 * objects the token check produces).
 */
async function env(): Promise<Env> {
  const store = new MemoryStore();
  await store.open();
  const objects = new ObjectService(store);
  const real = new Authenticator({ store, serverKey: "test-server-key-0123456789", registrationSecret: "test-registration-secret-42", log: nullLogger });
  const fixed: Record<string, Principal> = {
    [ADMIN]: { kind: "user", name: "admin", claims: superuserClaims() },
    [REG]: { kind: "registration", name: "registration", claims: registrationClaims() },
  };
  const authn = Object.create(real) as Authenticator;
  authn.authenticate = async (header, remote) => fixed[header ?? ""] ?? real.authenticate(header, remote);
  const deps: ApiDeps = {
    store,
    objects,
    authn,
    prefs: new PrefsService(store),
    events: new EventHub(store),
    log: nullLogger,
    info: () => ({}),
    version: "0.0.0-test",
  };
  const app = createApi(deps, (req) => req.headers.get(REMOTE) ?? "");
  return {
    deps,
    store,
    async call(method, path, opts = {}) {
      const headers: Record<string, string> = { [REMOTE]: opts.remote ?? "198.51.100.100" };
      if (opts.auth !== null) headers.Authorization = opts.auth ?? REG;
      if (opts.body !== undefined) headers["Content-Type"] = "application/json";
      const res = await app.fetch(new Request(`https://socle.test${path}`, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) }));
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    },
  };
}

const MAC1 = "52:54:00:e2:00:01";
const MAC2 = "52:54:00:e2:00:02";
const inventory = { CPUs: 2, MemoryBytes: 268435456, Disks: [{ Name: "vda", SizeBytes: 21474836480 }], SerialNumber: "SN-1", SystemUuid: "4c4c4544-0031-3510-8052-b4c04f4e3232" };

let e: Env;
beforeEach(async () => {
  e = await env();
});

describe("register: create", () => {
  test("an unknown machine is created with its MACs, address, inventory, and gets a machine token", async () => {
    const r = await e.call("POST", "/api/v3/register", { body: { HardwareAddrs: [MAC1.toUpperCase(), MAC2], Arch: "x86_64", Inventory: inventory } });
    expect(r.status).toBe(201);
    const m = r.body.Machine;
    expect(m.Name).toBe("d525400e20001");
    expect(m.HardwareAddrs).toEqual([MAC1, MAC2]);
    expect(m.Address).toBe("198.51.100.100");
    expect(m.Arch).toBe("amd64");
    expect(m.BootEnv).toBe("");
    expect(m.Secret).toBeUndefined();
    expect(m.Params.inventory).toMatchObject(inventory);
    expect(typeof m.Params.inventory.RegisteredAt).toBe("string");
    // The machine token reads this machine and nothing else.
    const own = await e.call("GET", `/api/v3/machines/${m.Uuid}`, { auth: `Bearer ${r.body.Token}` });
    expect(own.status).toBe(200);
    expect(own.body.Uuid).toBe(m.Uuid);
    const list = await e.call("GET", "/api/v3/profiles", { auth: `Bearer ${r.body.Token}` });
    expect(list.status).toBe(403);
    // And it is visible to the operator.
    const all = await e.call("GET", `/api/v3/machines?HardwareAddrs=Eq(${MAC2})`, { auth: ADMIN });
    expect(all.body.map((x: any) => x.Uuid)).toEqual([m.Uuid]);
  });

  test("Name, else a valid free Hostname, else d<mac>", async () => {
    const a = await e.call("POST", "/api/v3/register", { body: { HardwareAddrs: [MAC1], Name: "rack1-n1", Inventory: { Hostname: "ignored" } }, remote: "198.51.100.101" });
    expect(a.body.Machine.Name).toBe("rack1-n1");
    const b = await e.call("POST", "/api/v3/register", { body: { HardwareAddrs: [MAC2], Inventory: { Hostname: "rack1-n1" } }, remote: "198.51.100.102" });
    expect(b.body.Machine.Name).toBe(discoveredName(MAC2)); // hostname taken by another machine
    const c = await e.call("POST", "/api/v3/register", { body: { HardwareAddrs: ["52:54:00:e2:00:03"], Inventory: { Hostname: "web-3" } }, remote: "198.51.100.103" });
    expect(c.body.Machine.Name).toBe("web-3");
  });

  test("an address another machine holds is not taken over", async () => {
    await e.call("POST", "/api/v3/machines", { auth: ADMIN, body: { Name: "other", Address: "198.51.100.100" } });
    const r = await e.call("POST", "/api/v3/register", { body: { HardwareAddrs: [MAC1] } });
    expect(r.status).toBe(201);
    expect(r.body.Machine.Address).toBe("");
  });

  test("concurrent registrations of one machine create it once", async () => {
    const rs = await Promise.all([1, 2, 3].map(() => e.call("POST", "/api/v3/register", { body: { HardwareAddrs: [MAC1] } })));
    const uuids = new Set(rs.map((r) => r.body.Machine?.Uuid));
    expect(uuids.size).toBe(1);
    expect(rs.map((r) => r.status).sort()).toEqual([200, 200, 201]);
    expect(e.store.list("machines").length).toBe(1);
  });
});

describe("register: a known machine is matched, not duplicated", () => {
  test("by any of its MACs, from its own address: updated, token issued", async () => {
    const first = await e.call("POST", "/api/v3/register", { body: { HardwareAddrs: [MAC1], Inventory: { CPUs: 1 } } });
    const again = await e.call("POST", "/api/v3/register", { body: { HardwareAddrs: [MAC2, MAC1], Inventory: { CPUs: 4 } } });
    expect(again.status).toBe(200);
    expect(again.body.Machine.Uuid).toBe(first.body.Machine.Uuid);
    expect(again.body.Machine.HardwareAddrs).toEqual([MAC1, MAC2]);
    expect(again.body.Machine.Params.inventory.CPUs).toBe(4);
    expect(again.body.Token).not.toBe("");
    expect(e.store.list("machines").length).toBe(1);
  });

  test("from an address it does not hold: inventory recorded, no token; operator fields untouched", async () => {
    const made = await e.call("POST", "/api/v3/machines", { auth: ADMIN, body: { Name: "db1", HardwareAddrs: [MAC1], BootEnv: "", Params: { role: "db" } } });
    expect(made.status).toBe(201);
    const r = await e.call("POST", "/api/v3/register", { body: { HardwareAddrs: [MAC1], Inventory: { CPUs: 8 } }, remote: "198.51.100.150" });
    expect(r.status).toBe(200);
    expect(r.body.Token).toBe("");
    expect(r.body.Machine.Name).toBe("db1");
    expect(r.body.Machine.Params.role).toBe("db");
    expect(r.body.Machine.Params.inventory.CPUs).toBe(8);
    expect(r.body.Machine.Address).toBe("");
  });

  test("from the address Socle's DHCP leased to one of its MACs: token issued", async () => {
    await e.call("POST", "/api/v3/machines", { auth: ADMIN, body: { Name: "db1", HardwareAddrs: [MAC1] } });
    const lease = (state: string, ms: number) => ({ Addr: "198.51.100.150", Token: MAC1, Strategy: "MAC", State: state, ExpireTime: new Date(Date.now() + ms).toISOString() });
    await e.store.put("leases", "198.51.100.150", lease("OFFER", 60_000));
    expect((await e.call("POST", "/api/v3/register", { body: { HardwareAddrs: [MAC1] }, remote: "198.51.100.150" })).body.Token).toBe("");
    await e.store.put("leases", "198.51.100.150", lease("ACK", -1000));
    expect((await e.call("POST", "/api/v3/register", { body: { HardwareAddrs: [MAC1] }, remote: "198.51.100.150" })).body.Token).toBe("");
    await e.store.put("leases", "198.51.100.150", lease("ACK", 60_000));
    const r = await e.call("POST", "/api/v3/register", { body: { HardwareAddrs: [MAC1] }, remote: "::ffff:198.51.100.150" });
    expect(r.body.Token).not.toBe("");
    expect(r.body.Machine.Address).toBe("198.51.100.150");
  });

  test("MACs of two different machines: 409 naming both, nothing changed", async () => {
    await e.call("POST", "/api/v3/machines", { auth: ADMIN, body: { Name: "a", HardwareAddrs: [MAC1] } });
    await e.call("POST", "/api/v3/machines", { auth: ADMIN, body: { Name: "b", HardwareAddrs: [MAC2] } });
    const r = await e.call("POST", "/api/v3/register", { body: { HardwareAddrs: [MAC1, MAC2] } });
    expect(r.status).toBe(409);
    expect(r.body.Messages[0]).toContain("a, b");
  });
});

describe("register: a registration token may do nothing else", () => {
  const denied: Array<[string, string, unknown?]> = [
    ["GET", "/api/v3/machines"],
    ["POST", "/api/v3/machines", { Name: "sneaky", BootEnv: "local" }],
    ["GET", "/api/v3/prefs"],
    ["POST", "/api/v3/prefs", { unknownBootEnv: "local" }],
    ["GET", "/api/v3/register"],
    ["GET", "/api/v3/users/admin/token"],
  ];
  for (const [method, path, body] of denied) {
    test(`${method} ${path} is 403`, async () => {
      const r = await e.call(method, path, { body });
      expect(r.status).toBe(403);
      expect(r.body.Messages[0]).toContain("registration token may only POST /api/v3/register");
    });
  }

  test("fields beyond the registration facts are refused (422), so BootEnv and Params cannot be chosen", async () => {
    const r = await e.call("POST", "/api/v3/register", { body: { HardwareAddrs: [MAC1], BootEnv: "local", Params: { x: 1 } } });
    expect(r.status).toBe(422);
    expect(r.body.Messages.join("\n")).toContain('field "BootEnv" is not accepted');
    expect(e.store.list("machines").length).toBe(0);
  });

  test("a machine token cannot register (403), no credentials is 401", async () => {
    const made = await e.call("POST", "/api/v3/register", { body: { HardwareAddrs: [MAC1] } });
    const r = await e.call("POST", "/api/v3/register", { body: { HardwareAddrs: [MAC2] }, auth: `Bearer ${made.body.Token}` });
    expect(r.status).toBe(403);
    const anon = await e.call("POST", "/api/v3/register", { body: { HardwareAddrs: [MAC2] }, auth: null });
    expect(anon.status).toBe(401);
  });
});

describe("register: input checks", () => {
  const bad: Array<[string, unknown, string]> = [
    ["no MACs", { HardwareAddrs: [] }, "HardwareAddrs must be a non-empty list"],
    ["a bad MAC", { HardwareAddrs: ["zz:01"] }, 'invalid MAC "zz:01"'],
    ["not an object", [MAC1], "expected a JSON object"],
    ["bad arch", { HardwareAddrs: [MAC1], Arch: "vax" }, 'unknown architecture "vax"'],
    ["bad name", { HardwareAddrs: [MAC1], Name: "a/b" }, 'invalid name "a/b"'],
    ["negative memory", { HardwareAddrs: [MAC1], Inventory: { MemoryBytes: -1 } }, "Inventory.MemoryBytes"],
    ["zero CPUs", { HardwareAddrs: [MAC1], Inventory: { CPUs: 0 } }, "Inventory.CPUs"],
    ["disk without size", { HardwareAddrs: [MAC1], Inventory: { Disks: [{ Name: "sda" }] } }, "Inventory.Disks[0]"],
    ["nic with bad MAC", { HardwareAddrs: [MAC1], Inventory: { Nics: [{ Name: "eth0", Mac: "x" }] } }, "Inventory.Nics[0]"],
    ["control characters", { HardwareAddrs: [MAC1], Inventory: { SerialNumber: "a\nb" } }, "Inventory.SerialNumber"],
    ["unknown inventory field", { HardwareAddrs: [MAC1], Inventory: { Gpu: "x" } }, 'Inventory: field "Gpu"'],
    ["too many MACs", { HardwareAddrs: Array.from({ length: 65 }, (_, i) => `52:54:00:00:01:${i.toString(16).padStart(2, "0")}`) }, "more than 64"],
  ];
  for (const [what, body, msg] of bad) {
    test(`${what}: 422 quoting the problem`, async () => {
      const r = await e.call("POST", "/api/v3/register", { body });
      expect(r.status).toBe(422);
      expect(r.body.Messages.join("\n")).toContain(msg);
    });
  }

  test("parseRegistration lists every problem at once and de-duplicates MACs", () => {
    try {
      parseRegistration({ HardwareAddrs: ["x"], Arch: "vax", Extra: 1 });
      throw new Error("no error");
    } catch (err) {
      expect(err).toBeInstanceOf(SocleError);
      expect((err as SocleError).messages.length).toBe(3);
    }
    expect(parseRegistration({ HardwareAddrs: [MAC1, MAC1.toUpperCase()] }).HardwareAddrs).toEqual([MAC1]);
  });

  test("remoteIPv4 strips the IPv4-mapped prefix and rejects the rest", () => {
    expect(remoteIPv4("::ffff:198.51.100.7")).toBe("198.51.100.7");
    expect(remoteIPv4("198.51.100.7")).toBe("198.51.100.7");
    expect(remoteIPv4("2001:db8::1")).toBe("");
    expect(remoteIPv4("")).toBe("");
  });
});

describe("register: with a real registration token", () => {
  test("the token Authenticator issues for discovery registers, and is refused elsewhere", async () => {
    const token = e.deps.authn.tokenForRegistration(600).token;
    const ok = await e.call("POST", "/api/v3/register", { body: { HardwareAddrs: [MAC1] }, auth: `Bearer ${token}` });
    expect(ok.status).toBe(201);
    expect(ok.body.Token).not.toBe("");
    for (const [method, path] of [["GET", "/api/v3/machines"], ["POST", "/api/v3/machines"], ["GET", `/api/v3/machines/${ok.body.Machine.Uuid}`]] as const) {
      const no = await e.call(method, path, { auth: `Bearer ${token}`, body: method === "POST" ? { Name: "x" } : undefined });
      expect(no.status).toBe(403);
    }
  });

  test("an expired or foreign registration token is 401", async () => {
    const other = new Authenticator({ store: e.store, serverKey: "another-server-key-987654321", registrationSecret: "test-registration-secret-42", log: nullLogger });
    const r = await e.call("POST", "/api/v3/register", { body: { HardwareAddrs: [MAC1] }, auth: `Bearer ${other.tokenForRegistration(600).token}` });
    expect(r.status).toBe(401);
    const past = new Authenticator({ store: e.store, serverKey: "test-server-key-0123456789", registrationSecret: "test-registration-secret-42", log: nullLogger, now: () => Date.now() - 3_600_000 });
    const old = await e.call("POST", "/api/v3/register", { body: { HardwareAddrs: [MAC1] }, auth: `Bearer ${past.tokenForRegistration(600).token}` });
    expect(old.status).toBe(401);
    expect(old.body.Messages[0]).toContain("expired");
  });
});
