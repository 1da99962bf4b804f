// Who reaches which job (src/api/routes-jobs.ts), over the real HTTPS API:
// - a machine token reaches its own machine's jobs, and every other job is "not found" to it,
//   exactly as a job that does not exist: GET, HEAD, PATCH, PUT, DELETE, actions and log;
// - it asks for its own machine's work only: POST /jobs for another machine is refused before any
//   lookup, the same for a machine that exists and one that does not;
// - a job's token is its machine's token plus its task's ExtraClaims, nothing more; those claims
//   count on the job routes as a user's would;
// - a registration token can do nothing with jobs;
// - actions carry Secure params in clear to the machine itself, and to a user only with getSecure;
//   users need render and get on the machine for them, and the job token only with the machine's
//   token claim.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { TestSocle } from "../helpers/socle.ts";
import { registrationToken, startWithBootServer } from "./discovery-boot.ts";
import { peekToken } from "../../src/auth/tokens.ts";
import { SECURE_MARKER } from "../../src/model/secure-params.ts";

const PATCH = "application/json-patch+json";
const NOBODY = "0badc0de-0000-4000-8000-0000000000aa";
const SECRET = "bmc-password-for-a-only";

let s: TestSocle;
let bootPort = 0;
let a = "";
let b = "";
let jobA = "";
let jobB = "";
let authA = "";
let jobTokenA = "";

const admin = async (method: string, path: string, body?: unknown, type?: string) => {
  const r = await s.call(method, `/api/v3${path}`, { body, ...(type ? { type } : {}) });
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r;
};
const token = async (uuid: string) => `Bearer ${(await admin("GET", `/machines/${uuid}/token`)).body.Token}`;

/** Every job route on job `job` with `auth`: the statuses, by route. */
async function everyRoute(auth: string, job: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const go = async (name: string, method: string, path: string, opts: Record<string, unknown> = {}) => {
    out[name] = (await s.call(method, `/api/v3/jobs/${job}${path}`, { auth, ...opts })).status;
  };
  await go("GET", "GET", "");
  await go("HEAD", "HEAD", "");
  await go("PATCH", "PATCH", "", { type: PATCH, body: [{ op: "replace", path: "/State", value: "failed" }] });
  await go("PUT", "PUT", "", { body: { State: "failed" } });
  await go("actions", "GET", "/actions");
  await go("actions list", "GET", "/actions?format=list");
  await go("action 0", "GET", "/actions/0");
  await go("log", "GET", "/log");
  await go("log put", "PUT", "/log", { raw: "intruder\n", type: "text/plain", headers: { "Socle-Log-Offset": "0" } });
  await go("DELETE", "DELETE", "");
  return out;
}
const all = (status: number) => ({ GET: status, HEAD: status, PATCH: status, PUT: status, actions: status, "actions list": status, "action 0": status, log: status, "log put": status, DELETE: status });

beforeAll(async () => {
  ({ s, bootPort } = await startWithBootServer());
  await admin("POST", "/params", { Name: "bmc-password", Secure: true, Schema: { type: "string" } });
  await admin("POST", "/tasks", {
    Name: "configure-bmc",
    ExtraClaims: [{ Scope: "profiles", Action: "get", Specific: "site" }],
    Templates: [{ Name: "bmc", Contents: "ipmitool user set password 2 '<%= it.param('bmc-password') %>'\necho <%= it.GenerateToken() %>\n" }],
  });
  await admin("POST", "/profiles", { Name: "site" });
  await admin("POST", "/stages", { Name: "bmc", Tasks: ["configure-bmc"] });
  a = (await admin("POST", "/machines", { Name: "ja", HardwareAddrs: ["52:54:00:6a:00:01"], BootEnv: "discovery", Stage: "bmc", Params: { "bmc-password": SECRET } })).body.Uuid;
  b = (await admin("POST", "/machines", { Name: "jb", HardwareAddrs: ["52:54:00:6a:00:02"], BootEnv: "discovery", Stage: "bmc", Params: { "bmc-password": "b-secret" } })).body.Uuid;
  authA = await token(a);
  const r = await s.call("POST", "/api/v3/jobs", { auth: authA, body: { Machine: a, BootEnv: "discovery" } });
  expect(r.status).toBe(201);
  jobA = r.body.Uuid;
  jobTokenA = `Bearer ${r.headers.get("socle-job-token")}`;
  jobB = (await admin("POST", "/jobs", { Machine: b, BootEnv: "discovery" })).body.Uuid;
});
afterAll(async () => {
  await s?.stop();
});

