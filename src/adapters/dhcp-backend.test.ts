import { expect, test } from "bun:test";
import { leaseObject } from "./dhcp-backend.ts";
import { modelFor } from "../model/registry.ts";
import type { LeaseRecord } from "../dhcp/leases/backend.ts";

test("the fast lease record equals what the leases model prepares", () => {
  const lease: LeaseRecord = {
    Addr: "198.51.100.20",
    Token: "52:54:00:12:34:56",
    Strategy: "MAC",
    State: "ACK",
    ExpireTime: "2026-11-22T12:00:00.000Z",
    Via: "203.0.113.1",
    Hostname: "node-1",
  };
  expect(leaseObject(lease)).toEqual(modelFor("leases")!.prepare(lease));
});
