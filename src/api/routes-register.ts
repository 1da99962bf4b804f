// Self-registration: POST /api/v3/register, called by the discovery environment of a machine that
// booted while unknown. Its kernel command line carries a short-lived registration token
// (principal kind "registration", registrationClaims()); with it the machine posts its MAC
// addresses and inventory, and gets back its Machine object and a machine-scoped token.
//
// Why a route of its own rather than DRP's `POST /machines` with a registration principal: the
// generic create would let whoever holds a registration token (it travels in clear over PXE)
// choose BootEnv, Profiles and Params of the machine it creates. Here the body is a closed set of
// facts (MACs, name, arch, inventory); everything else keeps its default, and a registration
// token is refused on every other route (the guard below).
//
// Inventory goes into the machine's Params as one object, Params.inventory (DRP keeps its gohai
// inventory in Params too): templates read it with it.param("inventory"), and Params take
// structured values where Meta holds only strings. A new registration replaces it whole.
//
// Matching: a known machine is found by any of its HardwareAddrs and updated, never duplicated.
// A machine token for a machine that existed before this request is handed out only when the
// request comes from that machine's recorded Address or from the address Socle's DHCP leased to
// one of its MACs; otherwise anyone holding a registration token could claim a known machine's
// token (and read its Params) by posting its MAC. The inventory is still recorded, without Token.

import type { Context, Hono } from "hono";
import type { ApiDeps } from "./deps.ts";
import { type ApiEnv, principalOf, requireClaim } from "./access.ts";
import { json, readJson } from "./http-util.ts";
import { SocleError, badRequest, conflict, invalid } from "../model/errors.ts";
import type { ModelObject } from "../model/object.ts";
import { checkIPv4, checkMac, checkName, quote } from "../model/validate.ts";
import { ARCHES, normalizeArch } from "../model/schemas/machines.ts";

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

export interface RegisterResult {
  Machine: ModelObject;
  /** Machine-scoped token; "" when it is withheld (see the header comment). */
  Token: string;
  /** true when a machine was created by this request. */
  Created: boolean;
}

/**
 * Register (create or find and update) the machine posting `input` from `remote`. `now` is for
 * the inventory stamp and lease expiry.
 */
export async function registerMachine(deps: ApiDeps, input: RegistrationInput, remote: string, now = new Date()): Promise<RegisterResult> {
  const { objects, store } = deps;
  const log = deps.log.child("register");
  const addr = remoteIPv4(remote);
  const ttl = Number(deps.prefs.value("knownTokenTimeout")) || 3600;

  for (let attempt = 0; attempt < 2; attempt++) {
    const matches = matchingMachines(deps, input.HardwareAddrs);
    if (matches.length > 1) {
      throw conflict("machines", "", `register: MACs ${input.HardwareAddrs.join(", ")} belong to ${matches.length} machines (${matches.map((m) => String(m.Name)).sort().join(", ")}); merge or delete them first`);
    }
    const existing = matches[0];
    if (existing) {
      const key = String(existing.Uuid);
      const known = new Set((existing.HardwareAddrs as string[] | undefined) ?? []);
      const entitled = mayTakeToken(store, existing, addr, now);
      const next: ModelObject = {
        ...existing,
        HardwareAddrs: [...known, ...input.HardwareAddrs.filter((m) => !known.has(m))],
        Params: { ...((existing.Params as Record<string, unknown>) ?? {}), ...inventoryParams(input.Inventory, now) },
        ...(input.Arch ? { Arch: input.Arch } : {}),
        ...(entitled && addr && addressFree(deps, addr, key) ? { Address: addr } : {}),
      };
      const saved = await objects.replace("machines", key, next);
      if (!entitled) log.warn("known machine registered again from an address it does not hold: no token issued", { machine: key, remote: addr || remote });
      else log.info("known machine registered again", { machine: key, name: String(saved.Name), remote: addr });
      return { Machine: saved, Token: entitled ? deps.authn.tokenForMachine(saved, ttl).token : "", Created: false };
    }
    const first = input.HardwareAddrs[0] as string;
    const wanted = input.Name ?? input.Inventory.Hostname;
    const nameOk = wanted !== undefined && checkName(wanted).ok && !objects.find("machines", `Name:${wanted}`);
    const name = nameOk ? (wanted as string) : discoveredName(first);
    const obj: ModelObject = {
      Name: name,
      HardwareAddrs: input.HardwareAddrs,
      ...(input.Arch ? { Arch: input.Arch } : {}),
      ...(addr && addressFree(deps, addr, "") ? { Address: addr } : {}),
      Params: inventoryParams(input.Inventory, now),
      Description: "registered by discovery",
    };
    try {
      const created = await objects.create("machines", obj);
      log.info("machine registered", { machine: String(created.Uuid), name, mac: first, remote: addr });
      return { Machine: created, Token: deps.authn.tokenForMachine(created, ttl).token, Created: true };
    } catch (err) {
      // Two registrations of one machine at once (two NICs, a retry): the loser's create fails
      // on the unique MAC or name; the second pass finds the winner's machine.
      if (attempt === 0 && err instanceof SocleError && (err.type === "Conflict" || err.type === "ValidationError") && matchingMachines(deps, input.HardwareAddrs).length > 0) continue;
      throw err;
    }
  }
  throw conflict("machines", "", `register: MACs ${input.HardwareAddrs.join(", ")} changed owner twice during registration; retry`);
}

