// The OpenAPI 3.1 description of the REST API, generated from the same zod schemas that
// validate requests, so the document cannot drift from what the server accepts.

import { z } from "zod";
import type { ModelDef } from "./model-def.ts";
import { MODELS } from "./registry.ts";
import { OPS } from "./query.ts";
import { PREFS } from "./prefs.ts";

/** Component name of each type's schema. */
export const SCHEMA_NAMES: Record<string, string> = {
  machines: "Machine",
  bootenvs: "BootEnv",
  templates: "Template",
  params: "Param",
  profiles: "Profile",
  subnets: "Subnet",
  reservations: "Reservation",
  leases: "Lease",
  users: "User",
  roles: "Role",
  tasks: "Task",
  stages: "Stage",
  workflows: "Workflow",
  jobs: "Job",
  webhooks: "Webhook",
};

type Json = Record<string, unknown>;

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const jsonBody = (schema: unknown, description: string) => ({ description, content: { "application/json": { schema } } });
const errorResponse = (description: string) => jsonBody(ref("Error"), description);

const ERRORS: Json = {
  "400": errorResponse("Bad request (malformed JSON, bad filter, malformed patch)"),
  "401": errorResponse("Authentication required"),
  "403": errorResponse("Not allowed by the caller's roles"),
};

function schemaOf(def: ModelDef): Json {
  const s = z.toJSONSchema(def.schema, { target: "draft-2020-12", io: "input", unrepresentable: "any" }) as Json;
  delete s.$schema;
  const props = s.properties as Record<string, Json> | undefined;
  if (props) for (const f of def.secretFields) if (props[f]) props[f] = { ...props[f], writeOnly: true };
  // Generated fields (machine Uuid, secrets) are optional on input though required when stored.
  if (Array.isArray(s.required)) s.required = s.required.filter((f) => f !== "Uuid" && f !== "Secret");
  return s;
}

function listParameters(def: ModelDef): Json[] {
  const filterDoc = `Filter: value, or Op(value) with Op one of ${OPS.join(", ")} (In/Nin/Between take comma-separated values)`;
  return [
    { name: "sort", in: "query", schema: { type: "array", items: { type: "string", enum: Object.keys(def.indexes) } }, style: "form", explode: true, description: "Sort by these indexes in order" },
    { name: "reverse", in: "query", schema: { type: "boolean" }, description: "Reverse the order" },
    { name: "limit", in: "query", schema: { type: "integer", minimum: 0 }, description: "At most this many objects" },
    { name: "offset", in: "query", schema: { type: "integer", minimum: 0 }, description: "Skip this many matching objects" },
    { name: "slim", in: "query", schema: { type: "string" }, description: "Comma-separated fields to leave out (Params, Meta)" },
    { name: "params", in: "query", schema: { type: "string" }, description: "Comma-separated parameters to include" },
    { name: "aggregate", in: "query", schema: { type: "boolean" }, description: "Include resolved parameters from profiles and defaults" },
    ...Object.entries(def.indexes).map(([field, idx]) => ({
      name: field,
      in: "query",
      schema: { type: "string" },
      description: `${filterDoc}. Compared as ${idx.kind === "list" ? `list of ${idx.element ?? "string"}` : idx.kind}.`,
    })),
  ];
}

