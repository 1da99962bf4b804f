// The HA pair's operator routes. The pair itself lives in src/ha; the API sees it only through
// HaControl, which the composition root implements, so nothing here can change how the pair
// behaves. Without a HaControl (no --ha-vip, no ha/pair.json) the node runs alone and every route
// answers 404 saying how to turn HA on.
//
// - GET  /api/v3/ha             the node's status (claim ha get)
// - POST /api/v3/ha/enrolment   a one-time secret for the second node (claim ha token: it mints a
//                               credential, as users/<n>/token does); answered with no-store
// - POST /api/v3/ha/takeover    planned switchover to this node (claim ha action, Specific the op)
// - POST /api/v3/ha/step-down   this node hands the active role to its partner
// - POST /api/v3/ha/partner-down  the operator vouches that the partner is down: after MCLT this
//                               node may hand out the partner's half of every pool. Two nodes cannot
//                               tell "partner dead" from "link cut" by themselves, so a wrong
//                               confirmation can give one address to two clients; hence the body
//                               {"Confirm": true}, refused without it.
// The operator routes answer 202 with the status as it is now: the role machine applies a request
// at its next tick, so the status shows the change a moment later (GET /api/v3/ha).

import type { Context, Hono } from "hono";
import { z } from "zod";
import { type ApiEnv, requireClaim } from "./access.ts";
import { json, readBytes } from "./http-util.ts";
import { SocleError, badRequest, invalid } from "../model/errors.ts";
import { formatIssues } from "../model/define.ts";

export type HaOperatorRequest = "takeover" | "step-down" | "partner-down";

export const HA_OPERATOR_REQUESTS: readonly HaOperatorRequest[] = ["takeover", "step-down", "partner-down"];

export interface HaEnrolment {
  /** One-time secret for `socle ha join` (stdin or SOCLE_HA_ENROL_SECRET). */
  Secret: string;
  /** ISO 8601. */
  ExpiresAt: string;
  /** "sha256//<base64>": the pair CA the joiner checks before it sends the secret. */
  CaPin: string;
  Vip: string;
  /** This node's name in the pair. */
  Node: string;
  /** Where the joiner dials this node's HA listener. */
  Address: string;
  Port: number;
}

/** What the API needs from the HA pair; src/main.ts implements it over src/ha. */
export interface HaControl {
  /** The node's status (src/ha/controller.ts HaStatus: Node, Slot, State, Term, Reason, Vip, HoldsVip, Seq, SharedSeq, Peer, LagSeq, LagBytes, FilesPendingBytes, UnackedClients, SyncTimeouts, FailoverSafe, Why, Transitions). */
  status(): Record<string, unknown>;
  /** A one-time enrolment secret for the second node; SocleError Conflict when the node is already paired. */
  enrol(): HaEnrolment;
  /** Operator requests, applied at the role machine's next tick (~100 ms). */
  request(op: HaOperatorRequest): void;
}

/** Where the second node keeps its data when it runs the installed executable (config/runtime.ts). */
const JOIN_DATA_DIR = "/var/lib/socle";

const BODY_LIMIT = 4096;

const HA_OFF = [
  "HA is off on this node: it runs as a single node (no --ha-vip, no enrolled pair in its data dir)",
  "turn it on by restarting the server with socle serve --ha-vip <addr/len> (e.g. --ha-vip 198.51.100.10/24, the address clients and agents will use), then enrol the second node with socle ha enrol",
];

const WHY_CONFIRM =
  'partner-down: send {"Confirm": true} only when the partner is really down (powered off, or its Socle stopped): after MCLT this node hands out addresses from the partner\'s half of every pool too, and if the partner is still answering clients somewhere, two clients can get the same address';

/** A body a route accepts, and the sentence that follows its field errors. */
interface BodyRule {
  schema: z.ZodType;
  fields?: string[];
  hint: string;
}

