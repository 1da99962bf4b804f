// The server side of the job protocol (its client is the agent, assets/agent/socle-agent):
//
//   POST   /jobs {Machine, BootEnv}  the scheduler (jobs/scheduler.ts): 201 a new job, 202 the same
//                                    open job, 204 nothing to run now, 409 not runnable, 422 no
//                                    such machine. Socle-* headers carry what a shell needs.
//   GET    /jobs/<id>                the job (users: the generic route, long-poll included)
//   PATCH  /jobs/<id>                JSON Patch of State and ExitState (jobs/job-state.ts)
//   PUT    /jobs/<id>                405: a job changes by PATCH only
//   DELETE /jobs/<id>                the job and its log
//   GET    /jobs/<id>/actions        [{Name, Path, Content}]: the task's templates rendered for the
//                                    job's machine; ?format=list for shells; /actions/<i> raw
//   GET|PUT /jobs/<id>/log           the log as text; PUT appends at Socle-Log-Offset (job-logs.ts)
//
// Who. A machine token (a job's token is one) reaches the jobs of its own machine and asks for its
// own machine's work only; every other job is "not found" to it, exactly as a missing one is. Its
// actions render with the machine's Secure params in clear, as the files rendered for its boot do:
// they are that machine's files, and go only to its own token. Users act by claims: jobs create
// (POST, and the machine must be one they may get), jobs get/update/delete on the job; actions
// need render, and get on the job's machine, as a render preview for that machine does (Secure
// values in clear with getSecure only). The job token goes to the machine itself, and to a user
// only with the claim to get that machine's token; others read TOKEN-WITHHELD. Registration
// tokens never get here (routes-register.ts).

import type { Context, Hono } from "hono";
import type { ApiDeps } from "./deps.ts";
import { type ApiEnv, may, principalOf, requireClaim } from "./access.ts";
import { DEFAULT_BODY_LIMIT, errorResponse, json, jsonWithEtag, readBytes, readJson } from "./http-util.ts";
import { WITHHELD_TOKEN } from "./routes-render.ts";
import { holds } from "./task-claims.ts";
import { SocleError, badRequest, conflict, invalid, notFound } from "../model/errors.ts";
import { fieldString, type ModelObject } from "../model/object.ts";
import type { Claim, Principal } from "../auth/claims.ts";
import { quote } from "../model/validate.ts";
import { resolveParams } from "../model/params.ts";
import type { TokenIssuer } from "../boot/core.ts";
import type { JobScheduler, NextAnswer } from "../jobs/scheduler.ts";
import { OPEN_JOB_STATES } from "../model/schemas/jobs.ts";
import { parseRange, type RangeAnswer } from "../http/range.ts";
import { type Action, actionLines, actionSpecs, assertRequiredParams, taskNameOf, type ActionSpec } from "../jobs/actions.ts";

const ASK_FIELDS = ["Machine", "BootEnv"] as const;
const TEXT = "text/plain; charset=utf-8";
const DEFAULT_LOG_MAX = 16 * 1024 * 1024;

const str = fieldString;

