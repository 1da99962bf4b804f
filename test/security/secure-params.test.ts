// Pins finding 8 (secure params) of the machine-trust issue: Secure params (`Secure: true`) are
// stored and returned in clear, and served in rendered files to anyone.
//
// Over the real HTTPS API of a whole Socle (the file store on disk): two Params defined
// `Secure: true`, one set on a machine (through the /params routes), one on a profile the machine
// uses, and the shipped Secure param provisioner-default-password-hash on the global profile.
// - The admin (superuser, so getSecure) reads them in clear, and the machine's rendered files hold
//   them in clear.
// - A user whose role grants list/get/update/patch on machines and profiles, events and render, but
//   not getSecure, sees "[secure]" in their place in every answer: GET, list, /params, ?aggregate,
//   the event stream (SSE and websocket) and the render preview (Output and Params). Its writes of
//   what it read (PUT, JSON Patch with a `test` op, the /params routes) keep the stored values; a
//   `test` op cannot guess one. getSecure on one machine shows that machine's value, not the
//   profile's. A machine token reads "[secure]" too.
// - No file under the data directory's store/ (journal segments, snapshot) holds a value in clear,
//   and the envelopes are there; nor after a Param is turned Secure (its values are sealed and the
//   journal that held them in clear is compacted away). The key is in settings.json (0600).
// - After a restart the values still open, and a value stored in clear by an older version (put
//   into the store directly here) is sealed at start, its journal compacted away.

import { readSse } from "../helpers/sse.ts";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { ADMIN_PASSWORD, basic, startTestSocle, type TestSocle } from "../helpers/socle.ts";
import { profiles } from "../../src/model/schemas/profiles.ts";

const MAC = "52:54:00:58:00:01";
const BMC = "bmc-canary-7f3a91e4";
const RACK = "rack-canary-2c84e0d5";
const HASH = "$6$secureSalt$secureParamCanaryHashNotAPassword";
const IPMI = "ipmi-canary-90b1c2f3";
const LEGACY = "legacy-canary-5d6e7f80";
const SECRETS = [BMC, RACK, HASH, IPMI];
const MARKER = "[secure]";
const ENVELOPE = "$socle-secure";
const PATCH = "application/json-patch+json";

let s: TestSocle;
let uuid = "";
const viewer = basic("viewer", "viewer-password-1");
const keeper = basic("keeper", "keeper-password-1");

const admin = async (method: string, path: string, body?: unknown, type?: string) => {
  const r = await s.call(method, path, { body, ...(type ? { type } : {}) });
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
};

/** The answer holds no secure value in clear and no envelope. */
const clean = (what: string, body: unknown) => {
  const text = JSON.stringify(body);
  for (const v of SECRETS) expect(`${what}: ${text}`).not.toContain(v);
  expect(`${what}: ${text}`).not.toContain(ENVELOPE);
};

/** Every file under <data dir>/store, as text. */
function storeFiles(): Array<{ name: string; text: string }> {
  const out: Array<{ name: string; text: string }> = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const full = join(dir, name);
      if (statSync(full).isDirectory()) walk(full);
      else out.push({ name: full, text: readFileSync(full, "latin1") });
    }
  };
  walk(join(s.dir, "store"));
  return out;
}


beforeAll(async () => {
  s = await startTestSocle();
  await admin("POST", "/api/v3/params", { Name: "bmc-password", Secure: true, Schema: { type: "string", minLength: 8 } });
  await admin("POST", "/api/v3/params", { Name: "rack-password", Secure: true, Schema: { type: "string" } });
  await admin("POST", "/api/v3/profiles", { Name: "rack-1", Params: { "rack-password": RACK } });
  await admin("POST", "/api/v3/profiles/global/params/provisioner-default-password-hash", HASH);
  uuid = (await admin("POST", "/api/v3/machines", { Name: "sp1", HardwareAddrs: [MAC], BootEnv: "rocky-9", Profiles: ["rack-1"], Params: { disk: "vda" } })).Uuid;
  await admin("PATCH", `/api/v3/machines/${uuid}/params`, [{ op: "add", path: "/bmc-password", value: BMC }], PATCH);
  await admin("POST", "/api/v3/templates", { ID: "secure-demo.tmpl", Contents: "bmc=<%= it.param('bmc-password') %>\nrack=<%= it.param('rack-password') %>\ndisk=<%= it.param('disk') %>\n" });
  await admin("POST", "/api/v3/roles", {
    Name: "viewer",
    Claims: [
      { Scope: "machines,profiles", Action: "list,get,update,patch", Specific: "*" },
      { Scope: "params", Action: "list,get", Specific: "*" },
      { Scope: "events", Action: "list", Specific: "*" },
      { Scope: "render", Action: "render", Specific: "*" },
    ],
  });
  await admin("POST", "/api/v3/users", { Name: "viewer", Password: "viewer-password-1", Roles: ["viewer"] });
});
afterAll(async () => {
  await s?.stop();
});

