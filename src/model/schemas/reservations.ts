// Reservations: a fixed address for one client token (its MAC).

import { z } from "zod";
import { defineModel } from "../define.ts";
import { zDhcpOptions, zDuration, zIPv4, zIPv4OrEmpty, zMac } from "./fields.ts";
import { zStrategy } from "./subnets.ts";

export const reservations = defineModel({
  prefix: "reservations",
  key: "Addr",
  shape: {
    Addr: zIPv4().describe("The reserved IPv4 address (key)"),
    Token: zMac().describe("The client's hardware address"),
    Strategy: zStrategy(),
    Options: zDhcpOptions().default(() => []),
    NextServer: zIPv4OrEmpty().default(""),
    Scoped: z.boolean().default(false).describe("Only valid inside its subnet"),
    Duration: zDuration().default(0).describe("Lease time in seconds; 0 uses the subnet's ReservedLeaseTime"),
    Description: z.string().default(""),
  },
  indexes: {
    Token: { unique: false, kind: "mac" },
    Strategy: { unique: false, kind: "string" },
    NextServer: { unique: false, kind: "ip" },
    Scoped: { unique: false, kind: "boolean" },
    Duration: { unique: false, kind: "number" },
  },
});
