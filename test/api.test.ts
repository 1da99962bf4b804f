// The REST API over real HTTPS: CRUD, validation, filters, JSON Patch, params, prefs, ETags.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startTestSocle, type TestSocle } from "./helpers/socle.ts";

let s: TestSocle;
beforeAll(async () => {
  s = await startTestSocle();
});
afterAll(async () => {
  await s.stop();
});

const mac = (n: number) => `52:54:00:00:00:${n.toString(16).padStart(2, "0")}`;

describe("info and errors", () => {
  test("info needs no credentials and names version and ports", async () => {
    const r = await s.call("GET", "/api/v3/info", { auth: null });
    expect(r.status).toBe(200);
    expect(r.body.Version).toMatch(/^\d+\.\d+\.\d+/);
    expect(r.body.ApiPort).toBe(s.socle.apiPort);
    expect(r.body.Services.Api.Running).toBe(true);
  });

  test("unknown routes answer JSON 404", async () => {
    const r = await s.call("GET", "/api/v3/nonsense/x/y/z");
    expect(r.status).toBe(404);
    expect(r.body.Code).toBe(404);
    expect(r.body.Messages[0]).toContain("/api/v3/nonsense/x/y/z");
  });

  test("unknown type is 404 naming it", async () => {
    const r = await s.call("GET", "/api/v3/gizmos");
    expect(r.status).toBe(404);
    expect(r.body.Messages.join()).toContain("gizmos");
  });
});

