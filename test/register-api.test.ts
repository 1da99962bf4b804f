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
import type { RegistrationLimits } from "../src/api/registration-limits.ts";
import { MemoryStore } from "../src/store/memory-store.ts";
import { nullLogger } from "../src/log/logger.ts";
import { registrationClaims, superuserClaims, type Principal } from "../src/auth/claims.ts";
import { discoveredName, KNOWN_MAC_REFUSAL, parseRegistration, remoteIPv4, SPENT_TOKEN_REFUSAL } from "../src/api/routes-register.ts";
import { SocleError } from "../src/model/errors.ts";

const REMOTE = "x-test-remote";
const ADMIN = "Bearer admin";
/** Stand-ins for registration tokens: every distinct "Bearer registration..." is another token. */
const REG = "Bearer registration";

interface Env {
  deps: ApiDeps;
  store: MemoryStore;
  call(method: string, path: string, opts?: { body?: unknown; auth?: string | null; remote?: string }): Promise<{ status: number; body: any; headers: Headers }>;
}

/**
 * The API with a real Authenticator for machine tokens, and fixed bearer values standing in for
 * an admin and for registration principals (the guard and the route see the same Principal
 * objects the token check produces).
 */
async function env(limits?: Partial<RegistrationLimits>): Promise<Env> {
  const store = new MemoryStore();
  await store.open();
  const objects = new ObjectService(store);
  const real = new Authenticator({ store, serverKey: "test-server-key-0123456789", registrationSecret: "test-registration-secret-42", log: nullLogger });
  const admin: Principal = { kind: "user", name: "admin", claims: superuserClaims() };
  const registration: Principal = { kind: "registration", name: "registration", claims: registrationClaims() };
  const authn = Object.create(real) as Authenticator;
  authn.authenticate = async (header, remote) => (header === ADMIN ? admin : header?.startsWith(REG) ? registration : real.authenticate(header, remote));
  const deps: ApiDeps = {
    store,
    objects,
    authn,
    prefs: new PrefsService(store),
    events: new EventHub(store),
    log: nullLogger,
    info: () => ({}),
    version: "0.0.0-test",
    ...(limits ? { registrationLimits: limits } : {}),
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
      return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
    },
  };
}

const MAC1 = "52:54:00:e2:00:01";
const MAC2 = "52:54:00:e2:00:02";
const MAC3 = "52:54:00:e2:00:03";
const inventory = { CPUs: 2, MemoryBytes: 268435456, Disks: [{ Name: "vda", SizeBytes: 21474836480 }], SerialNumber: "SN-1", SystemUuid: "4c4c4544-0031-3510-8052-b4c04f4e3232" };

let e: Env;
beforeEach(async () => {
  e = await env();
});

const machine = (uuid: string) => e.store.get("machines", uuid)!;

