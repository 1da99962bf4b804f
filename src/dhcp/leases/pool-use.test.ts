import { expect, test } from "bun:test";
import type { LeaseRecord, SubnetConfig } from "./backend.ts";
import { binds, poolUse } from "./pool-use.ts";
import { leaseExpired } from "./pickers.ts";
import { ipOf } from "./leases.ts";
import { ipIntOf } from "../../model/validate.ts";

const NOW = Date.parse("2026-12-01T12:00:00Z");
const LATER = "2026-12-01T13:00:00Z";
const EARLIER = "2026-12-01T11:00:00Z";

function subnet(name: string, cidr: string, start: string, end: string, extra: Partial<SubnetConfig> = {}): SubnetConfig {
  return { Name: name, Subnet: cidr, ActiveStart: start, ActiveEnd: end, ActiveLeaseTime: 3600, ReservedLeaseTime: 7200, Options: [], NextServer: "", Proxy: false, Unmanaged: false, OnlyReservations: false, Enabled: true, Pickers: ["hint"], Strategy: "MAC", ...extra };
}
const lease = (Addr: string, State: LeaseRecord["State"], ExpireTime: string): LeaseRecord => ({ Addr, Token: "52:54:00:00:00:01", Strategy: "MAC", State, ExpireTime, Via: "", Hostname: "" });

test("addresses in the range, leases that bind now, reservations in the subnet; the most specific subnet wins", () => {
  const subnets = [
    subnet("wide", "198.51.100.0/24", "198.51.100.10", "198.51.100.19"),
    subnet("narrow", "198.51.100.128/25", "198.51.100.200", "198.51.100.249"),
    subnet("proxy", "203.0.113.0/24", "", "", { Proxy: true }),
  ];
  const leases = [
    lease("198.51.100.10", "ACK", LATER),
    lease("198.51.100.11", "ACK", EARLIER), // expired
    lease("198.51.100.12", "RELEASED", LATER),
    lease("198.51.100.13", "DECLINE", LATER), // held until its hold ends
    lease("198.51.100.14", "OFFER", LATER),
    lease("198.51.100.50", "ACK", LATER), // in the subnet, outside the range (a reservation's)
    lease("198.51.100.200", "ACK", LATER), // the narrower subnet's
    lease("192.0.2.1", "ACK", LATER), // in no subnet
    lease("not-an-address", "ACK", LATER),
  ];
  const reservations = [{ Addr: "198.51.100.50" }, { Addr: "198.51.100.15" }, { Addr: "198.51.100.130" }, { Addr: "192.0.2.9" }];
  expect(poolUse(subnets, leases, reservations, NOW)).toEqual([
    { subnet: "wide", addresses: 10, leased: 3, reserved: 2 },
    { subnet: "narrow", addresses: 50, leased: 1, reserved: 1 },
    { subnet: "proxy", addresses: 0, leased: 0, reserved: 0 },
  ]);
});

test("binds() agrees with leaseExpired for every form of ExpireTime", () => {
  const now = Date.parse("2026-12-01T12:00:00.000Z");
  const nowIso = new Date(now).toISOString();
  const times = ["2026-12-01T12:00:00.000Z", "2026-12-01T12:00:00.001Z", "2026-12-01T11:59:59.999Z", "2027-01-01T00:00:00.000Z", "2026-12-01T13:00:00Z", "2026-12-01T13:00:00+01:00", "2026-12-01T12:30:00.000+01:00", "garbage", "", "9999-12-31T23:59:59.999Z"];
  for (const t of times) {
    for (const state of ["ACK", "OFFER", "DECLINE", "EXPIRED", "RELEASED"] as const) {
      const l = lease("198.51.100.10", state, t);
      expect(binds(l, now, nowIso)).toBe(!leaseExpired(l, now));
    }
  }
});

test("100,000 leases over 4 subnets: one pass, timed", () => {
  const subnets = [0, 1, 2, 3].map((i) => subnet(`s${i}`, `10.${i}.0.0/16`, `10.${i}.0.1`, `10.${i}.255.254`));
  const leases: LeaseRecord[] = [];
  for (let i = 0; i < 100_000; i++) {
    const s = i % 4;
    // Distinct strings, as records read back from the store are (a shared one hides Date.parse's cost).
    const expires = new Date(NOW + (i % 7 === 0 ? -1 : 1) * (60_000 + i)).toISOString();
    leases.push(lease(ipOf(ipIntOf(`10.${s}.0.1`)! + Math.floor(i / 4)), i % 10 === 0 ? "RELEASED" : "ACK", expires));
  }
  const reservations = Array.from({ length: 1000 }, (_, i) => ({ Addr: `10.${i % 4}.200.${i % 250}` }));
  poolUse(subnets, leases, reservations, NOW); // warm
  let best = Infinity;
  let use: ReturnType<typeof poolUse> = [];
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    use = poolUse(subnets, leases, reservations, NOW);
    best = Math.min(best, performance.now() - t0);
  }
  const bound = leases.filter((l) => l.State === "ACK" && Date.parse(l.ExpireTime) > NOW).length;
  expect(use.reduce((n, u) => n + u.leased, 0)).toBe(bound);
  expect(use.reduce((n, u) => n + u.reserved, 0)).toBe(1000);
  expect(use.every((u) => u.addresses === 65534)).toBe(true);
  console.log(`poolUse over 100,000 leases, 1,000 reservations, 4 subnets: ${best.toFixed(1)} ms`);
  expect(best).toBeLessThan(2000);
});
