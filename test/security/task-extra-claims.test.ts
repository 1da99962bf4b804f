// A task's ExtraClaims widen the token of every job that runs it. Before this check, a user who
// may write tasks could put any claim there (say, every action on every machine) and so mint, by
// way of a job, a token wider than its own. Now a writer grants only what it holds itself.
// Over the real HTTPS API: a user who may write tasks and read machines grants "machines get",
// but not "machines update" nor "*"; the refusal is 403 naming the claim and nothing is stored,
// on create, PUT and PATCH alike; editing a task that already grants more (set by the admin)
// without touching its claims is allowed.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { basic, startTestSocle, type TestSocle } from "../helpers/socle.ts";

let s: TestSocle;
const writer = basic("task-writer", "task-writer-password-1");
const PATCH = "application/json-patch+json";

beforeAll(async () => {
  s = await startTestSocle();
  const must = async (path: string, body: unknown) => {
    const r = await s.call("POST", path, { body });
    if (r.status >= 300) throw new Error(`${path}: ${r.status} ${JSON.stringify(r.body)}`);
  };
  await must("/api/v3/roles", { Name: "task-writers", Claims: [{ Scope: "tasks", Action: "*", Specific: "*" }, { Scope: "machines", Action: "get,list", Specific: "*" }] });
  await must("/api/v3/users", { Name: "task-writer", Password: "task-writer-password-1", Roles: ["task-writers"] });
  await must("/api/v3/tasks", { Name: "admin-made", ExtraClaims: [{ Scope: "*", Action: "*", Specific: "*" }] });
});
afterAll(() => s?.stop());

test("a writer grants what it holds", async () => {
  const r = await s.call("POST", "/api/v3/tasks", { auth: writer, body: { Name: "reads", ExtraClaims: [{ Scope: "machines", Action: "get", Specific: "*" }] } });
  expect(r.status).toBe(201);
});

test("and nothing more: create, PUT and PATCH are 403 naming the claim, and nothing is stored", async () => {
  const wide = { Scope: "machines", Action: "get,update", Specific: "*" };
  const create = await s.call("POST", "/api/v3/tasks", { auth: writer, body: { Name: "widens", ExtraClaims: [wide] } });
  expect(create.status).toBe(403);
  expect(create.body.Messages[0]).toBe('ExtraClaims: "machines get,update *" grants more than you hold; a task may grant its jobs only claims its writer has');
  expect((await s.call("GET", "/api/v3/tasks/widens")).status).toBe(404);

  const put = await s.call("PUT", "/api/v3/tasks/reads", { auth: writer, body: { Name: "reads", ExtraClaims: [{ Scope: "*", Action: "*", Specific: "*" }] } });
  expect(put.status).toBe(403);
  const patch = await s.call("PATCH", "/api/v3/tasks/reads", { auth: writer, type: PATCH, body: [{ op: "add", path: "/ExtraClaims/-", value: { Scope: "users", Action: "get", Specific: "*" } }] });
  expect(patch.status).toBe(403);
  expect((await s.call("GET", "/api/v3/tasks/reads")).body.ExtraClaims).toEqual([{ Scope: "machines", Action: "get", Specific: "*" }]);
});

test("a task that already grants more may still be edited without touching its claims", async () => {
  const r = await s.call("PATCH", "/api/v3/tasks/admin-made", { auth: writer, type: PATCH, body: [{ op: "replace", path: "/Description", value: "edited" }] });
  expect(r.status).toBe(200);
  expect(r.body.ExtraClaims).toEqual([{ Scope: "*", Action: "*", Specific: "*" }]);
});