describe("the admin (superuser: getSecure) reads secure values in clear", () => {
  test("the machine, the profile, /params and the aggregate", async () => {
    expect((await admin("GET", `/api/v3/machines/${uuid}`)).Params).toEqual({ disk: "vda", "bmc-password": BMC });
    expect((await admin("GET", "/api/v3/profiles/rack-1")).Params).toEqual({ "rack-password": RACK });
    expect(await admin("GET", `/api/v3/machines/${uuid}/params/bmc-password`)).toBe(BMC);
    const agg = await admin("GET", `/api/v3/machines/${uuid}/params?aggregate=true`);
    expect([agg["bmc-password"], agg["rack-password"], agg["provisioner-default-password-hash"], agg.disk]).toEqual([BMC, RACK, HASH, "vda"]);
  });

  test("the machine's rendered files hold them in clear", async () => {
    const demo = await admin("POST", "/api/v3/render", { Machine: uuid, Template: "secure-demo.tmpl" });
    expect(demo.Output).toBe(`bmc=${BMC}\nrack=${RACK}\ndisk=vda\n`);
    expect(demo.Params).toEqual([
      { Name: "bmc-password", Value: BMC, Source: "machine" },
      { Name: "disk", Value: "vda", Source: "machine" },
      { Name: "rack-password", Value: RACK, Source: "profile:rack-1" },
    ]);
    const ks = await admin("POST", "/api/v3/render", { Machine: uuid, Path: `machines/${uuid}/kickstart.ks` });
    expect(ks.Output).toContain(`rootpw --iscrypted ${HASH}`);
  });
});

