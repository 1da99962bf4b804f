// Leases: addresses handed out by the DHCP server. Written by the lease engine only; the API
// serves them read-only.

import { z } from "zod";
import { defineModel } from "../define.ts";
import type { ModelObject } from "../object.ts";
import { checkMac, quote } from "../validate.ts";
import { zIPv4, zIPv4OrEmpty, zTime } from "./fields.ts";
import { zStrategy } from "./subnets.ts";

export const LEASE_STATES = ["OFFER", "ACK", "EXPIRED", "DECLINE", "RELEASED"] as const;

export const leases = defineModel({
  prefix: "leases",
  key: "Addr",
  writable: false,
  shape: {
    Addr: zIPv4(),
    Token: z.string().min(1).describe("Client identity; with Strategy MAC its hardware address"),
    Strategy: zStrategy(),
    State: z.enum(LEASE_STATES),
    ExpireTime: zTime().describe("ISO-8601 time the lease ends"),
    Via: zIPv4OrEmpty().default("").describe("Relay agent (giaddr) the request came through"),
    Hostname: z.string().max(255).default(""),
  },
  indexes: {
    Token: { unique: false, kind: "mac" },
    Strategy: { unique: false, kind: "string" },
    State: { unique: false, kind: "string" },
    ExpireTime: { unique: false, kind: "time" },
    Via: { unique: false, kind: "ip" },
    Hostname: { unique: false, kind: "string" },
  },
  check: (obj: ModelObject) => {
    const out: string[] = [];
    // Strategy may still be absent here when the shape check failed (its default not yet applied).
    if ((obj.Strategy ?? "MAC") === "MAC" && typeof obj.Token === "string" && obj.Token !== "") {
      const r = checkMac(obj.Token);
      if (r.ok) obj.Token = r.value;
      else out.push(`Token: ${r.error}`);
    }
    // eslint-disable-next-line no-control-regex
    if (typeof obj.Hostname === "string" && /[\u0000-\u001f\u007f]/.test(obj.Hostname)) {
      out.push(`Hostname: ${quote(obj.Hostname)} contains control characters`);
    }
    return out;
  },
});
