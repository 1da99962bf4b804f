// The table of access-sweep.test.ts: every API route, the objects its requests name, and who may
// use it. Derived from the README (API and "Authorisation") and from what the code says it means
// (src/api/access.ts, machine-scope.ts, routes-register.ts, src/auth/claims.ts), never from what
// the server was seen to answer.
//
// Principals:
//   none          no Authorization header
//   registration  a registration token, taken from the discovery script of an unknown MAC (8091)
//   machine       machine A's token (GET /machines/<A>/token as admin); claims machines
//                 get,update,patch on A; writes only Params.inventory of A (machine-scope.ts);
//                 reaches the jobs of A, and no other job (routes-jobs.ts)
//   narrow        user "narrow" holds roles one-claim and superuser; its token is narrowed to
//                 one-claim, whose only claim is {machines, get, <A's Uuid>}
//   admin         superuser over Basic: the control, for which every row works
//
// A row's `may` lists who may use it: the answer is 2xx, or the row's `status` for that
// principal. Everyone else gets 401 (none) or 403 or 404 (authenticated but not allowed; a 404
// that hides whether the object exists is as good a refusal). Every object a request names
// exists, so a 404 cannot stand for a check passed and a later step failing, except the
// "nobody's" targets: they name no machine, and are there so that the test can compare the
// refusal of a machine that exists (B by Name, B by MAC) with that of one that does not. A
// refusal that differs tells a machine token which MACs and names are known machines'.
//
// What the rows say, by principal:
//   none          GET /info and GET /pki/crl (the CRL is public), nothing else
//   registration  POST /register for MACs no machine has, once (the guard in routes-register.ts
//                 confines it to that route; a known MAC gets the one refusal); and GET /info
//   machine       GET,HEAD,PUT,PATCH /machines/<A>; GET,PUT,PATCH /machines/<A>/params (and
//                 ?aggregate=true); GET,POST,DELETE /machines/<A>/params/<name> (writes:
//                 inventory only); POST /machines/<A>/boot-local; POST /register with A's own MACs;
//                 POST /jobs for A; GET,HEAD,PATCH /jobs/<A's job>, its actions and its log (GET,
//                 PUT), PUT of it answered 405 as for anyone who may see it, but not DELETE;
//                 GET /info, /openapi.json, /swagger-ui. Nothing on machine B or its jobs, no
//                 list, no token of anyone else.
//   narrow        GET,HEAD /machines/<A>; GET /machines/<A>/params (and aggregate) and
//                 /params/<name>: its one claim. Self-service: GET /users/narrow/token (stays
//                 narrowed) and POST /users/narrow/revoke (requireSelfOr, action token); not its
//                 password (routes-users.ts: a narrowed token needs the claim for that). And GET
//                 /info, /openapi.json, /swagger-ui.
//   admin         everything; its non-2xx answers are rules that hold for everyone: POST
//                 /register with a known machine's MACs (403, the one refusal of
//                 register-known-mac.test.ts), DELETE /users/admin (409: a user may not delete
//                 itself), the "nobody's" targets (404; 422 for POST /jobs, "no such machine"),
//                 PUT of a job (405: a job changes by PATCH only), and /ws (101, a real handshake).
// Jobs: each of A and B has a job of the seeded stage (its task renders one script action), made
// by the admin's POST /jobs before the sweep. The registration token can do nothing with jobs.
// /openapi.json and /swagger-ui check no claim (routes-system.ts): any principal that passed
// authentication reads them, except a registration token, which the register guard stops first.
// Webhooks (routes-webhooks.ts, README "Webhooks"): every route needs a claim on scope webhooks
// (list, get, create, update for PUT and PATCH, delete; getSecure for GET .../secret; deliveries,
// redeliver, ping), so of these principals only the admin: a machine token claims machines only,
// narrow's token its one claim. The seeded hook posts to a receiver the test runs on loopback
// (--webhook-allow-cidrs 127.0.0.1/32: no attempt leaves the host), and the seeded template's
// create is in its delivery log before the sweep, so that redeliver names a delivery that exists.
// A hook's Secret is in one answer only, the admin's GET .../secret of that hook. The "nobody's
// hook" rows name a webhook that does not exist, to compare its refusal with the seeded one's.