/** The bodies the routes accept: nothing (or {}), and partner-down's confirmation. */
const noFields = (key: string): BodyRule => ({ schema: z.strictObject({}), hint: `${key} takes no fields: send no body, or {}` });
const PARTNER_DOWN: BodyRule = {
  schema: z.strictObject({ Confirm: z.boolean().refine((v) => v, { message: "must be true" }) }),
  fields: ["Confirm"],
  hint: WHY_CONFIRM,
};

export function haRoutes(app: Hono<ApiEnv>, deps: { ha?: HaControl }): void {
  /** The pair, for a caller that holds the claim; 404 when this node runs alone. */
  const pair = (): HaControl => {
    if (!deps.ha) throw new SocleError("NotFound", "ha", "", HA_OFF);
    return deps.ha;
  };

  app.get("/api/v3/ha", (c) => {
    requireClaim(c, "ha", "get");
    return json(pair().status());
  });

  app.post("/api/v3/ha/enrolment", async (c) => {
    requireClaim(c, "ha", "token");
    const ha = pair();
    await body(c, "enrolment", noFields("enrolment"));
    const e = ha.enrol();
    const join = ["socle", "ha", "join", e.Address, "--port", String(e.Port), "--ca-pin", e.CaPin, "--data-dir", JOIN_DATA_DIR].map(shellWord).join(" ");
    const note =
      "run it on the second node with its server stopped and its data dir empty or absent; it reads the secret from standard input (first line) or SOCLE_HA_ENROL_SECRET, never from the command line, where other users and the shell history would see it";
    // The secret is shown this once: no cache, no proxy, may keep it.
    return json({ ...e, Join: join, JoinNote: note }, 201, { "Cache-Control": "no-store" });
  });

  for (const op of HA_OPERATOR_REQUESTS) {
    app.post(`/api/v3/ha/${op}`, async (c) => {
      requireClaim(c, "ha", "action", op);
      const ha = pair();
      await body(c, op, op === "partner-down" ? PARTNER_DOWN : noFields(op));
      ha.request(op);
      return json(ha.status(), 202);
    });
  }
}

/**
 * The request's body checked against `rule`. An empty body is `{}` (so a bare POST works for the
 * routes that take nothing); anything else must be JSON. 415 for another media type, 400 for JSON
 * that does not parse, 422 naming each field that is wrong or unknown, then the rule's hint.
 */
async function body(c: Context<ApiEnv>, key: string, rule: BodyRule): Promise<unknown> {
  const bytes = await readBytes(c, BODY_LIMIT, () => new SocleError("PayloadTooLarge", "ha", key, `request body exceeds ${BODY_LIMIT} bytes`));
  const text = new TextDecoder().decode(bytes);
  let value: unknown = {};
  if (text.trim() !== "") {
    const type = (c.req.header("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
    if (type !== "application/json") {
      throw new SocleError("UnsupportedMediaType", "ha", key, `Content-Type "${type || "(none)"}" is not supported; send application/json`);
    }
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw badRequest("ha", key, `invalid JSON body: ${(err as Error).message}`);
    }
  }
  const parsed = rule.schema.safeParse(value, { reportInput: true });
  if (parsed.success) return parsed.data;
  throw invalid("ha", key, [...formatIssues(parsed.error.issues, rule.fields), rule.hint]);
}

/** A word of a shell command line, quoted only when it needs it. */
function shellWord(s: string): string {
  return /^[A-Za-z0-9_./:=+@%,-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`;
}

/**
 * GET /api/v3/info of a node running HA: "ha" among the Features and `Ha: {State, Vip}`, so
 * clients and the UI can tell a pair member (and which role it has now) without credentials.
 */
export function infoWithHa(info: () => Record<string, unknown>, ha: HaControl | undefined): () => Record<string, unknown> {
  if (!ha) return info;
  return () => {
    const base = info();
    const features = Array.isArray(base.Features) ? [...base.Features, "ha"] : base.Features;
    const s = ha.status();
    return { ...base, ...(features !== undefined ? { Features: features } : {}), Ha: { State: s.State, Vip: s.Vip } };
  };
}