export function jobRoutes(app: Hono<ApiEnv>, deps: ApiDeps): void {
  const { objects } = deps;
  const scheduler = (): JobScheduler => {
    if (!deps.jobs) throw new SocleError("Unavailable", "jobs", "", "the job scheduler is not running");
    return deps.jobs;
  };

  /** The job `ref` names, for a caller that may see it; "not found" otherwise, as a missing one. */
  const visibleJob = (c: Context<ApiEnv>, ref: string): ModelObject => {
    const p = principalOf(c);
    // A machine token names jobs by Uuid only: an index lookup could tell it about other machines' jobs.
    const job = p.kind === "machine" ? objects.latest("jobs", ref) : objects.find("jobs", ref);
    if (!job || !(ownJob(p, job) || may(p, "jobs", "get", String(job.Uuid)))) throw notFound("jobs", ref);
    return job;
  };

  /** The caller may write job `job` (`action`): its machine's token (not delete), or by claim. */
  const requireJobWrite = (c: Context<ApiEnv>, job: ModelObject, action: "update" | "delete"): Principal => {
    const p = principalOf(c);
    if (!ownJob(p, job) || may(p, "jobs", action, String(job.Uuid))) return requireClaim(c, "jobs", action, String(job.Uuid));
    if (action === "delete") throw new SocleError("Forbidden", "jobs", String(job.Uuid), `machine "${p.name}" may not delete jobs; an operator does`);
    return p;
  };

  /**
   * The token of job `job` for caller `p`, while the job is open: the machine itself, or a user who
   * may get the machine's token and holds every claim the task adds (a job token is no way around
   * one's own claims). An ended job's token is withheld: a machine cannot mint fresh tokens from
   * its history.
   */
  const jobToken = (p: Principal, job: ModelObject, ttl = deps.prefs.tokenTtl("knownTokenTimeout")): string => {
    const uuid = str(job.Machine);
    const machine = objects.latest("machines", uuid);
    if (!machine || !OPEN_JOB_STATES.has(str(job.State))) return WITHHELD_TOKEN;
    const name = taskNameOf(job);
    const task = name === undefined ? undefined : objects.latest("tasks", name);
    const extra = Array.isArray(task?.ExtraClaims) ? (task.ExtraClaims as Claim[]) : [];
    const mayHave = ownJob(p, job) || (may(p, "machines", "token", uuid) && extra.every((claim) => holds(p, claim)));
    return mayHave ? deps.authn.tokenForJob(machine, extra, ttl).token : WITHHELD_TOKEN;
  };

  const machineHeaders = (m: ModelObject): Record<string, string> => ({
    "Socle-Machine-BootEnv": scheduler().envOf(m),
    "Socle-Workflow-Complete": String(m.WorkflowComplete === true),
    "Socle-Machine-Runnable": String(m.Runnable === true),
  });

  app.post("/api/v3/jobs", async (c) => {
    const p = principalOf(c);
    const ask = parseAsk(await readJson(c, { model: "jobs", limit: 64 * 1024 }));
    let uuid: string;
    if (p.kind === "machine" && (ask.Machine === p.machine || !may(p, "jobs", "create", "*"))) {
      // Decided before any lookup, so the answer says nothing about the machine named.
      if (ask.Machine !== p.machine) throw new SocleError("Forbidden", "jobs", "", `machine "${p.name}" asks for its own work only, not for machine ${quote(ask.Machine)}`);
      uuid = ask.Machine;
    } else {
      requireClaim(c, "jobs", "create");
      const m = objects.find("machines", ask.Machine);
      if (!m || !may(p, "machines", "get", String(m.Uuid))) throw invalid("jobs", "", `Machine: machine ${quote(ask.Machine)} does not exist`);
      uuid = String(m.Uuid);
      // Asking moves the machine (its Stage, BootEnv, Runnable): as any other write of it.
      requireClaim(c, "machines", "update", uuid);
    }
    const answer: NextAnswer = await scheduler().next(uuid, ask.BootEnv);
    const headers = machineHeaders(answer.machine);
    if (!("job" in answer)) {
      if (answer.status === 204) return new Response(null, { status: 204, headers });
      return withHeaders(errorResponse(conflict("machines", uuid, answer.reason)), headers);
    }
    const job = answer.job;
    const id = String(job.Uuid);
    return json(job, answer.status, {
      ...headers,
      "Socle-Job": id,
      "Socle-Job-State": str(job.State),
      "Socle-Job-Token": jobToken(p, job),
      ...(answer.status === 201 ? { Location: `/api/v3/jobs/${id}` } : {}),
    });
  });

  // Users read jobs through the generic route (objectRoutes: claims, ETag, long-poll); a machine
  // token, which holds no jobs claim, reads its own machine's jobs here.
  const getJob = async (c: Context<ApiEnv>, next: () => Promise<void>) => {
    if (principalOf(c).kind !== "machine") return next();
    return jsonWithEtag(c, visibleJob(c, c.req.param("key")!));
  };
  app.get("/api/v3/jobs/:key", getJob);
  app.on("HEAD", "/api/v3/jobs/:key", getJob);

  app.patch("/api/v3/jobs/:key", async (c) => {
    const job = visibleJob(c, c.req.param("key"));
    const uuid = String(job.Uuid);
    requireJobWrite(c, job, "update");
    const ops = await readJson(c, { model: "jobs", key: uuid, limit: 64 * 1024, types: ["application/json-patch+json"] });
    if (!Array.isArray(ops)) throw invalid("jobs", uuid, "PATCH body must be a JSON Patch (RFC 6902) array of operations");
    return json(await scheduler().change(uuid, ops));
  });

  app.put("/api/v3/jobs/:key", (c) => {
    const job = visibleJob(c, c.req.param("key"));
    const err = new SocleError("MethodNotAllowed", "jobs", String(job.Uuid), "a job is not replaced: PATCH its State and ExitState (JSON Patch); the scheduler sets everything else");
    return withHeaders(errorResponse(err), { Allow: "GET, HEAD, PATCH, DELETE" });
  });

  app.delete("/api/v3/jobs/:key", async (c) => {
    const job = visibleJob(c, c.req.param("key"));
    requireJobWrite(c, job, "delete");
    return json(await scheduler().remove(String(job.Uuid)));
  });

  // ---- actions -----------------------------------------------------------------------------------

  /** The task of job `job` checked for rendering for its machine: its specs, or [] for a stage:/bootenv: step. */
  const actionsOf = (c: Context<ApiEnv>, job: ModelObject) => {
    const p = principalOf(c);
    const uuid = String(job.Uuid);
    if (!ownJob(p, job)) {
      requireClaim(c, "render", "render");
      if (!may(p, "machines", "get", str(job.Machine))) {
        throw new SocleError("Forbidden", "jobs", uuid, `${p.kind} "${p.name}" may not render job ${quote(uuid)}'s actions: that needs the claim to get its machine`);
      }
    }
    const name = taskNameOf(job);
    if (name === undefined) return { specs: [] as ActionSpec[] };
    const task = objects.latest("tasks", name);
    if (!task) throw invalid("jobs", uuid, `Task: task ${quote(name)} does not exist`);
    const machine = objects.latest("machines", str(job.Machine));
    if (!machine) throw invalid("jobs", uuid, `Machine: machine ${quote(str(job.Machine))} does not exist`);
    assertRequiredParams(task, machine, resolvedNames(machine));
    return { specs: actionSpecs(task), task, machine };
  };

  const resolvedNames = (machine: ModelObject): Set<string> =>
    new Set(
      resolveParams({
        machine,
        getProfile: (n) => deps.store.get("profiles", n),
        getStage: (n) => deps.store.get("stages", n),
        getParam: (n) => deps.store.get("params", n),
        global: deps.store.get("profiles", "global"),
        params: deps.store.list("params"),
      }).keys(),
    );

  /** Render action `i` of job `job` for its machine. */
  const render = async (c: Context<ApiEnv>, job: ModelObject, task: ModelObject, machine: ModelObject, spec: ActionSpec, i: number): Promise<string> => {
    const boot = deps.boot;
    if (!boot) throw new SocleError("Unavailable", "jobs", String(job.Uuid), "actions cannot be rendered: the boot core is not running");
    const p = principalOf(c);
    const tokens: TokenIssuer = {
      machine: (uuid, ttl) => (uuid === str(job.Machine) ? jobToken(p, job, ttl) : WITHHELD_TOKEN),
      registration: () => WITHHELD_TOKEN,
    };
    try {
      const r = await boot.preview({
        machine,
        env: str(job.BootEnv) || undefined,
        ...(spec.ID !== undefined ? { template: spec.ID } : { contents: spec.Contents ?? "" }),
        serverAddress: new URL(c.req.url).hostname.replace(/^\[(.*)\]$/, "$1"),
        tokens,
        // The machine's own files: its Secure values in clear, as in the files rendered for its boot.
        ...(ownJob(p, job) ? {} : { reveal: (owner) => may(p, owner.type, "getSecure", owner.key) }),
      });
      return r.Output;
    } catch (err) {
      if (!(err instanceof SocleError)) throw err;
      const where = `task ${quote(str(task.Name))} action [${i}] ${quote(spec.Name)}`;
      throw new SocleError(err.type, "jobs", String(job.Uuid), err.messages.map((m) => `${where}: ${m}`));
    }
  };

  app.get("/api/v3/jobs/:key/actions", async (c) => {
    const job = visibleJob(c, c.req.param("key"));
    const format = c.req.query("format") ?? "json";
    if (format !== "json" && format !== "list") throw badRequest("jobs", String(job.Uuid), `format: ${quote(format)} is not "json" or "list"`);
    const { specs, task, machine } = actionsOf(c, job);
    if (format === "list") return new Response(actionLines(specs), { headers: { "Content-Type": TEXT, "Cache-Control": "no-cache" } });
    const out: Action[] = [];
    for (const [i, spec] of specs.entries()) out.push({ Name: spec.Name, Path: spec.Path, Content: await render(c, job, task!, machine!, spec, i) });
    return json(out);
  });

  app.get("/api/v3/jobs/:key/actions/:index", async (c) => {
    const job = visibleJob(c, c.req.param("key"));
    const uuid = String(job.Uuid);
    const raw = c.req.param("index");
    if (!/^\d{1,6}$/.test(raw)) throw badRequest("jobs", uuid, `action index ${quote(raw)} is not a whole number`);
    const { specs, task, machine } = actionsOf(c, job);
    const i = Number(raw);
    const spec = specs[i];
    if (!spec) throw new SocleError("NotFound", "jobs", uuid, `job ${quote(uuid)} has ${specs.length} action(s); there is no action ${i}`);
    const content = await render(c, job, task!, machine!, spec, i);
    return new Response(content, { headers: { "Content-Type": "application/octet-stream", "Cache-Control": "no-cache" } });
  });

  // ---- log -------------------------------------------------------------------------------------

  app.get("/api/v3/jobs/:key/log", async (c) => {
    const job = visibleJob(c, c.req.param("key"));
    const uuid = String(job.Uuid);
    if (job.Archived === true) throw new SocleError("NotFound", "jobs", uuid, `the log of job ${quote(uuid)} was removed by retention (pref jobLogRetention)`);
    // HEAD is the length alone (an agent resuming asks for it); Range gives what a follower lacks.
    const head = c.req.method === "HEAD";
    let range: RangeAnswer = { kind: "full" };
    const { bytes, length } = await scheduler().logs.slice(uuid, (size) => {
      range = parseRange(c.req.header("range"), size);
      if (head || range.kind === "unsatisfiable") return undefined;
      return range.kind === "partial" ? { start: range.start, end: range.end } : { start: 0 };
    });
    const headers: Record<string, string> = { "Content-Type": TEXT, "Socle-Log-Length": String(length), "Accept-Ranges": "bytes", "Cache-Control": "no-cache" };
    const r = range as RangeAnswer;
    if (r.kind === "unsatisfiable") return new Response(null, { status: 416, headers: { ...headers, "Content-Range": `bytes */${length}` } });
    if (r.kind === "partial") return new Response(head ? null : bytes, { status: 206, headers: { ...headers, "Content-Range": `bytes ${r.start}-${r.end - 1}/${length}` } });
    return new Response(head ? null : bytes, { headers });
  });

  app.put("/api/v3/jobs/:key/log", async (c) => {
    const job = visibleJob(c, c.req.param("key"));
    const uuid = String(job.Uuid);
    requireJobWrite(c, job, "update");
    if (job.Archived === true) throw conflict("jobs", uuid, `the log of job ${quote(uuid)} was removed by retention; nothing is appended to it`);
    const offsetHeader = c.req.header("socle-log-offset");
    if (offsetHeader !== undefined && !/^\d{1,15}$/.test(offsetHeader.trim())) {
      throw badRequest("jobs", uuid, `Socle-Log-Offset: ${quote(offsetHeader)} is not a byte offset (a whole number)`);
    }
    const offset = offsetHeader === undefined ? undefined : Number(offsetHeader.trim());
    const limit = deps.bodyLimit ?? DEFAULT_BODY_LIMIT;
    const chunk = await readBytes(c, limit, () => new SocleError("PayloadTooLarge", "jobs", uuid, `request body exceeds ${limit} bytes; send the log in smaller chunks`));
    const max = Number(deps.prefs.value("jobLogMaxBytes")) || DEFAULT_LOG_MAX;
    const r = await scheduler().logs.append(uuid, offset, chunk, max);
    const headers = { "Socle-Log-Length": String(r.length) };
    if (r.kind === "ok") return json({ Job: uuid, Length: r.length }, 200, headers);
    if (r.kind === "gap") return withHeaders(errorResponse(conflict("jobs", uuid, `Socle-Log-Offset: ${offset} is beyond the ${r.length} bytes held; send from ${r.length}`)), headers);
    const full = new SocleError("PayloadTooLarge", "jobs", uuid, `the log of job ${quote(uuid)} is at its limit of ${max} bytes (pref jobLogMaxBytes): later output is dropped`);
    return withHeaders(errorResponse(full), headers);
  });
}