function typePaths(def: ModelDef): Record<string, Json> {
  const name = SCHEMA_NAMES[def.prefix] ?? def.prefix;
  const tag = [def.prefix];
  const obj = ref(name);
  const keyParam = {
    name: "key",
    in: "path",
    required: true,
    schema: { type: "string" },
    description: `The ${def.key}, or Index:value with an index of ${def.prefix} (${Object.keys(def.indexes).filter((i) => def.indexes[i]?.unique).join(", ")})`,
  };
  const countHeaders = {
    "X-Socle-Total": { schema: { type: "integer" }, description: "Objects matching the filters" },
    "X-Socle-Count": { schema: { type: "integer" }, description: "Objects in this page" },
  };
  const collection: Json = {
    get: {
      tags: tag,
      operationId: `list${name}s`,
      summary: `List ${def.prefix}`,
      parameters: listParameters(def),
      responses: { "200": { ...jsonBody({ type: "array", items: obj }, `The matching ${def.prefix}`), headers: countHeaders }, ...ERRORS },
    },
    head: {
      tags: tag,
      operationId: `count${name}s`,
      summary: `Count ${def.prefix}`,
      parameters: listParameters(def),
      responses: { "200": { description: "Counts in headers", headers: countHeaders }, ...ERRORS },
    },
  };
  const item: Json = {
    parameters: [keyParam],
    get: { tags: tag, operationId: `get${name}`, summary: `Get one of ${def.prefix}`, responses: { "200": jsonBody(obj, name), ...ERRORS, "404": errorResponse("Not found") } },
    head: { tags: tag, operationId: `exists${name}`, summary: "Whether it exists", responses: { "200": { description: "Exists" }, "404": { description: "Not found" } } },
  };
  if (def.writable) {
    collection.post = {
      tags: tag,
      operationId: `create${name}`,
      summary: `Create one of ${def.prefix}`,
      requestBody: { required: true, ...jsonBody(obj, name) },
      responses: { "201": jsonBody(obj, "Created"), ...ERRORS, "409": errorResponse("Already exists or a unique index is taken"), "422": errorResponse("Invalid object") },
    };
    item.put = {
      tags: tag,
      operationId: `put${name}`,
      summary: "Replace",
      requestBody: { required: true, ...jsonBody(obj, name) },
      responses: { "200": jsonBody(obj, "Replaced"), ...ERRORS, "404": errorResponse("Not found"), "409": errorResponse("Read-only or a unique index is taken"), "422": errorResponse("Invalid object") },
    };
    item.patch = {
      tags: tag,
      operationId: `patch${name}`,
      summary: "Change with an RFC 6902 JSON Patch",
      requestBody: { required: true, content: { "application/json-patch+json": { schema: ref("JsonPatch") }, "application/json": { schema: ref("JsonPatch") } } },
      responses: { "200": jsonBody(obj, "Patched"), ...ERRORS, "404": errorResponse("Not found"), "409": errorResponse("A test operation failed or a path does not exist"), "422": errorResponse("The patched object is invalid") },
    };
    item.delete = {
      tags: tag,
      operationId: `delete${name}`,
      summary: "Delete",
      responses: { "200": jsonBody(obj, "The deleted object"), ...ERRORS, "404": errorResponse("Not found"), "409": errorResponse("Read-only or still referenced") },
    };
  }
  return { [`/${def.prefix}`]: collection, [`/${def.prefix}/{key}`]: item };
}

function keyParam(description: string): Json {
  return { name: "key", in: "path", required: true, schema: { type: "string" }, description };
}

function paramsPaths(prefix: "machines" | "profiles", keyName: string): Record<string, Json> {
  const params = {
    type: "object",
    additionalProperties: true,
    description: "Parameter values by name",
  };
  const aggregate = { name: "aggregate", in: "query", schema: { type: "boolean" }, description: "Resolve through profiles, global and defaults" };
  const sources = { name: "sources", in: "query", schema: { type: "boolean" }, description: "With aggregate=true: each value as { Value, Source }, Source the layer it comes from (machine, profile:<name>, stage:<name>, global, default)" };
  return {
    [`/${prefix}/{${keyName}}/params`]: {
      parameters: [{ name: keyName, in: "path", required: true, schema: { type: "string" }, description: `Key or Index:value of the ${prefix.slice(0, -1)}` }],
      get: { tags: [prefix], operationId: `get${SCHEMA_NAMES[prefix]}Params`, summary: "Parameters of the object", parameters: [aggregate, sources], responses: { "200": jsonBody(params, "Parameters"), ...ERRORS, "404": errorResponse("Not found") } },
      put: { tags: [prefix], operationId: `put${SCHEMA_NAMES[prefix]}Params`, summary: "Replace the object's Params", requestBody: { required: true, ...jsonBody(params, "Parameters") }, responses: { "200": jsonBody(params, "Parameters"), ...ERRORS, "404": errorResponse("Not found"), "422": errorResponse("A value does not satisfy its Param schema") } },
      patch: { tags: [prefix], operationId: `patch${SCHEMA_NAMES[prefix]}Params`, summary: "Change the object's Params with a JSON Patch", requestBody: { required: true, content: { "application/json-patch+json": { schema: ref("JsonPatch") } } }, responses: { "200": jsonBody(params, "Parameters"), ...ERRORS, "409": errorResponse("Patch failed") } },
    },
  };
}

