// Who gets a job token (a machine's token plus its task's ExtraClaims), and when:
// - a user who may get the machine's token gets it only if it holds every claim the task adds:
//   otherwise a job would be a way around its own claims;
// - only while the job is open: the actions of an ended job render the token withheld, so a
//   machine cannot mint fresh tokens from its history.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { basic, startTestSocle, type TestSocle } from "../helpers/socle.ts";

const PATCH = "application/json-patch+json";
const WITHHELD = "TOKEN-WITHHELD";
let s: TestSocle;
let uuid = "";
let machineAuth = "";

const must = async (method: string, path: string, body?: unknown) => {
  const r = await s.call(method, `/api/v3${path}`, { body });
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
};

beforeAll(async () => {
  s = await startTestSocle();
  await must("POST", "/tasks", {
    Name: "reads-profiles",
    ExtraClaims: [{ Scope: "profiles", Action: "get", Specific: "*" }],
    Templates: [{ Name: "t", Contents: "echo <%= it.GenerateToken() %>" }],
  });
  await must("POST", "/stages", { Name: "st", Tasks: ["reads-profiles"] });
  uuid = (await must("POST", "/machines", { Name: "jt-1", HardwareAddrs: ["52:54:00:7a:00:01"], BootEnv: "discovery", Stage: "st" })).Uuid;
  machineAuth = `Bearer ${(await must("GET", `/machines/${uuid}/token`)).Token}`;
  await must("POST", "/roles", {
    Name: "operator-without-profiles",
    Claims: [
      { Scope: "jobs", Action: "*", Specific: "*" },
      { Scope: "machines", Action: "get,update,token", Specific: "*" },
    ],
  });
  await must("POST", "/users", { Name: "op", Password: "op-password-123", Roles: ["operator-without-profiles"] });
});
afterAll(() => s?.stop());

test("a user without the task's extra claims gets the job, but its token withheld; the machine gets it", async () => {
  const byMachine = await s.call("POST", "/api/v3/jobs", { auth: machineAuth, body: { Machine: uuid, BootEnv: "discovery" } });
  expect(byMachine.status).toBe(201);
  expect(byMachine.headers.get("socle-job-token")).not.toBe(WITHHELD);
  const byUser = await s.call("POST", "/api/v3/jobs", { auth: basic("op", "op-password-123"), body: { Machine: uuid, BootEnv: "discovery" } });
  expect(byUser.status).toBe(202);
  expect(byUser.headers.get("socle-job-token")).toBe(WITHHELD);
  // The admin holds every claim: the token is issued.
  const byAdmin = await s.call("POST", "/api/v3/jobs", { body: { Machine: uuid, BootEnv: "discovery" } });
  expect(byAdmin.headers.get("socle-job-token")).not.toBe(WITHHELD);
});

test("the actions of an ended job carry no token", async () => {
  const job = (await s.call("POST", "/api/v3/jobs", { auth: machineAuth, body: { Machine: uuid, BootEnv: "discovery" } })).body.Uuid;
  const open = await s.req("GET", `/api/v3/jobs/${job}/actions/0`, { auth: machineAuth });
  expect(await open.text()).not.toContain(WITHHELD);
  for (const [from, to] of [["created", "running"], ["running", "finished"]]) {
    const r = await s.call("PATCH", `/api/v3/jobs/${job}`, { auth: machineAuth, type: PATCH, body: [{ op: "test", path: "/State", value: from }, { op: "replace", path: "/State", value: to }] });
    expect(r.status).toBe(200);
  }
  const ended = await s.req("GET", `/api/v3/jobs/${job}/actions/0`, { auth: machineAuth });
  expect(ended.status).toBe(200);
  expect((await ended.text()).trim()).toBe(`echo ${WITHHELD}`);
});