describe("register: create", () => {
  test("an unknown machine is created with its MACs, address, inventory; the answer is its Uuid, Name and token only", async () => {
    const r = await e.call("POST", "/api/v3/register", { body: { HardwareAddrs: [MAC1.toUpperCase(), MAC2], Arch: "x86_64", Inventory: inventory } });
    expect(r.status).toBe(201);
    expect(Object.keys(r.body).sort()).toEqual(["Machine", "Token"]);
    expect(r.body.Machine).toEqual({ Uuid: expect.any(String), Name: "d525400e20001" });
    // The machine token reads this machine and nothing else.
    const own = await e.call("GET", `/api/v3/machines/${r.body.Machine.Uuid}`, { auth: `Bearer ${r.body.Token}` });
    expect(own.status).toBe(200);
    const m = own.body;
    expect(m.HardwareAddrs).toEqual([MAC1, MAC2]);
    expect(m.Address).toBe("198.51.100.100");
    expect(m.Arch).toBe("amd64");
    expect(m.BootEnv).toBe("");
    expect(m.Secret).toBeUndefined();
    expect(m.Params.inventory).toMatchObject(inventory);
    expect(typeof m.Params.inventory.RegisteredAt).toBe("string");
    const list = await e.call("GET", "/api/v3/profiles", { auth: `Bearer ${r.body.Token}` });
    expect(list.status).toBe(403);
    // And it is visible to the operator.
    const all = await e.call("GET", `/api/v3/machines?HardwareAddrs=Eq(${MAC2})`, { auth: ADMIN });
    expect(all.body.map((x: any) => x.Uuid)).toEqual([m.Uuid]);
  });

  test("the defaultWorkflow pref starts a registered machine on its workflow; one that does not exist registers without", async () => {
    for (const [type, obj] of [["tasks", { Name: "t1" }], ["stages", { Name: "s1", Tasks: ["t1"] }], ["workflows", { Name: "w1", Stages: ["s1"] }]] as const) {
      expect((await e.call("POST", `/api/v3/${type}`, { auth: ADMIN, body: obj })).status).toBe(201);
    }
    expect((await e.call("POST", "/api/v3/prefs", { auth: ADMIN, body: { defaultWorkflow: "w1" } })).status).toBe(200);
    const r = await e.call("POST", "/api/v3/register", { body: { HardwareAddrs: [MAC1], Inventory: inventory } });
    expect(r.status).toBe(201);
    expect(machine(r.body.Machine.Uuid)).toMatchObject({ Workflow: "w1", Tasks: ["stage:s1", "t1"], CurrentTask: -1 });
    expect((await e.call("POST", "/api/v3/prefs", { auth: ADMIN, body: { defaultWorkflow: "gone" } })).status).toBe(200);
    const r2 = await e.call("POST", "/api/v3/register", { body: { HardwareAddrs: [MAC2], Inventory: inventory }, remote: "198.51.100.101", auth: `${REG}-second` });
    expect(r2.status).toBe(201);
    expect(machine(r2.body.Machine.Uuid)).toMatchObject({ Workflow: "", Tasks: [] });
  });

  test("Name, else a valid free Hostname, else d<mac>", async () => {
    const a = await e.call("POST", "/api/v3/register", { body: { HardwareAddrs: [MAC1], Name: "rack1-n1", Inventory: { Hostname: "ignored" } }, remote: "198.51.100.101", auth: `${REG}-a` });
    expect(a.body.Machine.Name).toBe("rack1-n1");
    const b = await e.call("POST", "/api/v3/register", { body: { HardwareAddrs: [MAC2], Inventory: { Hostname: "rack1-n1" } }, remote: "198.51.100.102", auth: `${REG}-b` });
    expect(b.body.Machine.Name).toBe(discoveredName(MAC2)); // hostname taken by another machine
    const c = await e.call("POST", "/api/v3/register", { body: { HardwareAddrs: [MAC3], Inventory: { Hostname: "web-3" } }, remote: "198.51.100.103", auth: `${REG}-c` });
    expect(c.body.Machine.Name).toBe("web-3");
  });

  test("an address another machine holds is not taken over", async () => {
    await e.call("POST", "/api/v3/machines", { auth: ADMIN, body: { Name: "other", Address: "198.51.100.100" } });
    const r = await e.call("POST", "/api/v3/register", { body: { HardwareAddrs: [MAC1] } });
    expect(r.status).toBe(201);
    expect(machine(r.body.Machine.Uuid).Address).toBe("");
  });

  test("concurrent requests with one token (a retry racing the first) create the machine once", async () => {
    const rs = await Promise.all([1, 2, 3].map(() => e.call("POST", "/api/v3/register", { body: { HardwareAddrs: [MAC1] } })));
    const uuids = new Set(rs.map((r) => r.body.Machine?.Uuid));
    expect(uuids.size).toBe(1);
    expect(rs.map((r) => r.status).sort()).toEqual([200, 200, 201]);
    expect(rs.every((r) => r.body.Token !== "")).toBe(true);
    expect(e.store.list("machines").length).toBe(1);
  });
});

describe("register: a registration token is single-use", () => {
  test("a retry of the same registration (same token, address, MACs) answers the same machine and changes nothing", async () => {
    const first = await e.call("POST", "/api/v3/register", { body: { HardwareAddrs: [MAC1, MAC2], Inventory: { CPUs: 1 } } });
    expect(first.status).toBe(201);
    const before = machine(first.body.Machine.Uuid);
    const again = await e.call("POST", "/api/v3/register", { body: { HardwareAddrs: [MAC2], Arch: "arm64", Inventory: { CPUs: 64 } } });
    expect(again.status).toBe(200);
    expect(again.body.Machine).toEqual(first.body.Machine);
    expect(again.body.Token).not.toBe("");
    expect(machine(first.body.Machine.Uuid)).toEqual(before);
  });

  test("after its machine, the token registers nothing else: other MACs, or the same MACs from another address", async () => {
    const first = await e.call("POST", "/api/v3/register", { body: { HardwareAddrs: [MAC1] } });
    expect(first.status).toBe(201);
    const other = await e.call("POST", "/api/v3/register", { body: { HardwareAddrs: [MAC3] } });
    expect(other.status).toBe(403);
    expect(other.body.Messages).toEqual([SPENT_TOKEN_REFUSAL]);
    const more = await e.call("POST", "/api/v3/register", { body: { HardwareAddrs: [MAC1, MAC3] } });
    expect(more.status).toBe(403);
    const elsewhere = await e.call("POST", "/api/v3/register", { body: { HardwareAddrs: [MAC1] }, remote: "198.51.100.150" });
    expect(elsewhere.status).toBe(403);
    expect(JSON.stringify(elsewhere.body)).not.toContain(first.body.Machine.Uuid);
    expect(e.store.list("machines").length).toBe(1);
    expect(machine(first.body.Machine.Uuid).HardwareAddrs).toEqual([MAC1]);
  });
});