const header = (description: string, type = "string") => ({ schema: { type }, description });
const MACHINE_HEADERS: Json = {
  "Socle-Machine-BootEnv": header("The boot environment the machine boots: an agent that runs in another reboots"),
  "Socle-Workflow-Complete": header("true when the machine's workflow has nothing left to run"),
  "Socle-Machine-Runnable": header("false while the machine waits (a failed job, a boot environment change)"),
};
const JOB_HEADERS: Json = {
  ...MACHINE_HEADERS,
  "Socle-Job": header("The job's Uuid"),
  "Socle-Job-State": header("The job's State as handed out (the agent's json-patch test op names it)"),
  "Socle-Job-Token": header("Token for the job: the machine's token plus the task's ExtraClaims (TOKEN-WITHHELD for a user without the claim to get the machine's token)"),
};
const LOG_LENGTH = { "Socle-Log-Length": header("Bytes of the log the server holds", "integer") };

/**
 * The job protocol's own routes (src/api/routes-jobs.ts), over the generic ones of jobs: the
 * scheduler owns POST /jobs, and a job is changed by PATCH of State and ExitState only, never PUT.
 */
function jobPaths(generic: Record<string, Json>): Record<string, Json> {
  const job = ref("Job");
  const jobKey = keyParam("Job Uuid");
  const { put: _put, ...item } = generic["/jobs/{key}"] ?? {};
  return {
    "/jobs": {
      ...generic["/jobs"],
      post: {
        tags: ["jobs"],
        operationId: "nextJob",
        summary: "The scheduler: the machine's next job (a machine's own token, or a user with jobs create)",
        requestBody: {
          required: true,
          ...jsonBody({ type: "object", required: ["Machine"], properties: { Machine: { type: "string", description: "Machine Uuid" }, BootEnv: { type: "string", description: "The boot environment the agent runs in" } }, additionalProperties: false }, "Who asks"),
        },
        responses: {
          "201": { ...jsonBody(job, "A new job"), headers: JOB_HEADERS },
          "202": { ...jsonBody(job, "The same open job as before (resume it)"), headers: JOB_HEADERS },
          "204": { description: "Nothing to run now (complete, or reboot into Socle-Machine-BootEnv)", headers: MACHINE_HEADERS },
          ...ERRORS,
          "409": { ...errorResponse("The machine is not runnable (a failed job waits for an operator)"), headers: MACHINE_HEADERS },
          "422": errorResponse("No such machine"),
        },
      },
    },
    "/jobs/{key}": {
      ...item,
      patch: {
        tags: ["jobs"],
        operationId: "patchJob",
        summary: "Move State (created -> running -> finished | failed | incomplete; incomplete -> running) and set ExitState, by RFC 6902 JSON Patch; a failed job stops its machine",
        requestBody: { required: true, content: { "application/json-patch+json": { schema: ref("JsonPatch") }, "application/json": { schema: ref("JsonPatch") } } },
        responses: { "200": jsonBody(job, "The job"), ...ERRORS, "404": errorResponse("Not found"), "409": errorResponse("A test operation failed, or the State may not move so"), "422": errorResponse("A field other than State and ExitState changed, or a value is invalid") },
      },
    },
    "/jobs/{key}/actions": {
      parameters: [jobKey],
      get: {
        tags: ["jobs"],
        operationId: "getJobActions",
        summary: "The task's templates rendered for the job's machine, in order (Path empty: a script)",
        parameters: [{ name: "format", in: "query", schema: { type: "string", enum: ["json", "list"] }, description: 'list: text, one "<index>\t<name>\t<path>" line per action' }],
        responses: {
          "200": {
            description: "The actions",
            content: {
              "application/json": { schema: { type: "array", items: { type: "object", properties: { Name: { type: "string" }, Path: { type: "string" }, Content: { type: "string" } } } } },
              "text/plain": { schema: { type: "string" } },
            },
          },
          ...ERRORS,
          "404": errorResponse("Not found"),
          "422": errorResponse("A required parameter is not set, or a template does not render"),
        },
      },
    },
    "/jobs/{key}/actions/{index}": {
      parameters: [jobKey, { name: "index", in: "path", required: true, schema: { type: "integer", minimum: 0 } }],
      get: {
        tags: ["jobs"],
        operationId: "getJobAction",
        summary: "One action's content, rendered",
        responses: { "200": { description: "The content", content: { "application/octet-stream": { schema: { type: "string", format: "binary" } } } }, ...ERRORS, "404": errorResponse("Not found"), "422": errorResponse("A required parameter is not set, or the template does not render") },
      },
    },
    "/jobs/{key}/log": {
      parameters: [jobKey],
      get: {
        tags: ["jobs"],
        operationId: "getJobLog",
        summary: "The job's log",
        responses: { "200": { description: "The log", headers: LOG_LENGTH, content: { "text/plain": { schema: { type: "string" } } } }, ...ERRORS, "404": errorResponse("Not found, or removed by retention (Archived)") },
      },
      put: {
        tags: ["jobs"],
        operationId: "appendJobLog",
        summary: "Append to the log: only the bytes beyond those held are kept, so a chunk sent again is not doubled",
        parameters: [{ name: "Socle-Log-Offset", in: "header", schema: { type: "integer", minimum: 0 }, description: "Offset of this chunk in the log (absent: at its end)" }],
        requestBody: { required: true, content: { "text/plain": { schema: { type: "string" } }, "application/octet-stream": { schema: { type: "string", format: "binary" } } } },
        responses: {
          "200": { ...jsonBody({ type: "object", properties: { Job: { type: "string" }, Length: { type: "integer" } } }, "Held"), headers: LOG_LENGTH },
          ...ERRORS,
          "404": errorResponse("Not found"),
          "409": { ...errorResponse("The offset is beyond the bytes held: send from Socle-Log-Length"), headers: LOG_LENGTH },
          "413": { ...errorResponse("The log is at its limit (pref jobLogMaxBytes); later output is dropped"), headers: LOG_LENGTH },
        },
      },
    },
  };
}