import { ADMIN_PASSWORD } from "../helpers/socle.ts";

export type Who = "none" | "registration" | "machine" | "narrow" | "admin";
export const PRINCIPALS: readonly Who[] = ["none", "registration", "machine", "narrow", "admin"];

/** Order of the sweep: reads, then writes, then the secret rotations, then deletes. */
export type Phase = "read" | "write" | "rotate" | "delete";

export const NARROW_PASSWORD = "narrow-password-1";
export const NARROW_ROLE = "one-claim";

/** The seeded objects, as the rows name them. */
export const SEED = {
  a: { name: "sweep-a", mac: "52:54:00:5e:00:0a" },
  b: { name: "sweep-b-hidden", mac: "52:54:00:5e:00:0b", address: "198.51.100.22", value: "b-param-value-hidden" },
  /** A MAC no machine has: the registration token's (and the operator's) new machine. */
  newMac: "52:54:00:5e:00:0c",
  /** A MAC and a Name no machine has, for comparing refusals. */
  nobodysMac: "52:54:00:5e:00:99",
  nobodysName: "sweep-nobody",
  nobodysWebhook: "sweep-nobody-hook",
  createdMac: "52:54:00:5e:00:0d",
  reservationMac: "52:54:00:5e:00:0e",
  createdReservationMac: "52:54:00:5e:00:0f",
  leaseMac: "52:54:00:5e:00:10",
  param: "sweep-param",
  profile: "sweep-profile",
  template: "sweep-template",
  bootenv: "sweep-env",
  subnet: "sweep-net",
  reservation: "198.51.100.50",
  lease: "198.51.100.60",
  file: "sweep/x.txt",
  iso: "sweep.iso",
  task: "sweep-task",
  stage: "sweep-stage",
  workflow: "sweep-workflow",
  webhook: "sweep-hook",
  /** The seeded hook's Secret, and the one the admin's create sends (16-512 characters). */
  webhookSecret: "sweep-hook-secret-f3a9c2e71b",
  createdWebhookSecret: "sweep-created-hook-secret-5d81e0",
  /** A Uuid no machine and no job has. */
  nobodysUuid: "0badc0de-0000-4000-8000-000000000099",
} as const;

/** What a row needs at request time: the seeded keys, and the current objects for bodies. */
export interface Fixtures {
  aUuid: string;
  bUuid: string;
  /** The jobs of A and of B (POST /jobs as admin, while seeding). */
  jobA: string;
  jobB: string;
  /** Where the seeded webhook posts: the test's receiver on loopback. */
  hookUrl: string;
  /** A delivery in the seeded webhook's log ("sweep-hook-<Seq>"), for redeliver. */
  hookDelivery: string;
  /** An object as the admin sees it now (GET /api/v3<path>), for PUT bodies. */
  current(path: string): Promise<Record<string, any>>;
}

export interface Row {
  /** "METHOD /path/{param}", as the OpenAPI document spells it (paths below /api/v3). */
  op: string;
  /** Which object the request names, for messages. */
  target: string;
  may: readonly Who[];
  /** Exact status where a principal in `may` does not get a 2xx (a rule that holds for everyone). */
  status?: Partial<Record<Who, number>>;
  params?: (f: Fixtures) => Record<string, string>;
  query?: string;
  body?: (f: Fixtures) => unknown;
  /** A raw body (file uploads), sent as application/octet-stream. */
  raw?: string;
  phase?: Phase;
  /** How to ask: an event stream is read to its first bytes; a websocket is a real handshake. */
  kind?: "sse" | "websocket";
}

