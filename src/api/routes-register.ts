// Self-registration: POST /api/v3/register, called by the discovery environment
// (src/assets/discovery/socle-register) with the token on its kernel command line. The body is a
// closed set of facts (MACs, name, arch, inventory); the answer is {Machine: {Uuid, Name}, Token}:
// who the machine now is and its machine token, nothing else. The machine reads the rest of
// itself with that token.
//
// Why a route of its own rather than DRP's `POST /machines` with a registration principal: the
// generic create would let whoever holds a registration token (it travels in clear over PXE)
// choose BootEnv, Profiles and Params of the machine it creates. Here everything but the facts
// keeps its default, and a registration token is refused on every other route (the guard below).
//
// Who may register what. A MAC is a claim anyone can make, never a proof (DESIGN.md, trust model):
// - A registration token creates a machine for MACs that no machine has. When one of the MACs
//   belongs to a known machine the request is refused with one fixed message that says nothing
//   about that machine: finding a machine by a MAC would hand its Params, secrets and token, or
//   a MAC of the caller's choosing, to whoever fetched any unknown MAC's boot file.
// - A registration token is single-use: it creates one machine. It is minted each time the
//   discovery boot file is rendered, i.e. per boot, so one is all an honest machine needs; and it
//   travels in clear, so a listener must find it spent. A retry of that one registration (same
//   token, same address, MACs of the machine it created: an answer lost on the way) gets the same
//   answer and changes nothing; requests racing the first wait for it.
// - A known machine that boots discovery again registers with its machine token (the discovery
//   env rendered for a known machine carries it): only MACs it already has, and only its
//   Params.inventory changes (machine-scope.ts). Name, Arch, Address and MACs are the operator's.
// - An operator (a user with the claim to create machines) registers as a registration token
//   does, without the per-token limits.
// Requests are limited per source address and per registration token (registration-limits.ts).
//
// Inventory goes into the machine's Params as one object, Params.inventory (DRP keeps its gohai
// inventory in Params too): templates read it with it.param("inventory"), and Params take
// structured values where Meta holds only strings. A new registration replaces it whole.
//
// Tokens: a new machine's token goes to the request that created it. A known machine's new token
// goes only to a request from its recorded Address or from the address Socle's DHCP leased to one
// of its MACs; elsewhere Token is "" (the caller keeps the machine token it came with).

import type { Context, Hono } from "hono";
import type { ApiDeps } from "./deps.ts";
import { type ApiEnv, principalOf, requireClaim } from "./access.ts";
import { json, readJson } from "./http-util.ts";
import { SocleError, badRequest, conflict, invalid } from "../model/errors.ts";
import type { ModelObject } from "../model/object.ts";
import { checkIPv4, checkMac, checkName, quote } from "../model/validate.ts";
import { ARCHES, normalizeArch } from "../model/schemas/machines.ts";
import type { Principal } from "../auth/claims.ts";
import { parseAuthorization } from "../auth/basic.ts";
import { peekToken } from "../auth/tokens.ts";
import { machineWriteGuard } from "./machine-scope.ts";
import { RegistrationLimiter, type Ticket } from "./registration-limits.ts";
import { machineAddresses } from "../boot/boot-data.ts";
import { startingPoint } from "../jobs/starting-point.ts";
import type { Logger } from "../log/logger.ts";

export const REGISTER_PATH = "/api/v3/register";
/** The machine Param the inventory is stored in (templates: it.param("inventory").Disks). */
export const INVENTORY_PARAM = "inventory";

const MAX_MACS = 64;
const MAX_DISKS = 256;
const MAX_TEXT = 256;
const MAX_BODY = 64 * 1024;

export interface Inventory {
  CPUs?: number;
  MemoryBytes?: number;
  Disks?: Array<{ Name: string; SizeBytes: number }>;
  Nics?: Array<{ Name: string; Mac: string }>;
  SerialNumber?: string;
  SystemUuid?: string;
  Manufacturer?: string;
  ProductName?: string;
  Hostname?: string;
}

export interface RegistrationInput {
  /** Normalised, de-duplicated; the first one names a new machine. */
  HardwareAddrs: string[];
  Name?: string;
  Arch?: string;
  Inventory: Inventory;
}

