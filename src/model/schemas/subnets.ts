// Subnets: the DHCP scopes Socle serves (or, with Proxy, only answers PXE on).

import { z } from "zod";
import { defineModel } from "../define.ts";
import type { ModelObject } from "../object.ts";
import { checkIPv4, cidrOverlaps, intToIp, ipToInt, parseCidrParts, quote } from "../validate.ts";
import { uniqueList, zCidr, zDhcpOptions, zDuration, zIPv4OrEmpty, zName, zText } from "./fields.ts";

export const PICKERS = ["hint", "nextFree", "mostExpired"] as const;
export const STRATEGIES = ["MAC"] as const;

const zPicker = () =>
  z.string().check((ctx) => {
    if (!(PICKERS as readonly string[]).includes(ctx.value)) {
      ctx.issues.push({ code: "custom", message: `unknown picker ${quote(ctx.value)}; known: ${PICKERS.join(", ")}`, input: ctx.value });
    }
  });

export const zStrategy = () =>
  z
    .string()
    .check((ctx) => {
      if (!(STRATEGIES as readonly string[]).includes(ctx.value)) {
        ctx.issues.push({ code: "custom", message: `unknown strategy ${quote(ctx.value)}; known: ${STRATEGIES.join(", ")}`, input: ctx.value });
      }
    })
    .default("MAC");

const ipOf = (v: unknown): number | undefined => {
  if (typeof v !== "string" || v === "") return undefined;
  const r = checkIPv4(v);
  return r.ok ? ipToInt(r.value) : undefined;
};

function checkSubnet(obj: ModelObject): string[] {
  const out: string[] = [];
  const cidr = typeof obj.Subnet === "string" ? parseCidrParts(obj.Subnet) : undefined;
  if (cidr !== undefined && typeof cidr !== "string" && cidr.prefix > 30) {
    out.push(`Subnet: ${quote(obj.Subnet)} is too small to serve addresses; the prefix length must be 30 or less`);
  }
  const start = ipOf(obj.ActiveStart);
  const end = ipOf(obj.ActiveEnd);
  for (const [field, v] of [["ActiveStart", start], ["ActiveEnd", end]] as const) {
    const raw = obj[field];
    if (raw === "" && obj.Proxy !== true) out.push(`${field}: is required unless Proxy is true`);
    if (v === undefined || cidr === undefined || typeof cidr === "string") continue;
    if (v < cidr.first || v > cidr.last) {
      out.push(`${field}: ${quote(raw)} is outside the subnet ${quote(obj.Subnet)}`);
    } else if (cidr.prefix <= 30 && (v === cidr.first || v === cidr.last)) {
      out.push(`${field}: ${quote(raw)} is the ${v === cidr.first ? "network" : "broadcast"} address of ${quote(obj.Subnet)}`);
    }
  }
  if (start !== undefined && end !== undefined && start > end) {
    out.push(`ActiveEnd: ${quote(obj.ActiveEnd)} is before ActiveStart ${quote(obj.ActiveStart)}`);
  }
  if (Array.isArray(obj.Pickers) && obj.Pickers.length === 0 && obj.OnlyReservations !== true && obj.Proxy !== true) {
    out.push(`Pickers: must name at least one of ${PICKERS.join(", ")} unless OnlyReservations or Proxy is true`);
  }
  return out;
}

export const subnets = defineModel({
  prefix: "subnets",
  key: "Name",
  shape: {
    Name: zName(),
    Description: zText().default(""),
    Subnet: zCidr().describe('Network in CIDR form, e.g. "198.51.100.0/24"'),
    ActiveStart: zIPv4OrEmpty().default("").describe("First address handed out"),
    ActiveEnd: zIPv4OrEmpty().default("").describe("Last address handed out"),
    ActiveLeaseTime: zDuration().default(3600).describe("Lease time for dynamic addresses, seconds"),
    ReservedLeaseTime: zDuration().default(7200).describe("Lease time for reserved addresses, seconds"),
    Options: zDhcpOptions().default(() => []),
    NextServer: zIPv4OrEmpty().default("").describe('TFTP server address; "" means the address the client reached'),
    Proxy: z.boolean().default(false).describe("proxyDHCP: answer PXE only, another server hands out addresses"),
    Unmanaged: z.boolean().default(false).describe("Do not hand out addresses; only answer for known reservations"),
    OnlyReservations: z.boolean().default(false),
    Enabled: z.boolean().default(true),
    Pickers: uniqueList(zPicker(), "picker").default(() => [...PICKERS]),
    Strategy: zStrategy(),
  },
  indexes: {
    Subnet: { unique: true, kind: "string" },
    ActiveStart: { unique: false, kind: "ip" },
    ActiveEnd: { unique: false, kind: "ip" },
    NextServer: { unique: false, kind: "ip" },
    Proxy: { unique: false, kind: "boolean" },
    Unmanaged: { unique: false, kind: "boolean" },
    OnlyReservations: { unique: false, kind: "boolean" },
    Enabled: { unique: false, kind: "boolean" },
    Strategy: { unique: false, kind: "string" },
  },
  check: checkSubnet,
});

/** Overlaps of `subnet` with the other subnets (the same Name is skipped: that is an update). */
export function subnetConflicts(subnet: ModelObject, others: Iterable<ModelObject>): string[] {
  const out: string[] = [];
  if (typeof subnet.Subnet !== "string" || typeof parseCidrParts(subnet.Subnet) === "string") return out;
  for (const o of others) {
    if (o.Name === subnet.Name || typeof o.Subnet !== "string" || typeof parseCidrParts(o.Subnet) === "string") continue;
    if (cidrOverlaps(subnet.Subnet, o.Subnet)) {
      out.push(`Subnet: ${quote(subnet.Subnet)} overlaps ${quote(o.Subnet)} of subnet ${quote(o.Name)}`);
    }
  }
  return out;
}

/**
 * Where a reservation stands against the subnets: its address must lie in a subnet (and not be
 * that subnet's network or broadcast address) or the reservation must carry its own netmask
 * (option 1), or a client could not be told its network.
 */
export function reservationProblems(res: ModelObject, subnetList: Iterable<ModelObject>): string[] {
  const addr = ipOf(res.Addr);
  if (addr === undefined) return [`Addr: invalid address ${quote(res.Addr)}`];
  for (const s of subnetList) {
    const c = typeof s.Subnet === "string" ? parseCidrParts(s.Subnet) : undefined;
    if (c === undefined || typeof c === "string" || addr < c.first || addr > c.last) continue;
    if (c.prefix <= 30 && (addr === c.first || addr === c.last)) {
      return [`Addr: ${quote(res.Addr)} is the ${addr === c.first ? "network" : "broadcast"} address of subnet ${quote(s.Name)} (${intToIp(c.network)}/${c.prefix})`];
    }
    return [];
  }
  const options = Array.isArray(res.Options) ? res.Options : [];
  if (options.some((o) => (o as { Code?: unknown } | null)?.Code === 1)) return [];
  return [`Addr: ${quote(res.Addr)} is not inside any subnet and the reservation has no netmask option (Code 1)`];
}