/** A certificate request (2048-bit RSA, made once with openssl req; its key was thrown away). */
const SWEEP_CSR = `-----BEGIN CERTIFICATE REQUEST-----
MIICXDCCAUQCAQAwFzEVMBMGA1UEAwwMYWNjZXNzLXN3ZWVwMIIBIjANBgkqhkiG
9w0BAQEFAAOCAQ8AMIIBCgKCAQEA0fRqXDll+SPT2UAbor6HeiqIUSsX9iaVCKM0
3Qi7YPLS1pHMJf8fRXxJydQ0SmiO6L8nBJVLZN2y0mxIpRIrhj/Uv1eZ9b9jhmoN
dKOue/Q63EWCzyh4s74Qd2KGjFtj6fXgfqcIG6KsRzndgUm/j6xIIcfhREbxzSFJ
R3qMq0E4ApqGPuztg7iPUYwUitpcEs3fEZoybWhPKyE5ZpXY2WLYJVTglD+861iK
mlO7ukkWoei8haR+E5KB56RMiXkaQBkJkJywd+fXlaG3FQEaNeUcdmUp5pXvtYd8
Qf8fLyD5LV8u3azkNt/7iUbM1jS9XamWc8DMUDjT1FobCR7EaQIDAQABoAAwDQYJ
KoZIhvcNAQELBQADggEBAMQnDG6EwPO0jNp7HPhQj2254rg6KAn/0egWD+ZyB7JR
+W5GS/uPk8nulOG2rnH050Qw/vTGvYKZr+6iEE1gF2OFSPpdBfk+BrSAJaoSnOiZ
PJYv0o7m7oE7yri1UfYTAN/6AavJex6ZeZ4g0GC+WijH5oEvPqF5LQbf5F566Ckc
AH9BHRdEupfGM0LLDApldICGBhttjjD6xzEj6ciOPBtSDy8YdIfeS0Ne2bjrTUVb
VabIkfcWTdsUtW9M+pP4W2KUrf7fQ7FWY4pSD9UP1U2VTQXRsaXZE1gBBMqS4K1h
FvkfFZ6tw3U9avAfFVrBocRLH361OdtLO1ucHlaXaD4=
-----END CERTIFICATE REQUEST-----\n`;

const ALL: readonly Who[] = PRINCIPALS;
const ADMIN: readonly Who[] = ["admin"];
/** Routes that check authentication and no claim: every principal but a registration token. */
const AUTHENTICATED: readonly Who[] = ["machine", "narrow", "admin"];
const MACHINE_A: readonly Who[] = ["machine", "admin"];
const READ_A: readonly Who[] = ["machine", "narrow", "admin"];

const PATCH_INVENTORY = (cpus: number) => [{ op: "add", path: "/Params/inventory", value: { CPUs: cpus } }];
const DESCRIBE = [{ op: "replace", path: "/Description", value: "patched by the access sweep" }];

/** The object as shown, with only its inventory changed: what a machine may PUT. */
const withInventory = async (path: string, f: Fixtures) => {
  const shown = await f.current(path);
  return { ...shown, Params: { ...shown.Params, inventory: { CPUs: 1 } } };
};
const withDescription = async (path: string, f: Fixtures) => ({ ...(await f.current(path)), Description: "put by the access sweep" });

const A = (f: Fixtures) => ({ key: f.aUuid });
const B = (f: Fixtures) => ({ key: f.bUuid });
const B_BY_MAC = () => ({ key: `HardwareAddrs:${SEED.b.mac}` });
const key = (k: string) => () => ({ key: k });

/** The generic routes of one type: list, count, create, and the item routes on `targets`. */
interface ItemTarget {
  target: string;
  key: (f: Fixtures) => string;
  read: readonly Who[];
  write: readonly Who[];
  del: readonly Who[];
  /** The PUT body from the object's path; default: as shown, with a new Description. */
  put?: (path: string, f: Fixtures) => Promise<unknown>;
  patch?: unknown;
  /** Exact statuses of its GET and HEAD rows, and of its DELETE row. */
  status?: Partial<Record<Who, number>>;
  delStatus?: Partial<Record<Who, number>>;
}