const TEXT_FIELDS = ["SerialNumber", "SystemUuid", "Manufacturer", "ProductName", "Hostname"] as const;
const INVENTORY_FIELDS = new Set<string>(["CPUs", "MemoryBytes", "Disks", "Nics", ...TEXT_FIELDS]);
const BODY_FIELDS = new Set(["HardwareAddrs", "Name", "Arch", "Inventory"]);

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const wholeNumber = (v: unknown, max: number): v is number => Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) <= max;

/** Check a registration body; throws ValidationError listing every problem. */
export function parseRegistration(body: unknown): RegistrationInput {
  const fail = (msgs: string[]) => invalid("machines", "", msgs.map((m) => `register: ${m}`));
  if (!isRecord(body)) throw fail([`expected a JSON object, got ${quote(body)}`]);
  const problems: string[] = [];
  for (const k of Object.keys(body)) if (!BODY_FIELDS.has(k)) problems.push(`field ${quote(k)} is not accepted (allowed: ${[...BODY_FIELDS].join(", ")})`);

  const macs: string[] = [];
  const rawMacs = body.HardwareAddrs;
  if (!Array.isArray(rawMacs) || rawMacs.length === 0) problems.push(`HardwareAddrs must be a non-empty list of MAC addresses, got ${quote(rawMacs)}`);
  else if (rawMacs.length > MAX_MACS) problems.push(`HardwareAddrs lists ${rawMacs.length} addresses, more than ${MAX_MACS}`);
  else {
    for (const m of rawMacs) {
      const r = typeof m === "string" ? checkMac(m) : undefined;
      if (!r || !r.ok) problems.push(`HardwareAddrs: invalid MAC ${quote(m)}${r && !r.ok ? `: ${r.error}` : ""}`);
      else if (!macs.includes(r.value)) macs.push(r.value);
    }
  }

  let name: string | undefined;
  if (body.Name !== undefined && body.Name !== "") {
    const r = typeof body.Name === "string" ? checkName(body.Name) : undefined;
    if (!r || !r.ok) problems.push(`Name: invalid name ${quote(body.Name)}${r && !r.ok ? `: ${r.error}` : ""}`);
    else name = r.value;
  }

  let arch: string | undefined;
  if (body.Arch !== undefined && body.Arch !== "") {
    const a = typeof body.Arch === "string" ? normalizeArch(body.Arch) : "";
    if (!(ARCHES as readonly string[]).includes(a)) problems.push(`Arch: unknown architecture ${quote(body.Arch)}; known: ${ARCHES.join(", ")}`);
    else arch = a;
  }

  const inventory = parseInventory(body.Inventory ?? {}, problems);
  if (problems.length > 0) throw fail(problems);
  return { HardwareAddrs: macs, ...(name ? { Name: name } : {}), ...(arch ? { Arch: arch } : {}), Inventory: inventory };
}

function parseInventory(raw: unknown, problems: string[]): Inventory {
  const inv: Inventory = {};
  if (!isRecord(raw)) {
    problems.push(`Inventory must be an object, got ${quote(raw)}`);
    return inv;
  }
  for (const k of Object.keys(raw)) if (!INVENTORY_FIELDS.has(k)) problems.push(`Inventory: field ${quote(k)} is not accepted`);
  if (raw.CPUs !== undefined) {
    if (wholeNumber(raw.CPUs, 1_000_000) && raw.CPUs > 0) inv.CPUs = raw.CPUs;
    else problems.push(`Inventory.CPUs: expected a whole number from 1 to 1000000, got ${quote(raw.CPUs)}`);
  }
  if (raw.MemoryBytes !== undefined) {
    if (wholeNumber(raw.MemoryBytes, Number.MAX_SAFE_INTEGER)) inv.MemoryBytes = raw.MemoryBytes;
    else problems.push(`Inventory.MemoryBytes: expected a whole number of bytes, got ${quote(raw.MemoryBytes)}`);
  }
  if (raw.Disks !== undefined) {
    if (!Array.isArray(raw.Disks) || raw.Disks.length > MAX_DISKS) problems.push(`Inventory.Disks: expected a list of at most ${MAX_DISKS} disks`);
    else {
      inv.Disks = [];
      raw.Disks.forEach((d, i) => {
        if (isRecord(d) && shortText(d.Name) && d.Name !== "" && wholeNumber(d.SizeBytes, Number.MAX_SAFE_INTEGER) && Object.keys(d).length === 2) {
          inv.Disks!.push({ Name: d.Name, SizeBytes: d.SizeBytes });
        } else problems.push(`Inventory.Disks[${i}]: expected {Name, SizeBytes}, got ${quote(d)}`);
      });
    }
  }
  if (raw.Nics !== undefined) {
    if (!Array.isArray(raw.Nics) || raw.Nics.length > MAX_MACS) problems.push(`Inventory.Nics: expected a list of at most ${MAX_MACS} interfaces`);
    else {
      inv.Nics = [];
      raw.Nics.forEach((n, i) => {
        const mac = isRecord(n) && typeof n.Mac === "string" ? checkMac(n.Mac) : undefined;
        if (isRecord(n) && shortText(n.Name) && n.Name !== "" && mac?.ok && Object.keys(n).length === 2) {
          inv.Nics!.push({ Name: n.Name, Mac: mac.value });
        } else problems.push(`Inventory.Nics[${i}]: expected {Name, Mac}, got ${quote(n)}`);
      });
    }
  }
  for (const f of TEXT_FIELDS) {
    const v = raw[f];
    if (v === undefined) continue;
    if (shortText(v)) inv[f] = v;
    else problems.push(`Inventory.${f}: expected text of at most ${MAX_TEXT} printable characters, got ${quote(v)}`);
  }
  return inv;
}