describe("machines CRUD", () => {
  test("create, get by key and by Index:value, list, delete", async () => {
    const c = await s.call("POST", "/api/v3/machines", { body: { Name: "m1", HardwareAddrs: [mac(1).toUpperCase()] } });
    expect(c.status).toBe(201);
    expect(c.body.Uuid).toMatch(/^[0-9a-f-]{36}$/);
    expect(c.body.HardwareAddrs).toEqual([mac(1)]);
    expect(c.body.Secret).toBeUndefined();
    expect(c.body.Validated).toBe(true);
    expect(c.body.BootEnv).toBe("local"); // defaultBootEnv pref
    expect(c.headers.get("location")).toBe(`/api/v3/machines/${c.body.Uuid}`);

    const byKey = await s.call("GET", `/api/v3/machines/${c.body.Uuid}`);
    expect(byKey.body.Name).toBe("m1");
    const byName = await s.call("GET", "/api/v3/machines/Name:m1");
    expect(byName.body.Uuid).toBe(c.body.Uuid);
    const byMac = await s.call("GET", `/api/v3/machines/HardwareAddrs:${mac(1)}`);
    expect(byMac.body.Uuid).toBe(c.body.Uuid);

    const del = await s.call("DELETE", "/api/v3/machines/Name:m1");
    expect(del.status).toBe(200);
    expect((await s.call("GET", `/api/v3/machines/${c.body.Uuid}`)).status).toBe(404);
  });

  test("invalid objects get 422 naming field and value, and nothing is stored", async () => {
    const before = (await s.call("GET", "/api/v3/machines")).body.length;
    const r = await s.call("POST", "/api/v3/machines", { body: { Name: "bad", HardwareAddrs: ["zz:01"], Address: "300.1.1.1" } });
    expect(r.status).toBe(422);
    const text = r.body.Messages.join("\n");
    expect(text).toContain("zz:01");
    expect(text).toContain("300.1.1.1");
    const unknown = await s.call("POST", "/api/v3/machines", { body: { Name: "bad2", Colour: "red" } });
    expect(unknown.status).toBe(422);
    expect(unknown.body.Messages.join()).toContain("Colour");
    expect((await s.call("GET", "/api/v3/machines")).body.length).toBe(before);
  });

  test("bad JSON 400, wrong content type 415, oversized body 413", async () => {
    const bad = await s.call("POST", "/api/v3/machines", { raw: "{not json" });
    expect(bad.status).toBe(400);
    expect(bad.body.Messages[0]).toContain("invalid JSON");
    const type = await s.call("POST", "/api/v3/machines", { raw: "Name: x", type: "text/yaml" });
    expect(type.status).toBe(415);
    const big = await s.call("POST", "/api/v3/machines", { body: { Name: "big", Description: "x".repeat(5 * 1024 * 1024) } });
    expect(big.status).toBe(413);
    // Chunked, with no Content-Length: stopped while streaming, past the limit.
    const chunk = new TextEncoder().encode(" ".repeat(256 * 1024));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(ctl) {
        if (sent === 0) ctl.enqueue(new TextEncoder().encode('{"Name":"chunked","Description":"'));
        if (sent++ < 24) ctl.enqueue(chunk);
        else ctl.close();
      },
    });
    const chunked = await s.req("POST", "/api/v3/machines", { raw: stream as unknown as Uint8Array });
    expect(chunked.status).toBe(413);
    expect((await s.call("GET", "/api/v3/machines/Name:chunked")).status).toBe(404);
  });

  test("duplicate names and MACs are 409", async () => {
    expect((await s.call("POST", "/api/v3/machines", { body: { Name: "dup", HardwareAddrs: [mac(2)] } })).status).toBe(201);
    const name = await s.call("POST", "/api/v3/machines", { body: { Name: "dup" } });
    expect(name.status).toBe(409);
    const hw = await s.call("POST", "/api/v3/machines", { body: { Name: "dup2", HardwareAddrs: [mac(2)] } });
    expect(hw.status).toBe(409);
    expect(hw.body.Messages.join()).toContain(mac(2));
  });

  test("concurrent creates of one name: exactly one wins", async () => {
    const rs = await Promise.all(
      Array.from({ length: 8 }, () => s.call("POST", "/api/v3/machines", { body: { Name: "race" } })),
    );
    expect(rs.filter((r) => r.status === 201).length).toBe(1);
    expect(rs.filter((r) => r.status === 409).length).toBe(7);
  });

  test("PUT replaces, key cannot change; PATCH applies RFC 6902 and a failed test is 409", async () => {
    const c = (await s.call("POST", "/api/v3/machines", { body: { Name: "p1" } })).body;
    const put = await s.call("PUT", `/api/v3/machines/${c.Uuid}`, { body: { ...c, Description: "replaced" } });
    expect(put.status).toBe(200);
    expect(put.body.Description).toBe("replaced");
    const ok = await s.call("PATCH", `/api/v3/machines/${c.Uuid}`, {
      type: "application/json-patch+json",
      body: [
        { op: "test", path: "/Description", value: "replaced" },
        { op: "replace", path: "/Description", value: "patched" },
      ],
    });
    expect(ok.status).toBe(200);
    expect(ok.body.Description).toBe("patched");
    const fail = await s.call("PATCH", `/api/v3/machines/${c.Uuid}`, {
      type: "application/json-patch+json",
      body: [
        { op: "replace", path: "/Description", value: "lost" },
        { op: "test", path: "/Description", value: "stale" },
      ],
    });
    expect(fail.status).toBe(409);
    expect((await s.call("GET", `/api/v3/machines/${c.Uuid}`)).body.Description).toBe("patched");
    const notArray = await s.call("PATCH", `/api/v3/machines/${c.Uuid}`, { body: { Description: "x" } });
    expect(notArray.status).toBe(422);
  });

  test("ETag and If-None-Match give 304", async () => {
    const c = (await s.call("POST", "/api/v3/machines", { body: { Name: "etag1" } })).body;
    const first = await s.req("GET", `/api/v3/machines/${c.Uuid}`);
    const etag = first.headers.get("etag")!;
    expect(etag).toBeTruthy();
    const again = await s.req("GET", `/api/v3/machines/${c.Uuid}`, { headers: { "If-None-Match": etag } });
    expect(again.status).toBe(304);
    await s.call("PATCH", `/api/v3/machines/${c.Uuid}`, { body: [{ op: "add", path: "/Description", value: "new" }] });
    const changed = await s.req("GET", `/api/v3/machines/${c.Uuid}`, { headers: { "If-None-Match": etag } });
    expect(changed.status).toBe(200);
  });
});

