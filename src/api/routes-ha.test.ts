// The HA routes over the real API app (auth middleware, claims, error edge) with a fake HaControl
// that records every request: what each principal may do, what a bad body gets, and that a
// refused request changes nothing.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { MemoryStore } from "../store/memory-store.ts";
import { ObjectService } from "./objects.ts";
import { PrefsService } from "./prefs.ts";
import { EventHub } from "./events.ts";
import { Authenticator } from "./authn.ts";
import { createApi } from "./app.ts";
import { nullLogger } from "../log/logger.ts";
import { SocleError } from "../model/errors.ts";
import { openApiDocument } from "../model/openapi.ts";
import type { HaControl, HaEnrolment, HaOperatorRequest } from "./routes-ha.ts";

const PIN = `sha256//${"A".repeat(43)}=`;

const STATUS = {
  Node: "socle-a",
  Slot: 0,
  State: "active",
  Term: 3,
  Reason: "elected",
  Vip: "198.51.100.10/24",
  HoldsVip: true,
  Seq: 42,
  SharedSeq: 42,
  Peer: { Name: "socle-b", State: "standby", Term: 3, Seq: 42, LastHeardMs: 120, Paths: [{ Address: "203.0.113.2", Up: true, AgeMs: 120, RttMs: 1 }] },
  LagSeq: 0,
  LagBytes: 0,
  FilesPendingBytes: 0,
  UnackedClients: [],
  SyncTimeouts: 0,
  FailoverSafe: true,
  Why: [],
  Transitions: [],
};

class FakeHa implements HaControl {
  requests: HaOperatorRequest[] = [];
  enrolments = 0;
  paired = false;
  status(): Record<string, unknown> {
    return structuredClone(STATUS);
  }
  enrol(): HaEnrolment {
    if (this.paired) throw new SocleError("Conflict", "ha", "enrolment", "this node is already paired with socle-b");
    this.enrolments++;
    return { Secret: "SECRETSECRET", ExpiresAt: "2026-12-07T06:15:00.000Z", CaPin: PIN, Vip: "198.51.100.10/24", Node: "socle-a", Address: "203.0.113.1", Port: 8094 };
  }
  request(op: HaOperatorRequest): void {
    this.requests.push(op);
  }
}

const store = new MemoryStore();
const objects = new ObjectService(store);
const authn = new Authenticator({ store, serverKey: "k".repeat(32), log: nullLogger, registrationSecret: "r".repeat(32) });
const ha = new FakeHa();
const tokens: Record<string, string> = {};
let withHa: ReturnType<typeof createApi>;
let withoutHa: ReturnType<typeof createApi>;

beforeAll(async () => {
  await store.open();
  // The shipped superuser role lives in the content layer, which this store has not: the same claim.
  await objects.create("roles", { Name: "everything", Claims: [{ Scope: "*", Action: "*", Specific: "*" }] });
  await objects.create("roles", { Name: "ha-reader", Claims: [{ Scope: "ha", Action: "get", Specific: "*" }] });
  await objects.create("roles", { Name: "ha-stepper", Claims: [{ Scope: "ha", Action: "get,action", Specific: "step-down" }] });
  await objects.create("roles", { Name: "ha-operator", Claims: [{ Scope: "ha", Action: "get,action", Specific: "*" }] });
  const user = async (name: string, roles: string[]) =>
    (tokens[name] = authn.tokenForUser(await objects.save("users", objects.def("users").prepare({ Name: name, Roles: roles, Secret: name.padEnd(32, "x") })), 3600).token);
  await user("admin", ["everything"]);
  await user("reader", ["ha-reader"]);
  await user("stepper", ["ha-stepper"]);
  await user("operator", ["ha-operator"]);
  await user("nobody", []);
  const m = await objects.create("machines", { Name: "n1", HardwareAddrs: ["52:54:00:00:00:01"] });
  tokens.machine = authn.tokenForMachine(m, 3600).token;
  tokens.registration = authn.tokenForRegistration(3600).token;
  const deps = { store, objects, authn, prefs: new PrefsService(store), events: new EventHub(store), log: nullLogger, version: "test" };
  const info = () => ({ Version: "test", Features: ["api-v3", "jobs"] });
  withHa = createApi({ ...deps, info, ha });
  withoutHa = createApi({ ...deps, info });
});

afterAll(async () => {
  await store.close();
});

interface Call {
  as?: string;
  body?: string;
  type?: string;
  app?: ReturnType<typeof createApi>;
}