describe("a user without getSecure sees [secure] on every route", () => {
  const get = async (path: string) => {
    const r = await s.call("GET", path, { auth: viewer });
    expect(`${path}: ${r.status}`).toBe(`${path}: 200`);
    clean(path, r.body);
    return r.body;
  };

  test("GET, list, /params, ?aggregate", async () => {
    expect((await get(`/api/v3/machines/${uuid}`)).Params).toEqual({ disk: "vda", "bmc-password": MARKER });
    expect((await get("/api/v3/machines")).find((m: any) => m.Uuid === uuid).Params).toEqual({ disk: "vda", "bmc-password": MARKER });
    expect((await get("/api/v3/profiles/rack-1")).Params).toEqual({ "rack-password": MARKER });
    expect((await get("/api/v3/profiles")).find((p: any) => p.Name === "global").Params["provisioner-default-password-hash"]).toBe(MARKER);
    expect(await get(`/api/v3/machines/${uuid}/params`)).toEqual({ disk: "vda", "bmc-password": MARKER });
    expect(await get(`/api/v3/machines/${uuid}/params/bmc-password`)).toBe(MARKER);
    expect(await get("/api/v3/profiles/global/params")).toEqual(expect.objectContaining({ "provisioner-default-password-hash": MARKER }));
    const agg = await get(`/api/v3/machines/${uuid}/params?aggregate=true`);
    expect([agg["bmc-password"], agg["rack-password"], agg["provisioner-default-password-hash"], agg.disk]).toEqual([MARKER, MARKER, MARKER, "vda"]);
    expect(await get(`/api/v3/machines/${uuid}/params/rack-password?aggregate=true`)).toBe(MARKER);
    expect((await get("/api/v3/profiles/rack-1/params?aggregate=true"))["rack-password"]).toBe(MARKER);
  });

  test("the event stream (SSE, from the start of the ring)", async () => {
    const res = await s.req("GET", "/api/v3/events?type=machines,profiles&since=0", { auth: viewer });
    expect(res.status).toBe(200);
    const events = await readSse(res, Infinity, 700);
    clean("events", events);
    const machine = events.filter((e) => e.Type === "machines" && e.Key === uuid).at(-1);
    expect(machine.Object.Params).toEqual({ disk: "vda", "bmc-password": MARKER });
    expect(events.filter((e) => e.Key === "rack-1").at(-1).Object.Params).toEqual({ "rack-password": MARKER });
  });

  test("the websocket", async () => {
    const ws = new WebSocket(`wss://127.0.0.1:${s.socle.apiPort}/api/v3/ws?type=machines`, { headers: { Authorization: viewer }, tls: { ca: s.socle.caCertPem } } as any);
    const got: any[] = [];
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = (e) => reject(new Error(`websocket error: ${String((e as any).message ?? e)}`));
    });
    ws.onmessage = (m) => got.push(JSON.parse(String(m.data)));
    await admin("PATCH", `/api/v3/machines/${uuid}`, [{ op: "add", path: "/Description", value: "ws" }], PATCH);
    for (let i = 0; i < 50 && got.length === 0; i++) await Bun.sleep(20);
    ws.close();
    expect(got.length).toBe(1);
    clean("ws", got);
    expect(got[0].Object.Params["bmc-password"]).toBe(MARKER);
  });

  test("the render preview: Output and Params carry the marker, never the value", async () => {
    const r = await s.call("POST", "/api/v3/render", { auth: viewer, body: { Machine: uuid, Template: "secure-demo.tmpl" } });
    expect(r.status).toBe(200);
    clean("render", r.body);
    expect(r.body.Output).toBe(`bmc=${MARKER}\nrack=${MARKER}\ndisk=vda\n`);
    expect(r.body.Params).toEqual([
      { Name: "bmc-password", Value: MARKER, Source: "machine" },
      { Name: "disk", Value: "vda", Source: "machine" },
      { Name: "rack-password", Value: MARKER, Source: "profile:rack-1" },
    ]);
    const ks = await s.call("POST", "/api/v3/render", { auth: viewer, body: { Machine: uuid, Template: "kickstart" } });
    expect(ks.status).toBe(200);
    clean("kickstart", ks.body);
    expect(ks.body.Output).toContain(`rootpw --iscrypted ${MARKER}`);
  });

  test("getSecure on the machine shows its value, not the profile's", async () => {
    await admin("POST", "/api/v3/roles", { Name: "secure-sp1", Claims: [{ Scope: "machines", Action: "getSecure", Specific: uuid }] });
    await admin("POST", "/api/v3/users", { Name: "keeper", Password: "keeper-password-1", Roles: ["viewer", "secure-sp1"] });
    const m = await s.call("GET", `/api/v3/machines/${uuid}/params?aggregate=true`, { auth: keeper });
    expect([m.body["bmc-password"], m.body["rack-password"], m.body["provisioner-default-password-hash"]]).toEqual([BMC, MARKER, MARKER]);
    const r = await s.call("POST", "/api/v3/render", { auth: keeper, body: { Machine: uuid, Template: "secure-demo.tmpl" } });
    expect(r.body.Output).toBe(`bmc=${BMC}\nrack=${MARKER}\ndisk=vda\n`);
  });

  test("a machine token reads the marker too (its installer gets the values in its files)", async () => {
    const auth = `Bearer ${(await admin("GET", `/api/v3/machines/${uuid}/token`)).Token}`;
    const own = await s.call("GET", `/api/v3/machines/${uuid}/params?aggregate=true`, { auth });
    expect(own.status).toBe(200);
    clean("machine token", own.body);
    expect(own.body["bmc-password"]).toBe(MARKER);
  });
});

describe("writes of what a reader saw keep the stored values", () => {
  const stillThere = async () => {
    expect(await admin("GET", `/api/v3/machines/${uuid}/params/bmc-password`)).toBe(BMC);
    expect(await admin("GET", "/api/v3/profiles/rack-1/params/rack-password")).toBe(RACK);
  };

  test("PUT of the object and of its /params, POST of another param", async () => {
    const m = (await s.call("GET", `/api/v3/machines/${uuid}`, { auth: viewer })).body;
    const put = await s.call("PUT", `/api/v3/machines/${uuid}`, { auth: viewer, body: { ...m, Description: "put by viewer" } });
    expect(put.status).toBe(200);
    clean("PUT", put.body);
    const p = (await s.call("GET", "/api/v3/profiles/rack-1/params", { auth: viewer })).body;
    expect((await s.call("PUT", "/api/v3/profiles/rack-1/params", { auth: viewer, body: p })).status).toBe(200);
    expect((await s.call("POST", `/api/v3/machines/${uuid}/params/disk`, { auth: viewer, body: "vdb" })).status).toBe(200);
    await stillThere();
  });

  test("JSON Patch: a test op on the marker passes, a guess fails without telling anything", async () => {
    const ok = await s.call("PATCH", `/api/v3/machines/${uuid}`, {
      auth: viewer,
      type: PATCH,
      body: [
        { op: "test", path: "/Params/bmc-password", value: MARKER },
        { op: "replace", path: "/Params/disk", value: "vda" },
      ],
    });
    expect(ok.status).toBe(200);
    clean("PATCH", ok.body);
    for (const guess of [BMC, "wrong-guess"]) {
      const r = await s.call("PATCH", `/api/v3/machines/${uuid}/params`, { auth: viewer, type: PATCH, body: [{ op: "test", path: "/bmc-password", value: guess }] });
      expect(r.status).toBe(409);
      expect(JSON.stringify(r.body).replaceAll(guess, "GUESS")).not.toContain(BMC);
    }
    // Copying the marker onto another param is refused: it stands for a value only where one is stored.
    const copy = await s.call("PATCH", `/api/v3/machines/${uuid}/params`, { auth: viewer, type: PATCH, body: [{ op: "copy", from: "/bmc-password", path: "/note" }] });
    expect(copy.status).toBe(422);
    await stillThere();
  });

  test("a new value may be written without being readable back", async () => {
    const r = await s.call("POST", `/api/v3/machines/${uuid}/params/bmc-password`, { auth: viewer, body: "replaced-by-viewer" });
    expect(r.status).toBe(200);
    expect(r.body).toBe(MARKER);
    expect(await admin("GET", `/api/v3/machines/${uuid}/params/bmc-password`)).toBe("replaced-by-viewer");
    await admin("POST", `/api/v3/machines/${uuid}/params/bmc-password`, BMC);
    await stillThere();
  });
});