function shortText(v: unknown): v is string {
  // eslint-disable-next-line no-control-regex
  return typeof v === "string" && v.length <= MAX_TEXT && !/[\u0000-\u001f\u007f]/.test(v);
}

/** The machine Params that hold the inventory: one object under INVENTORY_PARAM, stamped. */
export function inventoryParams(inv: Inventory, now: Date): Record<string, unknown> {
  return { [INVENTORY_PARAM]: { ...inv, RegisteredAt: now.toISOString() } };
}

/** "52:54:00:e2:00:01" -> "d525400e20001" (DRP's name for a discovered machine). */
export function discoveredName(mac: string): string {
  return `d${mac.replace(/:/g, "")}`;
}

/** An IPv4 remote address without the IPv4-mapped IPv6 prefix, or "". */
export function remoteIPv4(remote: string): string {
  const bare = remote.replace(/^::ffff:/i, "");
  const r = checkIPv4(bare);
  return r.ok ? r.value : "";
}

/** What a registration answers: who the machine is, and no more. */
export interface RegisteredMachine {
  Uuid: string;
  Name: string;
}

export interface RegisterResult {
  Machine: RegisteredMachine;
  /** Machine-scoped token; "" when it is withheld (see the header comment). */
  Token: string;
  /** true when a machine was created by this request. */
  Created: boolean;
}

/** Who is registering: a machine proving itself with its token, or a new machine. */
export type Registrant =
  | { kind: "machine"; principal: Principal }
  /** A registration token (with its ticket) or an operator (no ticket). */
  | { kind: "new"; ticket?: Ticket };

/** The one refusal for a MAC of a known machine: the same whichever MAC and machine. */
export const KNOWN_MAC_REFUSAL =
  "register: refused: a registration token registers new machines only, and these MACs are not all new; a known machine registers with its own machine token";

/** The refusal for a registration token that has created its machine. */
export const SPENT_TOKEN_REFUSAL =
  "register: refused: this registration token has registered a machine already (a registration token registers one machine; the next boot brings a new token)";

const refused = (msg: string) => new SocleError("Forbidden", "machines", "", msg);
const answer = (m: ModelObject): RegisteredMachine => ({ Uuid: String(m.Uuid), Name: String(m.Name) });
/** The Workflow or Stage a registered machine starts with (jobs/starting-point.ts); a pref that cannot start is logged. */
function startFields(deps: ApiDeps, log: Logger): ModelObject {
  const prefs = { defaultWorkflow: deps.prefs.value("defaultWorkflow"), defaultStage: deps.prefs.value("defaultStage") };
  const start = startingPoint(prefs, deps.objects.workflowLookup);
  for (const s of start.skipped) log.warn(`pref ${s.pref} names what cannot start a machine; registered without it`, { [s.pref]: s.name, error: s.error });
  return start.fields;
}

/**
 * The token a registration answers with: the discovery image's agent runs with it, so it is an
 * agent's (renewable, GET /machines/<uuid>/token), for the known-machine lifetime. It travels in
 * the answer over TLS, never in a boot file.
 */
const machineToken = (deps: ApiDeps, m: ModelObject): string => deps.authn.tokenForMachine(m, deps.prefs.tokenTtl("knownTokenTimeout"), "agent").token;

/**
 * Register the machine posting `input` from `remote`, as `who` allows (see the header comment).
 * `now` is for the inventory stamp and lease expiry.
 */