describe("list filters", () => {
  beforeAll(async () => {
    for (let i = 0; i < 12; i++) {
      const r = await s.call("POST", "/api/v3/machines", {
        body: { Name: `f${String(i).padStart(2, "0")}`, Address: `198.51.100.${10 + i}`, HardwareAddrs: [mac(0x40 + i)] },
      });
      expect(r.status).toBe(201);
    }
  });

  test("Eq, Re, Between, In, sort, reverse, limit, offset and counts", async () => {
    expect((await s.call("GET", "/api/v3/machines?Name=f03")).body.map((m: any) => m.Name)).toEqual(["f03"]);
    const re = await s.call("GET", "/api/v3/machines?Name=Re(^f0[0-2]$)&sort=Name");
    expect(re.body.map((m: any) => m.Name)).toEqual(["f00", "f01", "f02"]);
    const between = await s.call("GET", "/api/v3/machines?Address=Between(198.51.100.12,198.51.100.14)&sort=Address");
    expect(between.body.map((m: any) => m.Name)).toEqual(["f02", "f03", "f04"]);
    const inList = await s.call("GET", "/api/v3/machines?Name=In(f05,f07)&sort=Name&reverse=true");
    expect(inList.body.map((m: any) => m.Name)).toEqual(["f07", "f05"]);
    const page = await s.call("GET", "/api/v3/machines?Name=Re(^f)&sort=Name&limit=3&offset=3");
    expect(page.body.map((m: any) => m.Name)).toEqual(["f03", "f04", "f05"]);
    expect(page.headers.get("x-socle-list-total-count")).toBe("12");
    const head = await s.req("HEAD", "/api/v3/machines?Name=Re(^f)");
    expect(head.status).toBe(200);
    expect(head.headers.get("x-socle-list-total-count")).toBe("12");
  });

  test("bad filters are 400 naming the field or value", async () => {
    const field = await s.call("GET", "/api/v3/machines?Colour=red");
    expect(field.status).toBe(400);
    expect(field.body.Messages.join()).toContain("Colour");
    const op = await s.call("GET", "/api/v3/machines?Name=Frob(x)");
    expect(op.status).toBe(400);
    expect(op.body.Messages.join()).toContain("Frob");
    const limit = await s.call("GET", "/api/v3/machines?limit=-4");
    expect(limit.status).toBe(400);
  });
});

describe("references, read-only content, params", () => {
  test("shipped bootenvs are listed read-only and cannot be changed", async () => {
    const local = await s.call("GET", "/api/v3/bootenvs/local");
    expect(local.status).toBe(200);
    expect(local.body.ReadOnly).toBe(true);
    const put = await s.call("PUT", "/api/v3/bootenvs/local", { body: { ...local.body, Description: "mine" } });
    expect(put.status).toBe(409);
    expect((await s.call("DELETE", "/api/v3/bootenvs/local")).status).toBe(409);
    expect((await s.call("GET", "/api/v3/roles/superuser")).body.ReadOnly).toBe(true);
  });

  test("missing references are reported; deleting an object in use is 409", async () => {
    const m = await s.call("POST", "/api/v3/machines", { body: { Name: "refs", Profiles: ["rack1"], BootEnv: "nope" } });
    expect(m.status).toBe(201);
    expect(m.body.Available).toBe(false);
    expect(m.body.Errors.join()).toContain("rack1");
    expect(m.body.Errors.join()).toContain("nope");
    expect((await s.call("POST", "/api/v3/profiles", { body: { Name: "rack1", Params: { "ntp-server": "198.51.100.1" } } })).status).toBe(201);
    const fixed = await s.call("PATCH", `/api/v3/machines/${m.body.Uuid}`, { body: [{ op: "replace", path: "/BootEnv", value: "local" }] });
    expect(fixed.body.Available).toBe(true);
    const del = await s.call("DELETE", "/api/v3/profiles/rack1");
    expect(del.status).toBe(409);
    expect(del.body.Messages.join()).toContain(m.body.Uuid);
    expect((await s.call("DELETE", "/api/v3/profiles/global")).status).toBe(409);
  });

  test("params: own, one at a time, aggregate in resolution order", async () => {
    await s.call("POST", "/api/v3/params", { body: { Name: "console", Schema: { type: "string", default: "ttyS0" } } });
    await s.call("POST", "/api/v3/params", { body: { Name: "ntp-server", Schema: { type: "string" } } });
    await s.call("POST", "/api/v3/params", { body: { Name: "site", Schema: { type: "string" } } });
    await s.call("PUT", "/api/v3/profiles/global/params", { body: { site: "global-site", "ntp-server": "203.0.113.1" } });
    await s.call("PUT", "/api/v3/profiles/rack1/params", { body: { "ntp-server": "198.51.100.1" } });
    const m = (await s.call("POST", "/api/v3/machines", { body: { Name: "pm", Profiles: ["rack1"] } })).body;
    const set = await s.call("POST", `/api/v3/machines/${m.Uuid}/params/site`, { body: "machine-site" });
    expect(set.status).toBe(200);
    expect((await s.call("GET", `/api/v3/machines/${m.Uuid}/params`)).body).toEqual({ site: "machine-site" });
    const agg = await s.call("GET", `/api/v3/machines/${m.Uuid}/params?aggregate=true`);
    // Shipped Params contribute their defaults too; these are the ones this test set up.
    expect(agg.body).toMatchObject({ console: "ttyS0", "ntp-server": "198.51.100.1", site: "machine-site" });
    // With sources=true, each value with the layer it comes from (the web UI's provenance).
    const src = await s.call("GET", `/api/v3/machines/${m.Uuid}/params?aggregate=true&sources=true`);
    expect(src.body).toMatchObject({
      console: { Value: "ttyS0", Source: "default" },
      "ntp-server": { Value: "198.51.100.1", Source: "profile:rack1" },
      site: { Value: "machine-site", Source: "machine" },
    });
    expect((await s.call("GET", `/api/v3/machines/${m.Uuid}/params?sources=true`)).status).toBe(400);
    const badType = await s.call("POST", `/api/v3/machines/${m.Uuid}/params/site`, { body: 42 });
    expect(badType.status).toBe(422);
    expect(badType.body.Messages.join()).toContain("site");
  });
});

