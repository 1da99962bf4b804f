// The one BootEnv change a machine makes itself: POST /machines/<uuid>/boot-local, which the
// shipped installer templates call as their last step (a machine token may not write BootEnv:
// machine-token-scope.test.ts). It moves only its own machine, and only to `local`.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { startTestSocle, type TestSocle } from "../helpers/socle.ts";

let s: TestSocle;
let mine = "";
let other = "";
let auth = "";

beforeAll(async () => {
  s = await startTestSocle();
  const make = async (Name: string, mac: string) => (await s.call("POST", "/api/v3/machines", { body: { Name, HardwareAddrs: [mac], BootEnv: "discovery" } })).body.Uuid as string;
  mine = await make("installer-1", "52:54:00:5b:00:01");
  other = await make("installer-2", "52:54:00:5b:00:02");
  auth = `Bearer ${(await s.call("GET", `/api/v3/machines/${mine}/token`)).body.Token}`;
});
afterAll(() => s?.stop());

test("a machine switches itself to local; the BootEnv patch it used before is refused", async () => {
  const patch = await s.call("PATCH", `/api/v3/machines/${mine}`, { auth, type: "application/json-patch+json", body: [{ op: "replace", path: "/BootEnv", value: "local" }] });
  expect(patch.status).toBe(403);
  const r = await s.call("POST", `/api/v3/machines/${mine}/boot-local`, { auth });
  expect(r.status).toBe(200);
  expect(r.body.BootEnv).toBe("local");
  expect((await s.call("GET", `/api/v3/machines/${mine}`)).body.BootEnv).toBe("local");
});

test("not another machine, and not without credentials", async () => {
  expect((await s.call("POST", `/api/v3/machines/${other}/boot-local`, { auth })).status).toBe(404);
  expect((await s.call("POST", `/api/v3/machines/${other}/boot-local`, { auth: null })).status).toBe(401);
  expect((await s.call("GET", `/api/v3/machines/${other}`)).body.BootEnv).toBe("discovery");
});