describe("at rest", () => {
  test("settings.json holds the key, mode 0600", () => {
    const file = join(s.dir, "settings.json");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const key = JSON.parse(readFileSync(file, "utf8")).secrets.secureParamKey;
    expect(Buffer.from(key, "base64").length).toBe(32);
  });

  test("no file under store/ holds a value in clear; the envelopes are there", () => {
    const files = storeFiles();
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) for (const v of SECRETS) expect(`${f.name} holds ${v}: ${f.text.includes(v)}`).toBe(`${f.name} holds ${v}: false`);
    expect(files.some((f) => f.text.includes(`"bmc-password":{"${ENVELOPE}":"v1:`))).toBe(true);
    expect(files.some((f) => f.text.includes(`"rack-password":{"${ENVELOPE}":"v1:`))).toBe(true);
  });

  test("a Param turned Secure: its values are sealed, and the journal that held them in clear is gone", async () => {
    await admin("POST", "/api/v3/params", { Name: "ipmi-user", Schema: { type: "string" } });
    await admin("POST", `/api/v3/machines/${uuid}/params/ipmi-user`, IPMI);
    expect(storeFiles().some((f) => f.text.includes(IPMI))).toBe(true); // not Secure yet: in clear
    await admin("PUT", "/api/v3/params/ipmi-user", { Name: "ipmi-user", Secure: true, Schema: { type: "string" } });
    expect(storeFiles().filter((f) => f.text.includes(IPMI)).map((f) => f.name)).toEqual([]);
    expect((await s.call("GET", `/api/v3/machines/${uuid}/params/ipmi-user`, { auth: viewer })).body).toBe(MARKER);
    expect(await admin("GET", `/api/v3/machines/${uuid}/params/ipmi-user`)).toBe(IPMI);
  });

  test("after a restart the store holds no value in clear (a value left in clear by an older version is sealed at start), and the values open", async () => {
    // What a version before sealing left in the store: a Secure param's value in clear.
    await s.socle.store.put("profiles", "legacy", profiles.prepare({ Name: "legacy", Params: { "rack-password": LEGACY } }));
    expect(storeFiles().some((f) => f.text.includes(LEGACY))).toBe(true);
    await s.restart();
    expect(s.lines.some((l) => l.includes("sealed the Secure param values stored in clear"))).toBe(true);
    const files = storeFiles();
    expect(files.some((f) => f.name.endsWith("snapshot.json"))).toBe(true);
    for (const f of files) for (const v of [...SECRETS, LEGACY]) expect(`${f.name} holds ${v}: ${f.text.includes(v)}`).toBe(`${f.name} holds ${v}: false`);
    expect(await admin("GET", "/api/v3/profiles/legacy/params/rack-password")).toBe(LEGACY);
    expect((await admin("GET", `/api/v3/machines/${uuid}`)).Params["bmc-password"]).toBe(BMC);
    const demo = await s.call("POST", "/api/v3/render", { auth: basic("admin", ADMIN_PASSWORD), body: { Machine: uuid, Template: "secure-demo.tmpl" } });
    expect(demo.body.Output).toBe(`bmc=${BMC}\nrack=${RACK}\ndisk=vda\n`);
    expect((await s.call("GET", `/api/v3/machines/${uuid}`, { auth: viewer })).body.Params["bmc-password"]).toBe(MARKER);
  });
});