describe("prefs", () => {
  test("read defaults, set known prefs, reject unknown names and missing bootenvs", async () => {
    const p = await s.call("GET", "/api/v3/prefs");
    expect(p.body.defaultBootEnv).toBe("local");
    expect((await s.call("POST", "/api/v3/prefs", { body: { unknownBootEnv: "ignore" } })).status).toBe(200);
    const unknown = await s.call("POST", "/api/v3/prefs", { body: { unknownBootEnv: "ignore", frobnicate: "1" } });
    expect(unknown.status).toBe(422);
    expect(unknown.body.Messages.join()).toContain("frobnicate");
    const missing = await s.call("POST", "/api/v3/prefs", { body: { defaultBootEnv: "no-such-env" } });
    expect(missing.status).toBe(422);
    expect((await s.call("GET", "/api/v3/prefs")).body.defaultBootEnv).toBe("local");
  });
});

describe("openapi", () => {
  test("document lists every type and the UI page loads its assets", async () => {
    const doc = await s.call("GET", "/api/v3/openapi.json");
    expect(doc.status).toBe(200);
    for (const t of ["machines", "bootenvs", "templates", "params", "profiles", "subnets", "reservations", "leases", "users", "roles"]) {
      expect(Object.keys(doc.body.paths).some((p) => p.startsWith(`/${t}`) || p.startsWith(`/api/v3/${t}`))).toBe(true);
    }
    const page = await s.req("GET", "/api/v3/swagger-ui");
    expect(await page.text()).toContain("swagger-ui-bundle.js");
    const js = await s.req("GET", "/api/v3/swagger-ui/swagger-ui-bundle.js");
    expect(js.status).toBe(200);
    expect((await js.text()).length).toBeGreaterThan(100_000);
  });
});

describe("leases are read-only through the API", () => {
  test("create and update are 403 with a clear message; delete frees a lease", async () => {
    const r = await s.call("POST", "/api/v3/leases", { body: { Addr: "198.51.100.9", Token: mac(9) } });
    expect(r.status).toBe(403);
    expect(r.body.Messages.join()).toContain("read-only");
    await s.socle.store.put("leases", "198.51.100.9", {
      Addr: "198.51.100.9", Token: mac(9), Strategy: "MAC", State: "ACK", ExpireTime: new Date(Date.now() + 60_000).toISOString(), Via: "", Hostname: "",
    });
    expect((await s.call("GET", "/api/v3/leases/198.51.100.9")).body.Token).toBe(mac(9));
    expect((await s.call("PUT", "/api/v3/leases/198.51.100.9", { body: { Addr: "198.51.100.9" } })).status).toBe(403);
    expect((await s.call("DELETE", "/api/v3/leases/198.51.100.9")).status).toBe(200);
    expect((await s.call("GET", "/api/v3/leases/198.51.100.9")).status).toBe(404);
  });
});