/** `create`: the POST body, or a function of the fixtures that makes it. */
function typeRows(type: string, create: unknown, targets: ItemTarget[], writable = true): Row[] {
  const rows: Row[] = [
    { op: `GET /${type}`, target: "all", may: ADMIN },
    { op: `HEAD /${type}`, target: "all", may: ADMIN },
  ];
  if (writable) rows.push({ op: `POST /${type}`, target: "a new one", may: ADMIN, body: (f) => (typeof create === "function" ? create(f) : create) });
  for (const t of targets) {
    const params = (f: Fixtures) => ({ key: t.key(f) });
    const status = t.status ? { status: t.status } : {};
    rows.push({ op: `GET /${type}/{key}`, target: t.target, may: t.read, params, ...status });
    rows.push({ op: `HEAD /${type}/{key}`, target: t.target, may: t.read, params, ...status });
    if (writable && t.write.length > 0) {
      const put = t.put ?? withDescription;
      rows.push({ op: `PUT /${type}/{key}`, target: t.target, may: t.write, params, body: (f) => put(`/${type}/${t.key(f)}`, f) });
      rows.push({ op: `PATCH /${type}/{key}`, target: t.target, may: t.write, params, body: () => t.patch ?? DESCRIBE });
    }
  }
  for (const t of targets) {
    if (t.del.length === 0) continue;
    rows.push({ op: `DELETE /${type}/{key}`, target: t.target, may: t.del, params: (f) => ({ key: t.key(f) }), ...(t.delStatus ? { status: t.delStatus } : {}) });
  }
  return rows;
}

const fixture = (target: string, k: string): ItemTarget => ({ target, key: () => k, read: ADMIN, write: ADMIN, del: ADMIN });

/** The parameter routes of machines and profiles on one object. */
function paramRows(type: "machines" | "profiles", target: string, params: (f: Fixtures) => { key: string }, read: readonly Who[], write: readonly Who[], other: string): Row[] {
  const path = (f: Fixtures) => `/${type}/${params(f).key}/params`;
  return [
    { op: `GET /${type}/{key}/params`, target, may: read, params },
    { op: `GET /${type}/{key}/params`, target: `${target}, aggregate`, may: read, params, query: "aggregate=true" },
    { op: `GET /${type}/{key}/params/{name}`, target, may: read, params: (f) => ({ ...params(f), name: SEED.param }) },
    { op: `GET /${type}/{key}/params/{name}`, target: `${target}, aggregate`, may: read, params: (f) => ({ ...params(f), name: SEED.param }), query: "aggregate=true" },
    { op: `PUT /${type}/{key}/params`, target, may: write, params, body: async (f) => ({ ...(await f.current(path(f))), inventory: { CPUs: 2 } }) },
    { op: `PATCH /${type}/{key}/params`, target, may: write, params, body: () => [{ op: "add", path: "/inventory", value: { CPUs: 3 } }] },
    { op: `POST /${type}/{key}/params/{name}`, target, may: write, params: (f) => ({ ...params(f), name: "inventory" }), body: () => ({ CPUs: 5 }) },
    // A machine may delete its inventory (it is its to write); another param is the operator's.
    { op: `DELETE /${type}/{key}/params/{name}`, target: `${target}, inventory`, may: write, params: (f) => ({ ...params(f), name: "inventory" }) },
    { op: `DELETE /${type}/{key}/params/{name}`, target: `${target}, ${other}`, may: ADMIN, params: (f) => ({ ...params(f), name: other }) },
  ];
}

/** The job routes on one job (job-specific routes, routes-jobs.ts). */
function jobRows(target: string, job: (f: Fixtures) => string, may: readonly Who[]): Row[] {
  const params = (f: Fixtures) => ({ key: job(f) });
  const put405 = Object.fromEntries(may.map((w) => [w, 405])) as Partial<Record<Who, number>>;
  return [
    { op: "GET /jobs/{key}", target, may, params },
    { op: "HEAD /jobs/{key}", target, may, params },
    { op: "GET /jobs/{key}/actions", target, may, params },
    { op: "GET /jobs/{key}/actions", target: `${target}, list`, may, params, query: "format=list" },
    { op: "GET /jobs/{key}/actions/{index}", target, may, params: (f) => ({ key: job(f), index: "0" }) },
    { op: "GET /jobs/{key}/log", target, may, params },
    { op: "PUT /jobs/{key}/log", target, may, params, raw: "sweep log line\n" },
    { op: "PATCH /jobs/{key}", target, may, params, body: () => [{ op: "test", path: "/State", value: "created" }, { op: "replace", path: "/State", value: "running" }] },
    // Nobody replaces a job: who may see it gets 405, the others the refusal they always get.
    { op: "PUT /jobs/{key}", target, may, status: put405, params, body: () => ({ State: "finished" }) },
    // The admin may delete jobs, but not a machine's open job (its task would be skipped): 409.
    { op: "DELETE /jobs/{key}", target, may: ADMIN, status: Object.fromEntries(ADMIN.map((w) => [w, 409])) as Partial<Record<Who, number>>, params },
  ];
}

