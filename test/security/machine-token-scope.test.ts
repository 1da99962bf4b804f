// Pins finding 1 of the machine-trust issue: "A machine token can widen its own access. With its
// own machine's token a client can PATCH its machine's Profiles to add any profile (e.g. one
// holding a BMC password), then read that value through
// GET /machines/<uuid>/params/<name>?aggregate=true. The same token may rewrite its machine's
// Name, Address, HardwareAddrs and BootEnv. The token returned by /register has the same power."
//
// Over the real HTTPS API of a whole Socle: a machine token (the operator's GET /machines/<uuid>/
// token, and the one POST /register answers) reads its machine, its own Params and the aggregate
// over the profiles an operator attached; of writes it may make only Params.inventory (and the
// workflow engine's progress fields, machine-scope.ts). Every other field is refused with 403
// naming it, however the write is spelled: PATCH (plain, a replace or move or copy involving the
// root "", ~1 escapes, test ops), PUT, and the /params routes. The machine is unchanged after.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { TestSocle } from "../helpers/socle.ts";
import { registrationToken, startWithBootServer } from "./discovery-boot.ts";

const MAC = "52:54:00:51:00:01";
const OTHER_MAC = "52:54:00:51:00:02";
const NEW_MAC = "52:54:00:51:00:03";
const BMC_PASSWORD = "bmc-hunter2-not-for-machines";
const PATCH = "application/json-patch+json";

let s: TestSocle;
let bootPort = 0;
let uuid = "";
let otherUuid = "";
let auth = "";

const admin = async (method: string, path: string, body?: unknown, type?: string) => {
  const r = await s.call(method, path, { body, ...(type ? { type } : {}) });
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
};
/** The machine as the operator sees it, without the read-time status. */
const stored = async (id = uuid) => {
  const { Available, Errors, Validated, ...rest } = await admin("GET", `/api/v3/machines/${id}`);
  return rest;
};

beforeAll(async () => {
  ({ s, bootPort } = await startWithBootServer());
  await admin("POST", "/api/v3/profiles", { Name: "bmc", Params: { "bmc-password": BMC_PASSWORD } });
  await admin("POST", "/api/v3/profiles", { Name: "site", Params: { "ntp-server": "198.51.100.1" } });
  const m = await admin("POST", "/api/v3/machines", { Name: "n1", HardwareAddrs: [MAC], Address: "198.51.100.21", BootEnv: "local", Profiles: ["site"], Params: { disk: "vda" } });
  uuid = m.Uuid;
  otherUuid = (await admin("POST", "/api/v3/machines", { Name: "n2", HardwareAddrs: [OTHER_MAC], BootEnv: "local" })).Uuid;
  auth = `Bearer ${(await admin("GET", `/api/v3/machines/${uuid}/token`)).Token}`;
});
afterAll(async () => {
  await s?.stop();
});

describe("a machine token reads what the operator attached", () => {
  test("its machine, its Params, the aggregate over its profiles; never another machine", async () => {
    expect((await s.call("GET", `/api/v3/machines/${uuid}`, { auth })).status).toBe(200);
    expect((await s.call("GET", `/api/v3/machines/${uuid}/params`, { auth })).body).toEqual({ disk: "vda" });
    const agg = await s.call("GET", `/api/v3/machines/${uuid}/params?aggregate=true`, { auth });
    expect(agg.status).toBe(200);
    expect(agg.body["ntp-server"]).toBe("198.51.100.1");
    expect(JSON.stringify(agg.body)).not.toContain(BMC_PASSWORD);
    // Another machine is "not found" to it, as a missing one is (access.ts visibleObject).
    expect((await s.call("GET", `/api/v3/machines/${otherUuid}`, { auth })).status).toBe(404);
  });
});

describe("the attack: add a profile, read its secret", () => {
  test("PATCH Profiles is 403 naming Profiles; the BMC password stays out of reach", async () => {
    const before = await stored();
    const r = await s.call("PATCH", `/api/v3/machines/${uuid}`, { auth, type: PATCH, body: [{ op: "add", path: "/Profiles/-", value: "bmc" }] });
    expect(r.status).toBe(403);
    expect(r.body.Messages[0]).toContain("may not change Profiles");
    const read = await s.call("GET", `/api/v3/machines/${uuid}/params/bmc-password?aggregate=true`, { auth });
    expect(read.status).toBe(404);
    expect(JSON.stringify(read.body)).not.toContain(BMC_PASSWORD);
    expect(await stored()).toEqual(before);
  });
});