const HA_OFF = "HA is off on this node (it runs alone): the message says how to turn it on";

/** The HA pair's routes (src/api/routes-ha.ts): status, enrolment, and the operator's requests. */
function haPaths(): Record<string, Json> {
  const accepted = (what: string) => ({ "202": jsonBody(ref("HaStatus"), `${what}; applied at the role machine's next tick (about 100 ms): the status as it is now`) });
  const noBody = { required: false, ...jsonBody({ type: "object", additionalProperties: false }, "Nothing (no body, or {})") };
  const op = (operationId: string, summary: string, what: string) => ({
    post: { tags: ["ha"], operationId, summary, requestBody: noBody, responses: { ...accepted(what), ...ERRORS, "404": errorResponse(HA_OFF), "422": errorResponse("A field was sent; this takes none") } },
  });
  return {
    "/ha": {
      get: { tags: ["ha"], operationId: "getHaStatus", summary: "The node's HA status: state, term, VIP, the partner and its paths, replication lag, whether a failover now would lose nothing (claim ha get)", responses: { "200": jsonBody(ref("HaStatus"), "Status"), ...ERRORS, "404": errorResponse(HA_OFF) } },
    },
    "/ha/enrolment": {
      post: {
        tags: ["ha"],
        operationId: "haEnrol",
        summary: "A one-time secret (15 minutes, single use) with which a second node joins this one (claim ha token); shown once, Cache-Control: no-store",
        requestBody: noBody,
        responses: { "201": jsonBody(ref("HaEnrolment"), "The secret and the command to run on the second node"), ...ERRORS, "404": errorResponse(HA_OFF), "409": errorResponse("This node already has a partner"), "422": errorResponse("A field was sent; this takes none") },
      },
    },
    "/ha/takeover": op("haTakeover", "Planned switchover to this node: the active drains, hands over and steps down (claim ha action, Specific takeover)", "Takeover requested"),
    "/ha/step-down": op("haStepDown", "This node hands the active role to its partner (claim ha action, Specific step-down)", "Step-down requested"),
    "/ha/partner-down": {
      post: {
        tags: ["ha"],
        operationId: "haPartnerDown",
        summary:
          "The operator vouches that the partner is down: after MCLT this node also hands out the partner's half of every pool. Wrong while the partner still answers clients, two clients can get one address (claim ha action, Specific partner-down)",
        requestBody: { required: true, ...jsonBody({ type: "object", required: ["Confirm"], properties: { Confirm: { type: "boolean", const: true } }, additionalProperties: false }, "The confirmation") },
        responses: { ...accepted("Partner-down recorded"), ...ERRORS, "404": errorResponse(HA_OFF), "422": errorResponse("Confirm is missing or not true") },
      },
    },
  };
}

const HA_STATE = { type: "string", enum: ["joining", "standby", "active", "active-solo", "partner-down", "reconciling", "stopped"] };
const nullableInt = { type: ["integer", "null"] };