async function call(method: string, path: string, opts: Call = {}) {
  const headers: Record<string, string> = {};
  if (opts.as) headers.authorization = `Bearer ${tokens[opts.as]}`;
  if (opts.body !== undefined) headers["content-type"] = opts.type ?? "application/json";
  const res = await (opts.app ?? withHa).fetch(new Request(`https://198.51.100.1${path}`, { method, headers, ...(opts.body !== undefined ? { body: opts.body } : {}) }));
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as any) : undefined };
}

const ROUTES: [string, string, string?][] = [
  ["GET", "/api/v3/ha"],
  ["POST", "/api/v3/ha/enrolment"],
  ["POST", "/api/v3/ha/takeover"],
  ["POST", "/api/v3/ha/step-down"],
  ["POST", "/api/v3/ha/partner-down", '{"Confirm":true}'],
];

function untouched() {
  expect(ha.requests).toEqual([]);
  expect(ha.enrolments).toBe(0);
}

describe("who may call the HA routes", () => {
  test("no credentials: 401 on every route, nothing requested", async () => {
    for (const [method, path, body] of ROUTES) {
      const r = await call(method, path, { ...(body ? { body } : {}) });
      expect({ path, status: r.status, type: r.body?.Type }).toEqual({ path, status: 401, type: "Unauthorized" });
    }
    untouched();
  });

  test("a user without the claim, a machine token and a registration token: 403, nothing requested", async () => {
    for (const who of ["nobody", "machine", "registration"]) {
      for (const [method, path, body] of ROUTES) {
        const r = await call(method, path, { as: who, ...(body ? { body } : {}) });
        expect({ who, path, status: r.status }).toEqual({ who, path, status: 403 });
        expect(r.body.Type).toBe("Forbidden");
      }
    }
    untouched();
  });

  test("ha get reads the status and nothing else", async () => {
    const r = await call("GET", "/api/v3/ha", { as: "reader" });
    expect(r.status).toBe(200);
    expect(r.body).toEqual(STATUS);
    for (const [method, path, body] of ROUTES.slice(1)) {
      const refused = await call(method, path, { as: "reader", ...(body ? { body } : {}) });
      expect({ path, status: refused.status }).toEqual({ path, status: 403 });
    }
    expect((await call("POST", "/api/v3/ha/takeover", { as: "reader" })).body.Messages).toEqual(['user "reader" may not action ha "takeover"']);
    untouched();
  });

  test("the action claim is per request: step-down only, and not enrolment (that is the token claim)", async () => {
    const takeover = await call("POST", "/api/v3/ha/takeover", { as: "stepper" });
    expect(takeover.status).toBe(403);
    expect(takeover.body.Messages).toEqual(['user "stepper" may not action ha "takeover"']);
    expect((await call("POST", "/api/v3/ha/partner-down", { as: "stepper", body: '{"Confirm":true}' })).status).toBe(403);
    expect((await call("POST", "/api/v3/ha/enrolment", { as: "operator" })).status).toBe(403);
    untouched();
    const r = await call("POST", "/api/v3/ha/step-down", { as: "stepper" });
    expect(r.status).toBe(202);
    expect(ha.requests).toEqual(["step-down"]);
    ha.requests = [];
  });
});

describe("operator requests", () => {
  test("takeover, step-down, partner-down: 202 with the status, the request handed on once", async () => {
    for (const [op, body] of [["takeover", undefined], ["step-down", "{}"], ["partner-down", '{"Confirm":true}']] as const) {
      const r = await call("POST", `/api/v3/ha/${op}`, { as: "operator", ...(body ? { body } : {}) });
      expect({ op, status: r.status }).toEqual({ op, status: 202 });
      expect(r.body.State).toBe("active");
    }
    expect(ha.requests).toEqual(["takeover", "step-down", "partner-down"]);
    ha.requests = [];
  });

  test("partner-down without {Confirm: true}: 422 naming Confirm and saying why, nothing requested", async () => {
    const cases: [string | undefined, string][] = [
      [undefined, "Confirm: is required"],
      ["{}", "Confirm: is required"],
      ['{"Confirm":false}', "Confirm: must be true"],
      ['{"Confirm":"yes"}', 'Confirm: expected boolean, got string "yes"'],
    ];
    for (const [body, first] of cases) {
      const r = await call("POST", "/api/v3/ha/partner-down", { as: "admin", ...(body !== undefined ? { body } : {}) });
      expect({ body, status: r.status, type: r.body.Type }).toEqual({ body, status: 422, type: "ValidationError" });
      expect(r.body.Messages[0]).toBe(first);
      expect(r.body.Messages.at(-1)).toContain("partner's half of every pool");
    }
    const extra = await call("POST", "/api/v3/ha/partner-down", { as: "admin", body: '{"Confirm":true,"Force":1}' });
    expect(extra.status).toBe(422);
    expect(extra.body.Messages[0]).toBe("Force: unknown field; valid fields: Confirm");
    untouched();
  });

  test("malformed bodies: 400 bad JSON, 415 another media type, 422 unknown fields or not an object", async () => {
    const bad = await call("POST", "/api/v3/ha/takeover", { as: "admin", body: "{nope" });
    expect(bad.status).toBe(400);
    expect(bad.body.Messages[0]).toStartWith("invalid JSON body:");
    const media = await call("POST", "/api/v3/ha/step-down", { as: "admin", body: "Confirm=true", type: "application/x-www-form-urlencoded" });
    expect(media.status).toBe(415);
    const field = await call("POST", "/api/v3/ha/takeover", { as: "admin", body: '{"Node":"socle-b"}' });
    expect(field.status).toBe(422);
    expect(field.body.Messages).toEqual(["Node: unknown field", "takeover takes no fields: send no body, or {}"]);
    const array = await call("POST", "/api/v3/ha/enrolment", { as: "admin", body: "[]" });
    expect(array.status).toBe(422);
    expect(array.body.Messages[0]).toBe("expected object, got array []");
    const big = await call("POST", "/api/v3/ha/partner-down", { as: "admin", body: JSON.stringify({ Confirm: true, Pad: "x".repeat(5000) }) });
    expect(big.status).toBe(413);
    untouched();
  });
});