describe("every field outside the allowlist is refused, however the write is spelled", () => {
  const cases: Array<[string, unknown[], string]> = [
    ["Name", [{ op: "replace", path: "/Name", value: "renamed" }], "Name"],
    ["Address", [{ op: "replace", path: "/Address", value: "198.51.100.99" }], "Address"],
    ["HardwareAddrs (a new MAC)", [{ op: "add", path: "/HardwareAddrs/-", value: NEW_MAC }], "HardwareAddrs"],
    ["BootEnv", [{ op: "replace", path: "/BootEnv", value: "discovery" }], "BootEnv"],
    ["Workflow", [{ op: "replace", path: "/Workflow", value: "wf" }], "Workflow"],
    ["Secret", [{ op: "add", path: "/Secret", value: "a-secret-of-my-choosing-1234" }], "Secret"],
    ["Description", [{ op: "replace", path: "/Description", value: "mine" }], "Description"],
    ["Meta", [{ op: "add", path: "/Meta/color", value: "red" }], "Meta"],
    ["an operator's param", [{ op: "replace", path: "/Params/disk", value: "sdb" }], "Params.disk"],
    ["a new param", [{ op: "add", path: "/Params/bmc-password", value: "x" }], "Params.bmc-password"],
    ["a test op, then Profiles", [{ op: "test", path: "/Name", value: "n1" }, { op: "add", path: "/Profiles/0", value: "bmc" }], "Profiles"],
    ["inventory and Profiles in one patch", [{ op: "add", path: "/Params/inventory", value: { CPUs: 1 } }, { op: "add", path: "/Profiles/-", value: "bmc" }], "Profiles"],
    ["a move of an operator's param into inventory", [{ op: "move", from: "/Params/disk", path: "/Params/inventory" }], "Params.disk"],
    ["a copy onto Profiles", [{ op: "copy", from: "/Profiles", path: "/Profiles/-" }], "Profiles"],
    ["a ~1 escape into a param name", [{ op: "add", path: "/Params/bmc~1password", value: "x" }], "Params.bmc/password"],
    ["a ~1 escape at the top", [{ op: "add", path: "/Profiles~1-", value: "bmc" }], "Profiles/-"],
    ["a ~0 escape at the top", [{ op: "add", path: "/Boot~0Env", value: "x" }], "Boot~Env"],
  ];
  for (const [what, ops, field] of cases) {
    test(`PATCH ${what}: 403 naming ${field}; nothing changes`, async () => {
      const before = await stored();
      const r = await s.call("PATCH", `/api/v3/machines/${uuid}`, { auth, type: PATCH, body: ops });
      expect(r.status).toBe(403);
      expect(r.body.Messages[0]).toContain(`may not change ${field}`);
      expect(await stored()).toEqual(before);
    });
  }

  test("PATCH replacing the root \"\" with Profiles added, or moving the whole Params, is 403", async () => {
    const before = await stored();
    const shown = (await s.call("GET", `/api/v3/machines/${uuid}`, { auth })).body;
    const root = await s.call("PATCH", `/api/v3/machines/${uuid}`, { auth, type: PATCH, body: [{ op: "replace", path: "", value: { ...shown, Profiles: ["site", "bmc"] } }] });
    expect(root.status).toBe(403);
    expect(root.body.Messages[0]).toContain("may not change Profiles");
    const moved = await s.call("PATCH", `/api/v3/machines/${uuid}`, { auth, type: PATCH, body: [{ op: "move", from: "/Params", path: "/Description" }] });
    expect(moved.status).toBe(403);
    expect(moved.body.Messages[0]).toContain("Description");
    expect(await stored()).toEqual(before);
  });

  test("PUT of the machine with Profiles, Name, HardwareAddrs changed: 403 naming each", async () => {
    const before = await stored();
    const shown = (await s.call("GET", `/api/v3/machines/${uuid}`, { auth })).body;
    const r = await s.call("PUT", `/api/v3/machines/${uuid}`, { auth, body: { ...shown, Profiles: ["bmc"], Name: "mine", HardwareAddrs: [MAC, NEW_MAC] } });
    expect(r.status).toBe(403);
    expect(r.body.Messages[0]).toContain("may not change HardwareAddrs, Name, Profiles");
    const partial = await s.call("PUT", `/api/v3/machines/${uuid}`, { auth, body: { Uuid: uuid, Name: "n1" } });
    expect(partial.status).toBe(403); // what it leaves out would be reset
    expect(await stored()).toEqual(before);
  });

  test("the /params routes: only inventory", async () => {
    const before = await stored();
    const post = await s.call("POST", `/api/v3/machines/${uuid}/params/bmc-password`, { auth, body: "x" });
    expect(post.status).toBe(403);
    expect(post.body.Messages[0]).toContain("may not change Params.bmc-password");
    const put = await s.call("PUT", `/api/v3/machines/${uuid}/params`, { auth, body: { disk: "vda", role: "db" } });
    expect(put.status).toBe(403);
    expect(put.body.Messages[0]).toContain("Params.role");
    const patch = await s.call("PATCH", `/api/v3/machines/${uuid}/params`, { auth, type: PATCH, body: [{ op: "replace", path: "", value: {} }] });
    expect(patch.status).toBe(403);
    expect(patch.body.Messages[0]).toContain("Params.disk");
    const del = await s.call("DELETE", `/api/v3/machines/${uuid}/params/disk`, { auth });
    expect(del.status).toBe(403);
    expect(await stored()).toEqual(before);
  });
});