describe("register: a MAC of a known machine is refused to registration tokens", () => {
  const secretParams = { role: "db", "bmc-password": "bmc-s3cret-value" };
  const known = async (body: Record<string, unknown> = {}) => {
    const made = await e.call("POST", "/api/v3/machines", { auth: ADMIN, body: { Name: "db1", HardwareAddrs: [MAC1], Arch: "amd64", Address: "198.51.100.150", Params: secretParams, ...body } });
    expect(made.status).toBe(201);
    return made.body.Uuid as string;
  };

  const expectRefusedAndUnchanged = (r: { status: number; body: any }, uuid: string, before: unknown) => {
    expect(r.status).toBe(403);
    expect(r.body.Messages).toEqual([KNOWN_MAC_REFUSAL]);
    const text = JSON.stringify(r.body);
    for (const secret of [uuid, "db1", "bmc-s3cret-value", "198.51.100.150"]) expect(text).not.toContain(secret);
    expect(machine(uuid)).toEqual(before as any);
  };

  test("its MAC, with or without new ones, from anywhere: one refusal saying nothing about it; nothing changes", async () => {
    const uuid = await known();
    const before = machine(uuid);
    const attempts: Array<[string[], string]> = [
      [[MAC1], "198.51.100.100"],
      [[MAC1, MAC2], "198.51.100.101"],
      [[MAC2, MAC1], "198.51.100.102"],
      [[MAC1], "198.51.100.150"], // its own recorded address proves nothing without its token
    ];
    let n = 0;
    for (const [macs, remote] of attempts) {
      const r = await e.call("POST", "/api/v3/register", { body: { HardwareAddrs: macs, Arch: "arm64", Inventory: { CPUs: 99 } }, remote, auth: `${REG}-${n++}` });
      expectRefusedAndUnchanged(r, uuid, before);
    }
    expect(e.store.list("machines").length).toBe(1);
  });

  test("from the address Socle's DHCP leased to its MAC: refused all the same", async () => {
    const uuid = await known({ Address: "" });
    const before = machine(uuid);
    await e.store.put("leases", "198.51.100.160", { Addr: "198.51.100.160", Token: MAC1, Strategy: "MAC", State: "ACK", ExpireTime: new Date(Date.now() + 60_000).toISOString() });
    const r = await e.call("POST", "/api/v3/register", { body: { HardwareAddrs: [MAC1] }, remote: "198.51.100.160" });
    expectRefusedAndUnchanged(r, uuid, before);
  });

  test("MACs of two machines: the same refusal, naming neither", async () => {
    const a = await known();
    const b = (await e.call("POST", "/api/v3/machines", { auth: ADMIN, body: { Name: "other-b", HardwareAddrs: [MAC2] } })).body.Uuid;
    const r = await e.call("POST", "/api/v3/register", { body: { HardwareAddrs: [MAC1, MAC2] } });
    expect(r.status).toBe(403);
    expect(r.body.Messages).toEqual([KNOWN_MAC_REFUSAL]);
    expect(JSON.stringify(r.body)).not.toContain("other-b");
    expect(JSON.stringify(r.body)).not.toContain(a);
    expect(JSON.stringify(r.body)).not.toContain(b);
  });

  test("a refused token is not spent: it still registers its own new machine", async () => {
    await known();
    expect((await e.call("POST", "/api/v3/register", { body: { HardwareAddrs: [MAC1, MAC2] } })).status).toBe(403);
    const r = await e.call("POST", "/api/v3/register", { body: { HardwareAddrs: [MAC2] } });
    expect(r.status).toBe(201);
  });
});