describe("enrolment", () => {
  test("201 with the secret, no-store, and the join command with the secret kept off its line", async () => {
    const r = await call("POST", "/api/v3/ha/enrolment", { as: "admin" });
    expect(r.status).toBe(201);
    expect(r.headers.get("cache-control")).toBe("no-store");
    expect(r.body).toMatchObject({ Secret: "SECRETSECRET", CaPin: PIN, Address: "203.0.113.1", Port: 8094, Vip: "198.51.100.10/24", Node: "socle-a" });
    expect(r.body.Join).toBe(`socle ha join 203.0.113.1 --port 8094 --ca-pin ${PIN} --data-dir /var/lib/socle`);
    expect(r.body.Join).not.toContain("SECRET");
    expect(r.body.JoinNote).toContain("standard input");
    expect(ha.enrolments).toBe(1);
    ha.enrolments = 0;
  });

  test("an already paired node: 409 from HaControl, passed through", async () => {
    ha.paired = true;
    try {
      const r = await call("POST", "/api/v3/ha/enrolment", { as: "admin" });
      expect(r.status).toBe(409);
      expect(r.body).toEqual({ Model: "ha", Key: "enrolment", Type: "Conflict", Messages: ["this node is already paired with socle-b"], Code: 409 });
    } finally {
      ha.paired = false;
    }
  });
});

describe("HA off", () => {
  test("every route: 404 saying HA is off and how to turn it on; the claims are checked first", async () => {
    for (const [method, path, body] of ROUTES) {
      const r = await call(method, path, { as: "admin", app: withoutHa, ...(body ? { body } : {}) });
      expect({ path, status: r.status }).toEqual({ path, status: 404 });
      expect(r.body.Messages[0]).toStartWith("HA is off on this node");
      expect(r.body.Messages[1]).toContain("socle serve --ha-vip <addr/len>");
      expect((await call(method, path, { app: withoutHa })).status).toBe(401);
      expect((await call(method, path, { as: "nobody", app: withoutHa })).status).toBe(403);
    }
  });

  test("GET /info: Features gains ha, and Ha says the state and VIP, only with HA on", async () => {
    const on = await call("GET", "/api/v3/info");
    expect(on.body.Features).toEqual(["api-v3", "jobs", "ha"]);
    expect(on.body.Ha).toEqual({ State: "active", Vip: "198.51.100.10/24" });
    const off = await call("GET", "/api/v3/info", { app: withoutHa });
    expect(off.body.Features).toEqual(["api-v3", "jobs"]);
    expect(off.body.Ha).toBeUndefined();
  });
});

describe("the OpenAPI document", () => {
  test("documents every HA route with the statuses it answers", async () => {
    const doc = openApiDocument({ version: "test" }) as { paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };
    for (const [method, path, body] of ROUTES) {
      const op = doc.paths[path.replace("/api/v3", "")]?.[method.toLowerCase()];
      expect({ path, documented: op !== undefined }).toEqual({ path, documented: true });
      const ok = await call(method, path, { as: "admin", ...(body ? { body } : {}) });
      const off = await call(method, path, { as: "admin", app: withoutHa, ...(body ? { body } : {}) });
      for (const status of [ok.status, off.status, 401, 403]) expect({ path, status, documented: String(status) in op!.responses }).toEqual({ path, status, documented: true });
    }
    ha.requests = [];
    ha.enrolments = 0;
  });
});