/**
 * Whether `p` is the token of job `job`'s own machine (a job's token is one). Such a token needs no
 * claim on its machine's jobs; its claims (a task's ExtraClaims) count for other jobs as a user's do.
 */
function ownJob(p: Principal, job: ModelObject): boolean {
  return p.kind === "machine" && p.machine !== undefined && job.Machine === p.machine;
}

function withHeaders(res: Response, headers: Record<string, string>): Response {
  for (const [k, v] of Object.entries(headers)) res.headers.set(k, v);
  return res;
}

/** The body of POST /jobs: {Machine, BootEnv?}; 422 naming each problem. */
function parseAsk(body: unknown): { Machine: string; BootEnv: string } {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw invalid("jobs", "", `expected a JSON object with ${ASK_FIELDS.join(", ")}, got ${quote(body)}`);
  const o = body as Record<string, unknown>;
  const problems: string[] = [];
  for (const k of Object.keys(o)) if (!(ASK_FIELDS as readonly string[]).includes(k)) problems.push(`${k}: unknown field; valid fields: ${ASK_FIELDS.join(", ")}`);
  if (typeof o.Machine !== "string" || o.Machine === "") problems.push(`Machine: expected the machine's Uuid, got ${quote(o.Machine)}`);
  if (o.BootEnv !== undefined && typeof o.BootEnv !== "string") problems.push(`BootEnv: expected the name of the boot environment the agent runs in, got ${quote(o.BootEnv)}`);
  if (problems.length > 0) throw invalid("jobs", "", problems);
  return { Machine: o.Machine as string, BootEnv: (o.BootEnv as string | undefined) ?? "" };
}