describe("a machine token and its machine's jobs", () => {
  test("machine A's token, and A's job token, get 404 on every route of B's job, as on a job that does not exist", async () => {
    for (const auth of [authA, jobTokenA]) {
      expect(await everyRoute(auth, jobB)).toEqual(all(404));
      expect(await everyRoute(auth, NOBODY)).toEqual(all(404));
    }
    // B's job is untouched.
    expect((await admin("GET", `/jobs/${jobB}`)).body.State).toBe("created");
    expect((await s.req("GET", `/api/v3/jobs/${jobB}/log`)).headers.get("socle-log-length")).toBe("0");
  });

  test("...and reaches A's own job (no DELETE: an operator's; no PUT: nobody's)", async () => {
    expect((await s.call("GET", `/api/v3/jobs/${jobA}`, { auth: authA })).status).toBe(200);
    expect((await s.call("GET", `/api/v3/jobs/${jobA}/log`, { auth: jobTokenA })).status).toBe(200);
    expect((await s.call("DELETE", `/api/v3/jobs/${jobA}`, { auth: authA })).status).toBe(403);
    expect((await s.call("PUT", `/api/v3/jobs/${jobA}`, { auth: authA, body: {} })).status).toBe(405);
    expect((await s.call("GET", `/api/v3/jobs`, { auth: authA })).status).toBe(403);
  });

  test("it cannot ask for B's work: 403 before any lookup, the same for a machine that does not exist", async () => {
    for (const auth of [authA, jobTokenA]) {
      const forB = await s.call("POST", "/api/v3/jobs", { auth, body: { Machine: b } });
      const forNobody = await s.call("POST", "/api/v3/jobs", { auth, body: { Machine: NOBODY } });
      const byName = await s.call("POST", "/api/v3/jobs", { auth, body: { Machine: "Name:jb" } });
      expect([forB.status, forNobody.status, byName.status]).toEqual([403, 403, 403]);
      expect(forB.body.Messages[0].replace(b, "X")).toBe(forNobody.body.Messages[0].replace(NOBODY, "X"));
    }
    expect((await admin("GET", `/jobs?Machine=Eq(${b})`)).body.length).toBe(2); // B's stage step and its job, no more
  });

  test("a job token is the machine's token plus the task's ExtraClaims, nothing else", async () => {
    const p = peekToken(jobTokenA.slice(7));
    expect(p).toMatchObject({ kind: "machine", sub: a, machine: a });
    expect(p.claims).toEqual([
      { Scope: "machines", Action: "get,update,patch", Specific: a },
      { Scope: "profiles", Action: "get", Specific: "site" },
    ]);
    expect((await s.call("GET", "/api/v3/profiles/site", { auth: jobTokenA })).status).toBe(200);
    expect((await s.call("GET", "/api/v3/profiles/global", { auth: jobTokenA })).status).toBe(404);
    expect((await s.call("GET", `/api/v3/machines/${b}`, { auth: jobTokenA })).status).toBe(404);
    // Still bound to the machine's Secret: the field rule for machine writes holds for it too.
    const w = await s.call("PATCH", `/api/v3/machines/${a}`, { auth: jobTokenA, type: PATCH, body: [{ op: "replace", path: "/BootEnv", value: "local" }] });
    expect(w.status).toBe(403);
  });

  test("a task's ExtraClaims on jobs count on the job routes as a user's would", async () => {
    await admin("POST", "/tasks", { Name: "watcher", ExtraClaims: [{ Scope: "jobs", Action: "get", Specific: jobB }] });
    await admin("POST", "/stages", { Name: "watch", Tasks: ["watcher"] });
    const c = (await admin("POST", "/machines", { Name: "jc", BootEnv: "discovery", Stage: "watch" })).body.Uuid;
    const r = await s.call("POST", "/api/v3/jobs", { auth: await token(c), body: { Machine: c } });
    const jt = `Bearer ${r.headers.get("socle-job-token")}`;
    expect((await s.call("GET", `/api/v3/jobs/${jobB}`, { auth: jt })).status).toBe(200);
    expect((await s.call("GET", `/api/v3/jobs/${jobA}`, { auth: jt })).status).toBe(404);
    expect((await s.call("PATCH", `/api/v3/jobs/${jobB}`, { auth: jt, type: PATCH, body: [{ op: "replace", path: "/State", value: "failed" }] })).status).toBe(403);
    // Reading B's actions takes the render claim and B's get claim, which it does not hold.
    expect((await s.call("GET", `/api/v3/jobs/${jobB}/actions`, { auth: jt })).status).toBe(403);
  });
});