export const ROWS: Row[] = [
  // System routes.
  { op: "GET /info", target: "-", may: ALL },
  { op: "GET /openapi.json", target: "-", may: AUTHENTICATED },
  { op: "GET /swagger-ui", target: "-", may: AUTHENTICATED },
  { op: "GET /swagger-ui/{file}", target: "swagger-ui.css", may: AUTHENTICATED, params: () => ({ file: "swagger-ui.css" }) },
  { op: "GET /prefs", target: "-", may: ADMIN },
  { op: "POST /prefs", target: "unknownBootEnv as it is", may: ADMIN, body: () => ({ unknownBootEnv: "discovery" }) },
  { op: "GET /events", target: "-", may: ADMIN, kind: "sse" },
  { op: "GET /ws", target: "-", may: ADMIN, kind: "websocket", status: { admin: 101 } },
  { op: "POST /render", target: "a template", may: ADMIN, body: () => ({ Template: SEED.template }) },
  { op: "POST /render", target: "a template for A", may: ADMIN, body: (f) => ({ Machine: f.aUuid, Template: SEED.template }) },
  { op: "POST /render", target: "a template for B by Name", may: ADMIN, body: () => ({ Machine: `Name:${SEED.b.name}`, Template: SEED.template }) },

  // Registration. The refusal of a known MAC is the same for every caller, the operator included.
  { op: "POST /register", target: "A's MACs", may: MACHINE_A, status: { admin: 403 }, body: () => ({ HardwareAddrs: [SEED.a.mac], Inventory: { CPUs: 6 } }) },
  { op: "POST /register", target: "B's MACs", may: ADMIN, status: { admin: 403 }, body: () => ({ HardwareAddrs: [SEED.b.mac] }) },
  { op: "POST /register", target: "new MACs", may: ["registration", "admin"], body: () => ({ HardwareAddrs: [SEED.newMac] }) },

  // Users: tokens and passwords. A user may always fetch its own token (narrowed as it is) and
  // revoke its own tokens; a narrowed token may not set its password.
  { op: "GET /users/{key}/token", target: "narrow", may: ["narrow", "admin"], params: key("narrow") },
  { op: "GET /users/{key}/token", target: "admin", may: ADMIN, params: key("admin") },
  { op: "POST /users/{key}/password", target: "narrow", may: ADMIN, params: key("narrow"), body: () => ({ Password: NARROW_PASSWORD }), phase: "rotate" },
  { op: "POST /users/{key}/password", target: "admin", may: ADMIN, params: key("admin"), body: () => ({ Password: ADMIN_PASSWORD }), phase: "rotate" },
  { op: "POST /users/{key}/revoke", target: "narrow", may: ["narrow", "admin"], params: key("narrow"), phase: "rotate" },
  { op: "POST /users/{key}/revoke", target: "admin", may: ADMIN, params: key("admin"), phase: "rotate" },

  // Jobs: the scheduler, and each job's routes. Before boot-local (A's agent asks from discovery)
  // and before the machines' rows, whose deletes take their jobs.
  { op: "GET /jobs", target: "all", may: ADMIN },
  { op: "HEAD /jobs", target: "all", may: ADMIN },
  { op: "POST /jobs", target: "A's next", may: MACHINE_A, body: (f) => ({ Machine: f.aUuid, BootEnv: "discovery" }) },
  { op: "POST /jobs", target: "B's next", may: ADMIN, body: (f) => ({ Machine: f.bUuid, BootEnv: "local" }) },
  { op: "POST /jobs", target: "nobody's", may: ADMIN, status: { admin: 422 }, body: () => ({ Machine: SEED.nobodysUuid }) },
  ...jobRows("A's job", (f) => f.jobA, MACHINE_A),
  ...jobRows("B's job", (f) => f.jobB, ADMIN),
  { op: "GET /jobs/{key}", target: "nobody's job", may: ADMIN, status: { admin: 404 }, params: () => ({ key: SEED.nobodysUuid }) },
  { op: "HEAD /jobs/{key}", target: "nobody's job", may: ADMIN, status: { admin: 404 }, params: () => ({ key: SEED.nobodysUuid }) },
  { op: "GET /jobs/{key}/log", target: "nobody's job", may: ADMIN, status: { admin: 404 }, params: () => ({ key: SEED.nobodysUuid }) },

  // Machines: tokens, boot-local, revoke, parameters. A's plain token gets no token here: it would
  // be traded for the agent's only from A's own address, and the sweep asks from loopback, which
  // is not A's (test/agent/agent-install.test.ts covers the trade). Revoking is operators' only.
  { op: "GET /machines/{key}/token", target: "A", may: ADMIN, params: A },
  { op: "GET /machines/{key}/token", target: "B", may: ADMIN, params: B },
  { op: "GET /machines/{key}/token", target: "B by MAC", may: ADMIN, params: B_BY_MAC },
  { op: "POST /machines/{key}/boot-local", target: "A", may: MACHINE_A, params: A },
  { op: "POST /machines/{key}/boot-local", target: "B", may: ADMIN, params: B },
  { op: "POST /machines/{key}/boot-local", target: "B by MAC", may: ADMIN, params: B_BY_MAC },
  // The seeded environment names no OS.IsoUrl: the admin gets 422 (nothing fetched), everyone else
  // the refusal before anything is looked at.
  { op: "POST /bootenvs/{key}/fetch-iso", target: SEED.bootenv, may: ADMIN, status: { admin: 422 }, params: key(SEED.bootenv) },
  // Machine certificates (routes-pki.ts): a CSR is signed for the machine's agent token or its
  // certificate (machine-certs.test.ts), for operators with the token claim; A's plain token and
  // narrow's one claim get none. The CRL is public, like GET /info.
  { op: "POST /machines/{key}/csr", target: "A", may: ADMIN, params: A, raw: SWEEP_CSR, phase: "write" },
  { op: "POST /machines/{key}/csr", target: "B", may: ADMIN, params: B, raw: SWEEP_CSR, phase: "write" },
  { op: "POST /machines/{key}/csr", target: "B by MAC", may: ADMIN, params: B_BY_MAC, raw: SWEEP_CSR, phase: "write" },
  { op: "GET /machines/{key}/certs", target: "A", may: ADMIN, params: A },
  { op: "GET /machines/{key}/certs", target: "B", may: ADMIN, params: B },
  { op: "GET /machines/{key}/certs", target: "B by MAC", may: ADMIN, params: B_BY_MAC },
  { op: "GET /pki/crl", target: "-", may: ALL },
  // The boot timeline (routes-timeline.ts): claim timeline get (a machine's, or a MAC's) or list
  // (across MACs). Machine A's token holds machines claims only: not even its own timeline.
  { op: "GET /machines/{key}/timeline", target: "A", may: ADMIN, params: A },
  { op: "GET /machines/{key}/timeline", target: "B by MAC", may: ADMIN, params: B_BY_MAC },
  { op: "GET /timeline", target: "-", may: ADMIN },
  // The web UI's session (routes-ui.ts): login and logout are open (the form has no credentials
  // yet; a logout without the cookie only clears it), and whatever header a caller sends is not
  // what they look at. The session is a user's: a machine's token has none.
  // (A right password would hand anyone that user's session: the sweep sends a wrong one, which is
  // the one 401 whoever asks; test/ui-session.test.ts logs in.)
  { op: "POST /ui/login", target: "a wrong password", may: ALL, status: { none: 401, registration: 401, machine: 401, narrow: 401, admin: 401 }, body: () => ({ Name: "admin", Password: "not-the-password" }) },
  { op: "POST /ui/logout", target: "no cookie", may: ALL },
  { op: "GET /ui/session", target: "-", may: ["narrow", "admin"] },
  // The HA pair (routes-ha.ts): the sweep's Socle runs alone, so the admin gets the 404 that says
  // how to turn HA on; everyone else is refused before that (claims ha get/token/action).
  { op: "GET /ha", target: "-", may: ADMIN, status: { admin: 404 } },
  { op: "POST /ha/enrolment", target: "-", may: ADMIN, status: { admin: 404 } },
  { op: "POST /ha/takeover", target: "-", may: ADMIN, status: { admin: 404 } },
  { op: "POST /ha/step-down", target: "-", may: ADMIN, status: { admin: 404 } },
  { op: "POST /ha/partner-down", target: "-", may: ADMIN, status: { admin: 404 }, body: () => ({ Confirm: true }) },
  { op: "POST /machines/{key}/revoke", target: "A", may: ADMIN, params: A, phase: "rotate" },
  { op: "POST /machines/{key}/revoke", target: "B", may: ADMIN, params: B, phase: "rotate" },
  { op: "POST /machines/{key}/revoke", target: "B by MAC", may: ADMIN, params: B_BY_MAC, phase: "rotate" },
  ...paramRows("machines", "A", A, READ_A, MACHINE_A, SEED.param),
  ...paramRows("machines", "B", B, ADMIN, ADMIN, SEED.param),
  { op: "GET /machines/{key}/params", target: "B by MAC", may: ADMIN, params: B_BY_MAC },
  ...paramRows("profiles", SEED.profile, key(SEED.profile), ADMIN, ADMIN, SEED.param),

  // The generic routes, in an order whose deletes succeed for the admin (referrers first).
  ...typeRows("machines", { Name: "sweep-created", HardwareAddrs: [SEED.createdMac] }, [
    { target: "A", key: (f) => f.aUuid, read: READ_A, write: MACHINE_A, del: ADMIN, put: withInventory, patch: PATCH_INVENTORY(7) },
    { target: "B", key: (f) => f.bUuid, read: ADMIN, write: ADMIN, del: ADMIN, put: withInventory, patch: PATCH_INVENTORY(7) },
    { target: "B by Name", key: () => `Name:${SEED.b.name}`, read: ADMIN, write: [], del: [] },
    { target: "B by MAC", key: () => `HardwareAddrs:${SEED.b.mac}`, read: ADMIN, write: [], del: [] },
    { target: "nobody's Name", key: () => `Name:${SEED.nobodysName}`, read: ADMIN, write: [], del: [], status: { admin: 404 } },
    { target: "nobody's MAC", key: () => `HardwareAddrs:${SEED.nobodysMac}`, read: ADMIN, write: [], del: [], status: { admin: 404 } },
  ]),
  ...typeRows("profiles", { Name: "sweep-created" }, [fixture(SEED.profile, SEED.profile)]),
  ...typeRows("params", { Name: "sweep-created", Schema: { type: "string" } }, [fixture(SEED.param, SEED.param)]),
  ...typeRows("templates", { ID: "sweep-created", Contents: "created\n" }, [fixture(SEED.template, SEED.template)]),
  ...typeRows("bootenvs", { Name: "sweep-created" }, [fixture(SEED.bootenv, SEED.bootenv)]),
  ...typeRows("reservations", { Addr: "198.51.100.51", Token: SEED.createdReservationMac }, [fixture(SEED.reservation, SEED.reservation)]),
  ...typeRows("subnets", { Name: "sweep-created", Subnet: "203.0.113.0/24", ActiveStart: "203.0.113.100", ActiveEnd: "203.0.113.199" }, [fixture(SEED.subnet, SEED.subnet)]),
  // Leases are written by DHCP only; the API reads them, and an operator may delete one.
  ...typeRows("leases", undefined, [{ ...fixture(SEED.lease, SEED.lease), write: [] }], false),
  ...typeRows("users", { Name: "sweep-created", Password: "sweep-created-password" }, [
    fixture("narrow", "narrow"),
    { ...fixture("admin", "admin"), delStatus: { admin: 409 } },
  ]),
  ...typeRows("roles", { Name: "sweep-created", Claims: [] }, [fixture(NARROW_ROLE, NARROW_ROLE)]),
  // After the machines (which name the stage): workflows, then stages, then tasks.
  ...typeRows("workflows", { Name: "sweep-created" }, [fixture(SEED.workflow, SEED.workflow)]),
  ...typeRows("stages", { Name: "sweep-created" }, [fixture(SEED.stage, SEED.stage)]),
  ...typeRows("tasks", { Name: "sweep-created" }, [fixture(SEED.task, SEED.task)]),
  // Webhooks: the generic operations are the webhook routes' own (the PUT sends the Secret back as
  // shown, "(set)", which keeps it), then the Secret, the delivery log, a redelivery of the seeded
  // delivery and a ping, both to the loopback receiver.
  ...typeRows("webhooks", (f: Fixtures) => ({ Name: "sweep-created", Url: f.hookUrl, Events: ["tasks.create"], Secret: SEED.createdWebhookSecret }), [
    fixture(SEED.webhook, SEED.webhook),
    { target: "nobody's hook", key: () => SEED.nobodysWebhook, read: ADMIN, write: [], del: [], status: { admin: 404 } },
  ]),
  { op: "GET /webhooks/{key}/secret", target: SEED.webhook, may: ADMIN, params: key(SEED.webhook) },
  { op: "GET /webhooks/{key}/secret", target: "nobody's hook", may: ADMIN, status: { admin: 404 }, params: key(SEED.nobodysWebhook) },
  { op: "GET /webhooks/{key}/deliveries", target: SEED.webhook, may: ADMIN, params: key(SEED.webhook), query: "limit=10" },
  { op: "POST /webhooks/{key}/redeliver", target: SEED.webhook, may: ADMIN, status: { admin: 202 }, params: key(SEED.webhook), body: (f) => ({ Id: f.hookDelivery }) },
  { op: "POST /webhooks/{key}/ping", target: SEED.webhook, may: ADMIN, params: key(SEED.webhook) },
  { op: "POST /webhooks/{key}/ping", target: "nobody's hook", may: ADMIN, status: { admin: 404 }, params: key(SEED.nobodysWebhook) },

  // Operator files and ISOs.
  { op: "GET /files", target: "sweep/", may: ADMIN, query: "path=sweep" },
  { op: "GET /files/{path}", target: SEED.file, may: ADMIN, params: () => ({ path: SEED.file }) },
  { op: "PUT /files/{path}", target: "sweep/put.txt", may: ADMIN, params: () => ({ path: "sweep/put.txt" }), raw: "put by the access sweep\n" },
  { op: "POST /files/{path}", target: "sweep/posted.txt", may: ADMIN, params: () => ({ path: "sweep/posted.txt" }), raw: "posted by the access sweep\n" },
  { op: "DELETE /files/{path}", target: SEED.file, may: ADMIN, params: () => ({ path: SEED.file }) },
  { op: "GET /isos", target: "all", may: ADMIN },
  { op: "GET /isos/{name}", target: SEED.iso, may: ADMIN, params: () => ({ name: SEED.iso }) },
  { op: "PUT /isos/{name}", target: "put.iso", may: ADMIN, params: () => ({ name: "put.iso" }), raw: "put iso\n" },
  { op: "POST /isos/{name}", target: "posted.iso", may: ADMIN, params: () => ({ name: "posted.iso" }), raw: "posted iso\n" },
  { op: "DELETE /isos/{name}", target: SEED.iso, may: ADMIN, params: () => ({ name: SEED.iso }) },
];

/** The phase of a row: reads first, then writes, rotations, deletes. */
export function phaseOf(row: Row): Phase {
  if (row.phase) return row.phase;
  const method = row.op.split(" ")[0];
  if (method === "GET" || method === "HEAD") return "read";
  return method === "DELETE" ? "delete" : "write";
}