describe("what a machine token may write", () => {
  test("Params.inventory by PATCH, PUT, the /params routes; a test op alone; a PUT of itself as read", async () => {
    const before = await stored();
    const patched = await s.call("PATCH", `/api/v3/machines/${uuid}`, { auth, type: PATCH, body: [{ op: "test", path: "/Name", value: "n1" }, { op: "add", path: "/Params/inventory", value: { CPUs: 4 } }] });
    expect(patched.status).toBe(200);
    const shown = (await s.call("GET", `/api/v3/machines/${uuid}`, { auth })).body;
    expect((await s.call("PUT", `/api/v3/machines/${uuid}`, { auth, body: { ...shown, Params: { ...shown.Params, inventory: { CPUs: 8 } } } })).status).toBe(200);
    expect((await s.call("POST", `/api/v3/machines/${uuid}/params/inventory`, { auth, body: { CPUs: 16 } })).status).toBe(200);
    expect((await s.call("PATCH", `/api/v3/machines/${uuid}/params`, { auth, type: PATCH, body: [{ op: "replace", path: "/inventory", value: { CPUs: 32 } }] })).status).toBe(200);
    const after = await stored();
    expect(after.Params.inventory).toEqual({ CPUs: 32 });
    expect({ ...after, Params: { ...after.Params, inventory: undefined } }).toEqual({ ...before, Params: { ...before.Params, inventory: undefined } });
  });
});

describe("the token POST /register answers is held to the same rule", () => {
  test("a registered machine cannot add a profile, a MAC, a BootEnv or a name", async () => {
    const reg = await registrationToken(bootPort, NEW_MAC);
    const r = await s.call("POST", "/api/v3/register", { auth: `Bearer ${reg}`, body: { HardwareAddrs: [NEW_MAC] } });
    expect(r.status).toBe(201);
    const mine = `Bearer ${r.body.Token}`;
    const id = r.body.Machine.Uuid;
    const before = await stored(id);
    for (const [ops, field] of [
      [[{ op: "add", path: "/Profiles/-", value: "bmc" }], "Profiles"],
      [[{ op: "add", path: "/HardwareAddrs/-", value: "52:54:00:51:00:09" }], "HardwareAddrs"],
      [[{ op: "replace", path: "/BootEnv", value: "local" }], "BootEnv"],
      [[{ op: "replace", path: "/Name", value: "n9" }], "Name"],
      [[{ op: "replace", path: "/Address", value: "198.51.100.98" }], "Address"],
    ] as Array<[unknown[], string]>) {
      const w = await s.call("PATCH", `/api/v3/machines/${id}`, { auth: mine, type: PATCH, body: ops });
      expect(w.status).toBe(403);
      expect(w.body.Messages[0]).toContain(`may not change ${field}`);
    }
    const read = await s.call("GET", `/api/v3/machines/${id}/params/bmc-password?aggregate=true`, { auth: mine });
    expect(read.status).toBe(404);
    expect(await stored(id)).toEqual(before);
  });
});