describe("the registration token", () => {
  test("can do nothing with jobs", async () => {
    const auth = `Bearer ${await registrationToken(bootPort, "52:54:00:6a:00:99")}`;
    expect((await s.call("POST", "/api/v3/jobs", { auth, body: { Machine: a } })).status).toBe(403);
    expect((await s.call("GET", "/api/v3/jobs", { auth })).status).toBe(403);
    const statuses = await everyRoute(auth, jobA);
    expect(Object.values(statuses).every((x) => x === 403)).toBe(true);
  });
});

describe("actions and Secure params", () => {
  test("the machine itself gets its Secure values in clear, and the job token", async () => {
    const r = await s.call("GET", `/api/v3/jobs/${jobA}/actions`, { auth: authA });
    expect(r.status).toBe(200);
    expect(r.body[0].Content).toContain(`'${SECRET}'`);
    const issued = /\necho (\S+)\n/.exec(r.body[0].Content)![1]!;
    expect(peekToken(issued).claims).toContainEqual({ Scope: "profiles", Action: "get", Specific: "site" });
  });

  test("a user: render and get on the machine; Secure values only with getSecure; the token only with the token claim", async () => {
    await admin("POST", "/roles", {
      Name: "job-viewer",
      Claims: [
        { Scope: "jobs", Action: "get", Specific: "*" },
        { Scope: "render", Action: "render", Specific: "*" },
        { Scope: "machines", Action: "get", Specific: a },
      ],
    });
    await admin("POST", "/users", { Name: "viewer", Password: "viewer-password-1", Roles: ["job-viewer"] });
    const auth = `Bearer ${(await admin("GET", "/users/viewer/token")).body.Token}`;
    const r = await s.call("GET", `/api/v3/jobs/${jobA}/actions`, { auth });
    expect(r.status).toBe(200);
    expect(r.body[0].Content).toContain(`'${SECURE_MARKER}'`);
    expect(r.body[0].Content).not.toContain(SECRET);
    expect(r.body[0].Content).toContain("echo TOKEN-WITHHELD\n");
    // B's job: visible (jobs get *), but rendering for B needs get on B.
    const forB = await s.call("GET", `/api/v3/jobs/${jobB}/actions`, { auth });
    expect(forB.status).toBe(403);
    expect(JSON.stringify(forB.body)).not.toContain("b-secret");
    // It may read, not write.
    expect((await s.call("PATCH", `/api/v3/jobs/${jobA}`, { auth, type: PATCH, body: [{ op: "replace", path: "/State", value: "failed" }] })).status).toBe(403);
    expect((await s.call("PUT", `/api/v3/jobs/${jobA}/log`, { auth, raw: "x", type: "text/plain" })).status).toBe(403);
    expect((await s.call("POST", "/api/v3/jobs", { auth, body: { Machine: a } })).status).toBe(403);
  });
});

describe("a machine cannot move its own workflow position", () => {
  test("its token may not set its CurrentTask or CurrentJob (it would skip its own tasks): 403, nothing changes", async () => {
    const before = (await admin("GET", `/machines/${a}`)).body;
    for (const [field, value] of [["CurrentTask", -1], ["CurrentJob", ""]] as const) {
      const r = await s.call("PATCH", `/api/v3/machines/${a}`, { auth: authA, type: PATCH, body: [{ op: "replace", path: `/${field}`, value }] });
      expect(`${field} ${r.status}`).toBe(`${field} 403`);
    }
    const after = (await admin("GET", `/machines/${a}`)).body;
    expect([after.CurrentTask, after.CurrentJob]).toEqual([before.CurrentTask, before.CurrentJob]);
  });
});