describe("register: a known machine registers again with its machine token", () => {
  const registered = async (remote = "198.51.100.100") => {
    const r = await e.call("POST", "/api/v3/register", { body: { HardwareAddrs: [MAC1, MAC2], Arch: "amd64", Inventory: { CPUs: 1 } }, remote, auth: `${REG}-first` });
    expect(r.status).toBe(201);
    return { uuid: r.body.Machine.Uuid as string, auth: `Bearer ${r.body.Token}` };
  };

  test("its own MACs: 200, the same machine; only its inventory changes", async () => {
    const { uuid, auth } = await registered();
    await e.deps.objects.replace("machines", uuid, { ...e.deps.objects.redact(e.deps.objects.def("machines"), machine(uuid)), Name: "web-1", BootEnv: "local", Params: { ...machine(uuid).Params as object, role: "web" } });
    const before = machine(uuid);
    const r = await e.call("POST", "/api/v3/register", { body: { HardwareAddrs: [MAC2, MAC1], Name: "renamed", Arch: "arm64", Inventory: { CPUs: 4 } }, auth });
    expect(r.status).toBe(200);
    expect(r.body.Machine).toEqual({ Uuid: uuid, Name: "web-1" });
    expect(r.body.Token).not.toBe("");
    const after = machine(uuid);
    expect((after.Params as any).inventory.CPUs).toBe(4);
    const { Params: p1, ...rest1 } = before;
    const { Params: p2, ...rest2 } = after;
    expect(rest2).toEqual(rest1);
    expect({ ...(p2 as object), inventory: undefined }).toEqual({ ...(p1 as object), inventory: undefined });
    expect(e.store.list("machines").length).toBe(1);
  });

  test("a new token goes only to its own address (recorded, or leased by Socle's DHCP); elsewhere Token is empty", async () => {
    const { uuid, auth } = await registered();
    expect((await e.call("POST", "/api/v3/register", { body: { HardwareAddrs: [MAC1] }, auth, remote: "198.51.100.150" })).body.Token).toBe("");
    const lease = (state: string, ms: number) => ({ Addr: "198.51.100.150", Token: MAC1, Strategy: "MAC", State: state, ExpireTime: new Date(Date.now() + ms).toISOString() });
    await e.store.put("leases", "198.51.100.150", lease("OFFER", 60_000));
    expect((await e.call("POST", "/api/v3/register", { body: { HardwareAddrs: [MAC1] }, auth, remote: "198.51.100.150" })).body.Token).toBe("");
    await e.store.put("leases", "198.51.100.150", lease("ACK", -1000));
    expect((await e.call("POST", "/api/v3/register", { body: { HardwareAddrs: [MAC1] }, auth, remote: "198.51.100.150" })).body.Token).toBe("");
    await e.store.put("leases", "198.51.100.150", lease("ACK", 60_000));
    const r = await e.call("POST", "/api/v3/register", { body: { HardwareAddrs: [MAC1] }, auth, remote: "::ffff:198.51.100.150" });
    expect(r.body.Token).not.toBe("");
    expect(machine(uuid).Address).toBe("198.51.100.100"); // the address is the operator's
  });

  test("a MAC it does not have (new, or another machine's): 403 naming only that MAC, nothing changes", async () => {
    const { uuid, auth } = await registered();
    const other = (await e.call("POST", "/api/v3/machines", { auth: ADMIN, body: { Name: "victim", HardwareAddrs: [MAC3], Params: { secret: "victim-secret" } } })).body;
    const before = machine(uuid);
    const victim = machine(other.Uuid);
    for (const macs of [[MAC1, "52:54:00:e2:00:09"], [MAC3], [MAC1, MAC3]]) {
      const r = await e.call("POST", "/api/v3/register", { body: { HardwareAddrs: macs, Inventory: { CPUs: 8 } }, auth });
      expect(r.status).toBe(403);
      expect(r.body.Messages[0]).toContain("not among this machine's HardwareAddrs");
      for (const s of [other.Uuid, "victim", "victim-secret"]) expect(JSON.stringify(r.body)).not.toContain(s);
    }
    expect(machine(uuid)).toEqual(before);
    expect(machine(other.Uuid)).toEqual(victim);
  });
});

describe("register: limits", () => {
  test("per source address: a burst, then 429 with Retry-After; other addresses are not held back", async () => {
    e = await env({ sourceBurst: 3, sourceRefillSeconds: 60 });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await e.call("POST", "/api/v3/register", { body: { HardwareAddrs: [`52:54:00:e3:00:0${i}`] }, auth: `${REG}-${i}` });
      statuses.push(r.status);
      if (r.status === 429) {
        expect(r.headers.get("retry-after")).toBeTruthy();
        expect(r.body.Messages[0]).toContain("too many registrations from this address");
      }
    }
    expect(statuses).toEqual([201, 201, 201, 429, 429]);
    const elsewhere = await e.call("POST", "/api/v3/register", { body: { HardwareAddrs: [MAC1] }, auth: `${REG}-x`, remote: "198.51.100.120" });
    expect(elsewhere.status).toBe(201);
  });

  test("per registration token: its requests are counted, then 429", async () => {
    e = await env({ tokenRequests: 2 });
    expect((await e.call("POST", "/api/v3/register", { body: { HardwareAddrs: ["zz"] } })).status).toBe(422);
    expect((await e.call("POST", "/api/v3/register", { body: { HardwareAddrs: [MAC1] } })).status).toBe(201);
    const third = await e.call("POST", "/api/v3/register", { body: { HardwareAddrs: [MAC1] } });
    expect(third.status).toBe(429);
    expect(third.body.Messages[0]).toContain("this registration token has made its 2 requests");
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

  test("no credentials is 401", async () => {
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