export async function registerMachine(deps: ApiDeps, input: RegistrationInput, who: Registrant, remote: string, now = new Date()): Promise<RegisterResult> {
  if (who.kind === "machine") return registerKnown(deps, input, who.principal, remote, now);
  const ticket = who.ticket;
  if (!ticket) return createMachine(deps, input, remote, now);
  // Requests racing the first one with this token wait for it, then see what it did.
  while (ticket.pending) await ticket.pending.catch(() => undefined);
  if (ticket.created) return repeatRegistration(deps, input, ticket, remote);
  const creating = createMachine(deps, input, remote, now);
  ticket.pending = creating;
  try {
    const result = await creating;
    ticket.created = { uuid: result.Machine.Uuid, remote, macs: [...input.HardwareAddrs] };
    return result;
  } finally {
    ticket.pending = undefined;
  }
}

/** A new machine for MACs no machine has; refused (saying nothing of it) when one has them. */
async function createMachine(deps: ApiDeps, input: RegistrationInput, remote: string, now: Date): Promise<RegisterResult> {
  const { objects } = deps;
  const log = deps.log.child("register");
  const addr = remoteIPv4(remote);
  const first = input.HardwareAddrs[0] as string;
  const refuseKnown = () => {
    const owners = matchingMachines(deps, input.HardwareAddrs).map((m) => String(m.Uuid));
    // The operator's log says which machine; the caller learns nothing about it.
    log.warn("registration for MACs of a known machine refused", { machines: owners.join(","), macs: input.HardwareAddrs.join(","), remote: addr || remote });
    return refused(KNOWN_MAC_REFUSAL);
  };
  if (matchingMachines(deps, input.HardwareAddrs).length > 0) throw refuseKnown();

  const wanted = input.Name ?? input.Inventory.Hostname;
  const nameOk = wanted !== undefined && checkName(wanted).ok && !objects.find("machines", `Name:${wanted}`);
  const obj: ModelObject = {
    Name: nameOk ? (wanted as string) : discoveredName(first),
    HardwareAddrs: input.HardwareAddrs,
    ...(input.Arch ? { Arch: input.Arch } : {}),
    ...(addr && addressFree(deps, addr, "") ? { Address: addr } : {}),
    Params: inventoryParams(input.Inventory, now),
    Description: "registered by discovery",
    ...startFields(deps, log),
  };
  for (let attempt = 0; ; attempt++) {
    try {
      const created = await objects.create("machines", attempt === 0 ? obj : { ...obj, Name: discoveredName(first), Address: "" });
      log.info("machine registered", { machine: String(created.Uuid), name: String(created.Name), mac: first, remote: addr });
      return { Machine: answer(created), Token: machineToken(deps, created), Created: true };
    } catch (err) {
      if (!(err instanceof SocleError) || err.type !== "Conflict") throw err;
      // Another registration of these MACs won the race: they are a known machine's now.
      if (matchingMachines(deps, input.HardwareAddrs).length > 0) throw refuseKnown();
      // The name or address was taken meanwhile: once more with d<mac> and no address. The
      // conflict's own message names the other machine, so it is logged, never answered.
      log.warn("registration conflict", { error: err.message, attempt, remote: addr || remote });
      if (attempt > 0) throw conflict("machines", "", "register: the machine could not be created (its MACs, name or address were taken meanwhile); retry");
    }
  }
}

/** The same registration again with the token that created the machine: the same answer. */
function repeatRegistration(deps: ApiDeps, input: RegistrationInput, ticket: Ticket, remote: string): RegisterResult {
  const made = ticket.created!;
  const machine = deps.store.get("machines", made.uuid);
  const held = new Set((machine?.HardwareAddrs as string[] | undefined) ?? []);
  const same = machine !== undefined && remote === made.remote && input.HardwareAddrs.every((m) => made.macs.includes(m) && held.has(m));
  if (!same) throw refused(SPENT_TOKEN_REFUSAL);
  return { Machine: answer(machine), Token: machineToken(deps, machine), Created: false };
}