function matchingMachines(deps: ApiDeps, macs: readonly string[]): ModelObject[] {
  const wanted = new Set(macs);
  return deps.store.list("machines").filter((m) => Array.isArray(m.HardwareAddrs) && m.HardwareAddrs.some((a) => wanted.has(String(a))));
}

/** Address is a unique index: only claim one that no other machine holds. */
function addressFree(deps: ApiDeps, addr: string, selfKey: string): boolean {
  return !deps.store.list("machines").some((m) => m.Address === addr && String(m.Uuid) !== selfKey);
}

/** May the caller at `addr` receive the token of the existing machine `m`? */
function mayTakeToken(store: ApiDeps["store"], m: ModelObject, addr: string, now: Date): boolean {
  if (!addr) return false;
  if (m.Address === addr) return true;
  const lease = store.get("leases", addr);
  if (!lease || typeof lease.Token !== "string") return false;
  const macs = (m.HardwareAddrs as string[] | undefined) ?? [];
  const ends = Date.parse(String(lease.ExpireTime ?? ""));
  return macs.includes(lease.Token) && lease.State === "ACK" && Number.isFinite(ends) && ends > now.getTime();
}

/**
 * Register the route and the guard that confines registration tokens to it. Call this right
 * after authentication and before every other route, so the guard runs first.
 */
export function registerRoutes(app: Hono<ApiEnv>, deps: ApiDeps, remoteOf: (req: Request) => string): void {
  app.use("/api/v3/*", async (c, next) => {
    const p = c.get("principal");
    if (p?.kind === "registration" && !(c.req.method === "POST" && c.req.path === REGISTER_PATH)) {
      throw new SocleError("Forbidden", "auth", "", `a registration token may only POST ${REGISTER_PATH}, not ${c.req.method} ${c.req.path}`);
    }
    return next();
  });

  app.post(REGISTER_PATH, async (c: Context<ApiEnv>) => {
    const p = principalOf(c);
    if (p.kind === "machine") throw new SocleError("Forbidden", "machines", p.machine ?? "", `machine "${p.name}" is registered already; use its machine token on /api/v3/machines`);
    requireClaim(c, "machines", "create");
    const body = await readJson(c, { model: "machines", limit: Math.min(deps.bodyLimit ?? MAX_BODY, MAX_BODY) });
    if (body === null) throw badRequest("machines", "", "register: body is null; expected a JSON object");
    const input = parseRegistration(body);
    const result = await registerMachine(deps, input, remoteOf(c.req.raw));
    const def = deps.objects.def("machines");
    return json({ Machine: deps.objects.redact(def, result.Machine), Token: result.Token }, result.Created ? 201 : 200);
  });
}