const HA_SCHEMAS: Record<string, unknown> = {
  HaStatus: {
    type: "object",
    properties: {
      Node: { type: "string" },
      Slot: { type: "integer", description: "0: the node that was enrolled first; 1: the one that joined" },
      State: HA_STATE,
      Term: { type: "integer", description: "Raised by every takeover; the higher term wins a conflict" },
      Reason: { type: "string", description: "Why the node is in its state" },
      Vip: { type: "string", description: "a.b.c.d/len" },
      HoldsVip: { type: "boolean" },
      Seq: { type: "integer", description: "Last change in this node's store" },
      SharedSeq: { type: "integer", description: "Last change both nodes are known to hold" },
      Peer: {
        type: "object",
        properties: {
          Name: { type: "string" },
          State: { type: "string", enum: [...HA_STATE.enum, "unknown"] },
          Term: { type: "integer" },
          Seq: { type: "integer" },
          LastHeardMs: nullableInt,
          Paths: { type: "array", items: { type: "object", properties: { Address: { type: "string" }, Up: { type: "boolean" }, AgeMs: nullableInt, RttMs: nullableInt } } },
        },
      },
      LagSeq: { type: "integer", description: "Changes the standby does not hold yet" },
      LagBytes: { type: "integer" },
      FilesPendingBytes: { type: "integer" },
      UnackedClients: { type: "array", items: { type: "string" }, description: "MACs whose requests went unanswered" },
      SyncTimeouts: { type: "integer", description: "Writes that went ahead without the partner's ack" },
      FailoverSafe: { type: "boolean", description: "A failover now would lose nothing" },
      Why: { type: "array", items: { type: "string" }, description: "What keeps FailoverSafe false" },
      Transitions: { type: "array", items: { type: "object", properties: { At: { type: "string", format: "date-time" }, From: HA_STATE, To: HA_STATE, Reason: { type: "string" } } } },
    },
    additionalProperties: true,
  },
  HaEnrolment: {
    type: "object",
    required: ["Secret", "ExpiresAt", "CaPin", "Vip", "Node", "Address", "Port", "Join"],
    properties: {
      Secret: { type: "string", description: "One use; give it to socle ha join on standard input or in SOCLE_HA_ENROL_SECRET, never on its command line" },
      ExpiresAt: { type: "string", format: "date-time" },
      CaPin: { type: "string", description: "sha256//<base64> of the pair CA: the joiner checks it before it sends the secret" },
      Vip: { type: "string" },
      Node: { type: "string", description: "This node's name" },
      Address: { type: "string", description: "Where the joiner dials this node" },
      Port: { type: "integer" },
      Join: { type: "string", description: "The command to run on the second node" },
      JoinNote: { type: "string" },
    },
  },
};

/** The OpenAPI 3.1 document of the API at /api/v3. */
/** The answer of POST /register: who the machine is and its token, nothing else. */
const REGISTERED: Json = {
  type: "object",
  properties: { Machine: { type: "object", properties: { Uuid: { type: "string" }, Name: { type: "string" } } }, Token: { type: "string", description: '"" when withheld (not from the machine\'s address)' } },
};