/** A known machine with its own token: its own MACs only; its inventory is all that changes. */
async function registerKnown(deps: ApiDeps, input: RegistrationInput, p: Principal, remote: string, now: Date): Promise<RegisterResult> {
  const { objects, store } = deps;
  const uuid = p.machine ?? p.name;
  const machine = store.get("machines", uuid);
  if (!machine) throw new SocleError("NotFound", "machines", uuid, `register: machine "${uuid}" no longer exists`);
  const held = new Set((machine.HardwareAddrs as string[] | undefined) ?? []);
  const other = input.HardwareAddrs.filter((m) => !held.has(m));
  if (other.length > 0) {
    throw refused(`register: ${other.join(", ")} ${other.length === 1 ? "is" : "are"} not among this machine's HardwareAddrs: a machine token registers its own MACs only (an operator adds hardware addresses)`);
  }
  const def = objects.def("machines");
  const next = { ...objects.redact(def, machine), Params: { ...((machine.Params as Record<string, unknown>) ?? {}), ...inventoryParams(input.Inventory, now) } };
  const saved = await objects.replace("machines", uuid, next, machineWriteGuard(p));
  const addr = remoteIPv4(remote);
  const entitled = mayTakeToken(store, saved, addr, now);
  const log = deps.log.child("register");
  log.info("known machine registered again", { machine: uuid, name: String(saved.Name), remote: addr || remote, token: entitled ? "issued" : "withheld (not from its address)" });
  return { Machine: answer(saved), Token: entitled ? machineToken(deps, saved) : "", Created: false };
}

function matchingMachines(deps: ApiDeps, macs: readonly string[]): ModelObject[] {
  const wanted = new Set(macs);
  return deps.store.list("machines").filter((m) => Array.isArray(m.HardwareAddrs) && m.HardwareAddrs.some((a) => wanted.has(String(a))));
}

/** Address is a unique index: only claim one that no other machine holds. */
function addressFree(deps: ApiDeps, addr: string, selfKey: string): boolean {
  return !deps.store.list("machines").some((m) => m.Address === addr && String(m.Uuid) !== selfKey);
}

/**
 * May the caller at `addr` receive the token of the existing machine `m`? Only from an address
 * it holds (boot-data.ts machineAddresses); leases are keyed by Addr, so one lookup suffices.
 */
export function mayTakeToken(store: ApiDeps["store"], m: ModelObject, addr: string, now: Date): boolean {
  if (!addr) return false;
  const lease = store.get("leases", addr);
  return machineAddresses(m, lease ? [lease] : [], now.getTime()).includes(addr);
}

/** The ticket of the registration token the request came with (its lifetime from its payload). */
function ticketOf(c: Context<ApiEnv>, deps: ApiDeps, limiter: RegistrationLimiter): Ticket {
  const creds = parseAuthorization(c.req.header("authorization") ?? null);
  const token = creds?.kind === "bearer" ? creds.token : "";
  let expiresAt: number;
  try {
    expiresAt = peekToken(token).exp * 1000;
  } catch {
    expiresAt = Date.now() + deps.prefs.tokenTtl("unknownTokenTimeout") * 1000;
  }
  return limiter.ticket(token, expiresAt);
}

/**
 * Register the route and the guard that confines registration tokens to it. Call this right
 * after authentication and before every other route, so the guard runs first.
 */
export function registerRoutes(app: Hono<ApiEnv>, deps: ApiDeps, remoteOf: (req: Request) => string): void {
  const limiter = new RegistrationLimiter(deps.registrationLimits);

  app.use("/api/v3/*", async (c, next) => {
    const p = c.get("principal");
    if (p?.kind === "registration" && !(c.req.method === "POST" && c.req.path === REGISTER_PATH)) {
      throw new SocleError("Forbidden", "auth", "", `a registration token may only POST ${REGISTER_PATH}, not ${c.req.method} ${c.req.path}`);
    }
    return next();
  });

  app.post(REGISTER_PATH, async (c: Context<ApiEnv>) => {
    const p = principalOf(c);
    const remote = remoteOf(c.req.raw);
    limiter.admitSource(remoteIPv4(remote) || remote);
    let who: Registrant;
    if (p.kind === "machine") who = { kind: "machine", principal: p };
    else {
      requireClaim(c, "machines", "create");
      who = { kind: "new", ...(p.kind === "registration" ? { ticket: ticketOf(c, deps, limiter) } : {}) };
    }
    const body = await readJson(c, { model: "machines", limit: Math.min(deps.bodyLimit ?? MAX_BODY, MAX_BODY) });
    if (body === null) throw badRequest("machines", "", "register: body is null; expected a JSON object");
    const input = parseRegistration(body);
    const result = await registerMachine(deps, input, who, remote);
    return json({ Machine: result.Machine, Token: result.Token }, result.Created ? 201 : 200);
  });
}