export function openApiDocument(info: { version: string }): Json {
  const schemas: Record<string, unknown> = {
    Error: {
      type: "object",
      required: ["Model", "Key", "Type", "Messages", "Code"],
      properties: {
        Model: { type: "string", description: "Object type, e.g. machines" },
        Key: { type: "string", description: "Key of the object concerned, or empty" },
        Type: { type: "string", enum: ["BadRequest", "Unauthorized", "Forbidden", "NotFound", "MethodNotAllowed", "Conflict", "PayloadTooLarge", "UnsupportedMediaType", "ValidationError", "TooManyRequests", "Unavailable"] },
        Messages: { type: "array", items: { type: "string" } },
        Code: { type: "integer", description: "HTTP status code" },
      },
    },
    JsonPatch: {
      type: "array",
      items: {
        type: "object",
        required: ["op", "path"],
        properties: {
          op: { type: "string", enum: ["add", "remove", "replace", "move", "copy", "test"] },
          path: { type: "string", description: "RFC 6901 JSON Pointer" },
          from: { type: "string" },
          value: {},
        },
      },
    },
    Prefs: {
      type: "object",
      properties: Object.fromEntries(Object.entries(PREFS).map(([k, d]) => [k, { type: "string", default: d.default, description: d.description }])),
      additionalProperties: false,
    },
    Info: { type: "object", additionalProperties: true, description: "Server version, addresses, features and counts" },
    Token: {
      type: "object",
      required: ["Token"],
      properties: { Token: { type: "string" }, Info: { type: "object", additionalProperties: true } },
    },
    Event: {
      type: "object",
      required: ["Time", "Type", "Action", "Key", "Object"],
      properties: {
        Time: { type: "string", format: "date-time" },
        Type: { type: "string" },
        Action: { type: "string", enum: ["create", "update", "delete"] },
        Key: { type: "string" },
        Object: { type: "object" },
      },
    },
    RenderRequest: { type: "object", additionalProperties: true, description: "What to render (template, boot file, or the machine's OS profile as a Format / Formats: ignition, ...) and for which machine" },
    ...HA_SCHEMAS,
  };
  let paths: Record<string, Json> = {};
  for (const def of Object.values(MODELS)) {
    schemas[SCHEMA_NAMES[def.prefix] ?? def.prefix] = schemaOf(def);
    paths = { ...paths, ...typePaths(def) };
  }
  paths = {
    ...paths,
    ...jobPaths(paths),
    ...paramsPaths("machines", "key"),
    ...paramsPaths("profiles", "key"),
    ...haPaths(),
    "/prefs": {
      get: { tags: ["prefs"], operationId: "getPrefs", summary: "All preferences", responses: { "200": jsonBody(ref("Prefs"), "Preferences"), ...ERRORS } },
      post: { tags: ["prefs"], operationId: "setPrefs", summary: "Change some preferences (all or nothing)", requestBody: { required: true, ...jsonBody(ref("Prefs"), "Preferences to change") }, responses: { "200": jsonBody(ref("Prefs"), "Preferences"), ...ERRORS, "422": errorResponse("Unknown pref or invalid value") } },
    },
    "/info": { get: { tags: ["info"], operationId: "getInfo", summary: "Server information", responses: { "200": jsonBody(ref("Info"), "Information"), ...ERRORS } } },
    "/users/{key}/token": {
      parameters: [{ name: "key", in: "path", required: true, schema: { type: "string" }, description: "User name" }],
      get: {
        tags: ["users"],
        operationId: "getUserToken",
        summary: "Issue a bearer token",
        parameters: [
          { name: "ttl", in: "query", schema: { type: "integer", minimum: 1 }, description: "Lifetime in seconds (at most maxTokenTtl)" },
          {
            name: "roles",
            in: "query",
            schema: { type: "string" },
            description: "Narrow the token to these of the user's roles (comma list, or repeat the parameter); a role the user does not hold is 400. Claims are resolved per request from the user's current roles.",
          },
        ],
        responses: { "200": jsonBody(ref("Token"), "Token"), ...ERRORS, "404": errorResponse("No such user") },
      },
    },
    "/render": {
      post: { tags: ["render"], operationId: "render", summary: "Preview a template, boot file or OS-config format for a machine", requestBody: { required: true, ...jsonBody(ref("RenderRequest"), "What to render") }, responses: { "200": jsonBody({ type: "object", additionalProperties: true }, "Rendered text and where each parameter came from"), ...ERRORS, "404": errorResponse("No such machine or template"), "422": errorResponse("Rendering failed (missing parameter)") } },
    },
    "/events": {
      get: { tags: ["events"], operationId: "events", summary: "Server-sent events, one per change", responses: { "200": { description: "text/event-stream of Event objects", content: { "text/event-stream": { schema: ref("Event") } } }, ...ERRORS } },
    },
    "/users/{key}/password": {
      parameters: [keyParam("User name")],
      post: { tags: ["users"], operationId: "setUserPassword", summary: "Set a password (rotates the user's Secret: earlier tokens stop working)", requestBody: { required: true, ...jsonBody({ type: "object", properties: { Password: { type: "string", minLength: 8 } }, required: ["Password"] }, "New password") }, responses: { "200": jsonBody(ref("User"), "The user"), ...ERRORS } },
    },
    "/users/{key}/revoke": {
      parameters: [keyParam("User name")],
      post: { tags: ["users"], operationId: "revokeUserTokens", summary: "Rotate the user's Secret: every token issued before stops working", responses: { "200": jsonBody(ref("User"), "The user"), ...ERRORS } },
    },
    "/machines/{key}/token": {
      parameters: [keyParam("Machine Uuid or Index:value")],
      get: {
        tags: ["machines"],
        operationId: "getMachineToken",
        summary:
          "Issue a token that may read and update only this machine: to an operator with the token claim (knownTokenTimeout, at most maxTokenTtl); to the machine itself its agent's renewable token (agentTokenTimeout), for the agent's token from anywhere, for a plain machine token only from the machine's own address; never for a job's token",
        parameters: [{ name: "ttl", in: "query", schema: { type: "integer", minimum: 1 }, description: "Lifetime in seconds, at most maxTokenTtl (an agent's: agentTokenTimeout)" }],
        responses: {
          "200": { ...jsonBody(ref("Token"), "Token"), headers: { "Socle-Token": header("The token again, for a shell"), "Socle-Token-Ttl": header("Its lifetime in seconds", "integer") } },
          ...ERRORS,
        },
      },
    },
    "/machines/{key}/revoke": {
      parameters: [keyParam("Machine Uuid or Index:value")],
      post: { tags: ["machines"], operationId: "revokeMachineTokens", summary: "Rotate the machine's Secret: every token issued for it (its agent's too) stops working, and its client certificates are revoked (operators only)", responses: { "200": jsonBody(ref("Machine"), "The machine"), ...ERRORS } },
    },
    "/machines/{key}/csr": {
      parameters: [keyParam("Machine Uuid or Index:value")],
      post: {
        tags: ["machines"],
        operationId: "signMachineCsr",
        summary:
          "Sign a PEM certificate request with the built-in CA: a client certificate for this machine (URI SAN urn:uuid:<Uuid>, DNS SAN <Name>, clientAuth, 90 days), its names from the server, never the request's. For the machine's agent token or its current client certificate, and operators with the token claim; not a plain machine token or a job's. 503 with an operator's --tls-cert",
        requestBody: {
          required: true,
          content: {
            "application/x-pem-file": { schema: { type: "string" } },
            "application/json": { schema: { type: "object", properties: { Csr: { type: "string" } }, required: ["Csr"] } },
          },
        },
        responses: {
          "201": {
            description: "The certificate (PEM alone with Accept: application/x-pem-file)",
            content: { "application/json": { schema: { type: "object", properties: { Machine: { type: "string" }, Serial: { type: "string" }, NotAfter: { type: "string", format: "date-time" }, Cert: { type: "string" }, Ca: { type: "string" } } } }, "application/x-pem-file": { schema: { type: "string" } } },
            headers: { "Socle-Cert-Serial": header("Its serial, lower-case hex"), "Socle-Cert-Lifetime": header("Its lifetime in seconds (renew at half)", "integer") },
          },
          ...ERRORS,
        },
      },
    },
    "/machines/{key}/certs": {
      parameters: [keyParam("Machine Uuid or Index:value")],
      get: { tags: ["machines"], operationId: "listMachineCerts", summary: "The record of the machine's client certificates: Serial, Via (csr or render), IssuedAt, NotAfter, RevokedAt, Reason (operators with the token claim)", responses: { "200": jsonBody({ type: "array", items: { type: "object" } }, "Certificates"), ...ERRORS } },
    },
    "/machines/{key}/timeline": {
      parameters: [keyParam("Machine Uuid or Index:value")],
      get: { tags: ["machines"], operationId: "getMachineTimeline", summary: "The boot timeline of the machine's MACs (DHCP, TFTP, HTTP, registration, jobs; memory only, newest 64 per MAC) with diagnoses: { Mac, Macs?, Machine, Name, Events: [{Seq, Time, Mac, Kind, Summary, Detail}], Diagnoses: [{Code, Severity, Message, Fix, Evidence}] } (claim timeline get)", responses: { "200": jsonBody({ type: "object" }, "Timeline"), ...ERRORS } },
    },
    "/timeline": {
      get: {
        tags: ["machines"],
        operationId: "getTimeline",
        summary: "With ?mac=: the boot timeline of any MAC, unknown ones too, with diagnoses (claim timeline get on the MAC). Without: the newest events across MACs, { LastSeq, Events, Stats } (claim timeline list). Live: GET /events?type=timeline",
        parameters: [
          { name: "mac", in: "query", required: false, schema: { type: "string" }, description: "aa:bb:cc:dd:ee:ff (dashes, dots or none also read)" },
          { name: "since", in: "query", required: false, schema: { type: "integer", minimum: 0 } },
          { name: "limit", in: "query", required: false, schema: { type: "integer", minimum: 1, maximum: 8192 } },
        ],
        responses: { "200": jsonBody({ type: "object" }, "Timeline"), ...ERRORS },
      },
    },
    "/pki/crl": {
      get: {
        tags: ["info"],
        operationId: "getCrl",
        summary: "The CRL of the built-in CA (no credentials needed; also at <ProvisionerURL>/socle/crl.pem and crl.der): re-signed on every revocation, nextUpdate 7 days",
        parameters: [{ name: "format", in: "query", required: false, schema: { type: "string", enum: ["pem", "der"] } }],
        responses: { "200": { description: "The CRL", content: { "application/x-pem-file": { schema: { type: "string" } }, "application/pkix-crl": { schema: { type: "string", format: "binary" } } } }, ...ERRORS },
      },
    },
    "/machines/{key}/boot-local": {
      parameters: [keyParam("Machine Uuid or Index:value")],
      post: { tags: ["machines"], operationId: "bootLocal", summary: "Switch the machine to the local boot environment: an install's last step (during a workflow, only right after its switch into the installer environment; else 409)", responses: { "200": jsonBody(ref("Machine"), "The machine"), ...ERRORS } },
    },
    "/register": {
      post: { tags: ["machines"], operationId: "register", summary: "Discovery: a registration token creates this machine (MACs no machine has; single-use); a machine token updates its own inventory", requestBody: { required: true, ...jsonBody({ type: "object", properties: { HardwareAddrs: { type: "array", items: { type: "string" } }, Name: { type: "string" }, Arch: { type: "string" }, Inventory: { type: "object" } }, required: ["HardwareAddrs"] }, "What the machine reports") }, responses: { "200": jsonBody(REGISTERED, "Known machine (its machine token, or a retry of this token's registration)"), "201": jsonBody(REGISTERED, "Created"), ...ERRORS } },
    },
    "/files/{path}": {
      parameters: [{ name: "path", in: "path", required: true, schema: { type: "string" }, description: "Path below <data-dir>/files" }],
      get: { tags: ["files"], operationId: "getFile", summary: "Download a file", responses: { "200": { description: "File contents", content: { "application/octet-stream": { schema: { type: "string", format: "binary" } } } }, ...ERRORS } },
      put: { tags: ["files"], operationId: "putFile", summary: "Upload a file (streamed, atomic)", requestBody: { required: true, content: { "application/octet-stream": { schema: { type: "string", format: "binary" } } } }, responses: { "201": jsonBody({ type: "object", properties: { Path: { type: "string" }, Size: { type: "integer" }, Sha256: { type: "string" } } }, "Stored"), ...ERRORS } },
      delete: { tags: ["files"], operationId: "deleteFile", summary: "Remove a file", responses: { "200": jsonBody({ type: "object" }, "Removed"), ...ERRORS } },
    },
    "/isos/{name}": {
      parameters: [{ name: "name", in: "path", required: true, schema: { type: "string" } }],
      get: { tags: ["files"], operationId: "getIso", summary: "Download an ISO", responses: { "200": { description: "ISO image" }, ...ERRORS } },
      put: { tags: ["files"], operationId: "putIso", summary: "Upload an ISO (streamed, atomic)", requestBody: { required: true, content: { "application/octet-stream": { schema: { type: "string", format: "binary" } } } }, responses: { "201": jsonBody({ type: "object" }, "Stored"), ...ERRORS } },
      delete: { tags: ["files"], operationId: "deleteIso", summary: "Remove an ISO", responses: { "200": jsonBody({ type: "object" }, "Removed"), ...ERRORS } },
    },
    "/openapi.json": { get: { tags: ["info"], operationId: "openapi", summary: "This document", responses: { "200": { description: "OpenAPI document", content: { "application/json": { schema: { type: "object" } } } } } } },
  };
  return {
    openapi: "3.1.0",
    info: { title: "Socle API", version: info.version, description: "Bare-metal provisioning: machines, boot environments, templates, parameters, DHCP subnets. DRP v3 conventions." },
    servers: [{ url: "/api/v3" }],
    security: [{ basic: [] }, { bearer: [] }],
    tags: [...Object.keys(MODELS), "prefs", "info", "render", "events", "files", "ha"].map((name) => ({ name })),
    paths,
    components: {
      schemas,
      securitySchemes: {
        basic: { type: "http", scheme: "basic" },
        bearer: { type: "http", scheme: "bearer" },
      },
    },
  };
}
