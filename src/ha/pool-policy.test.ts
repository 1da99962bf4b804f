import { describe, expect, test } from "bun:test";
import type { LeaseRecord } from "../dhcp/leases/backend.ts";
import { LeaseEngine } from "../dhcp/leases/leases.ts";
import { MemoryDhcpBackend, subnetConfig } from "../dhcp/leases/memory-backend.ts";
import { addressHalf } from "../dhcp/leases/pool-split.ts";
import { scopeOf, type Scope } from "../dhcp/leases/scope.ts";
import { LeaseLedger } from "./lease-ledger.ts";
import { HaPoolPolicy, MIN_RENEW_SECONDS } from "./pool-policy.ts";
import type { HaState } from "./roles.ts";

const MCLT = 300;
const T0 = Date.UTC(2026, 11, 7, 6, 0, 0);
const M1 = "52:54:00:e2:61:01";
const M2 = "52:54:00:e2:61:02";
/** Injected half: even last octet = half 0, odd = half 1 (independent of the RFC 3074 table). */
const parity = (addr: string) => (Number(addr.split(".")[3]) % 2) as 0 | 1;
const OWN = "198.51.100.120"; // half 0
const THEIRS = "198.51.100.121"; // half 1

function make(opts: { slot?: 0 | 1; state?: HaState; lastContactMs?: number; confirmedMs?: number; halfOf?: (a: string) => 0 | 1 } = {}) {
  const ledger = new LeaseLedger();
  const box = { state: opts.state ?? ("active-solo" as HaState), confirmed: opts.confirmedMs, last: opts.lastContactMs ?? T0 };
  const policy = new HaPoolPolicy({
    slot: opts.slot ?? 0,
    state: () => box.state,
    ledger,
    mcltSeconds: () => MCLT,
    lastContactMs: () => box.last,
    partnerDownConfirmedMs: () => box.confirmed,
    halfOf: opts.halfOf ?? parity,
  });
  return { policy, ledger, box };
}

test("a first node not yet paired has the whole pool, uncapped, whatever its state", () => {
  const ledger = new LeaseLedger();
  let paired = false;
  const policy = new HaPoolPolicy({ slot: 0, state: () => "partner-down", ledger, mcltSeconds: () => MCLT, lastContactMs: () => undefined, partnerDownConfirmedMs: () => undefined, halfOf: parity, paired: () => paired });
  expect(policy.mayAllocate(THEIRS, M1, T0)).toBe(true);
  expect(policy.leaseSeconds(THEIRS, M1, 3600, T0)).toBe(3600);
  paired = true;
  expect(policy.mayAllocate(THEIRS, M1, T0)).toBe(false);
  expect(policy.leaseSeconds(OWN, M1, 3600, T0)).toBe(MCLT);
});

describe("HaPoolPolicy", () => {
  test("synced active: everything, uncapped", () => {
    const { policy } = make({ state: "active" });
    expect(policy.mayAllocate(THEIRS, M1, T0)).toBe(true);
    expect(policy.mayRenew(THEIRS, M1, T0)).toBe(true);
    expect(policy.leaseSeconds(THEIRS, M1, 86_400, T0)).toBe(86_400);
  });

  test.each(["standby", "joining", "stopped"] as const)("%s: nothing", (state) => {
    const { policy } = make({ state });
    expect(policy.mayAllocate(OWN, M1, T0)).toBe(false);
    expect(policy.mayRenew(OWN, M1, T0)).toBe(false);
  });

  test.each(["active-solo", "partner-down", "reconciling"] as const)("%s: new grants only in the own half, capped to MCLT", (state) => {
    const { policy } = make({ state });
    expect(policy.mayAllocate(OWN, M1, T0)).toBe(true);
    expect(policy.mayAllocate(THEIRS, M1, T0)).toBe(false);
    expect(policy.leaseSeconds(OWN, M1, 3600, T0)).toBe(MCLT);
    expect(policy.leaseSeconds(OWN, M1, 120, T0)).toBe(120);
  });

  test("slot 1 owns the other half", () => {
    const { policy } = make({ slot: 1 });
    expect(policy.mayAllocate(OWN, M1, T0)).toBe(false);
    expect(policy.mayAllocate(THEIRS, M1, T0)).toBe(true);
  });

  test("partner half: renewal only for the client the partner knows, up to its expiry + MCLT", () => {
    const { policy, ledger } = make();
    ledger.seed([[THEIRS, { mac: M1, expireMs: T0 + 600_000 }]]);
    expect(policy.mayRenew(THEIRS, M2, T0)).toBe(false);
    expect(policy.mayRenew(THEIRS, M1, T0)).toBe(true);
    // 10 min left of the known lease + 5 min MCLT = 900 s at most.
    expect(policy.leaseSeconds(THEIRS, M1, 3600, T0)).toBe(900);
    expect(policy.leaseSeconds(THEIRS, M1, 600, T0)).toBe(600);
    // Later in the partition the bound shrinks: it is fixed at known expiry + MCLT.
    const later = T0 + 800_000;
    expect(policy.leaseSeconds(THEIRS, M1, 3600, later)).toBe(100);
    expect(policy.mayRenew(THEIRS, M1, T0 + 900_000 - MIN_RENEW_SECONDS * 1000)).toBe(true);
    expect(policy.mayRenew(THEIRS, M1, T0 + 900_000 - MIN_RENEW_SECONDS * 1000 + 1)).toBe(false);
    // New allocation of a partner-half address: never, even to the client the partner knows.
    expect(policy.mayAllocate(THEIRS, M1, T0)).toBe(false);
  });

  test("a lease written here but never acked is not partner-known: no renewal in the partner's half", () => {
    const { policy, ledger } = make();
    ledger.localWrite(THEIRS, { mac: M1, expireMs: T0 + 3_600_000 }, 42); // the write whose sync timed out
    expect(policy.mayRenew(THEIRS, M1, T0)).toBe(false);
    ledger.acked(42);
    expect(policy.mayRenew(THEIRS, M1, T0)).toBe(true);
  });

  test("own half: the holder renews; time is MCLT beyond max(now, partner-known expiry)", () => {
    const { policy, ledger } = make();
    ledger.seed([[OWN, { mac: M1, expireMs: T0 + 600_000 }]]);
    expect(policy.mayRenew(OWN, M1, T0)).toBe(true);
    expect(policy.leaseSeconds(OWN, M1, 3600, T0)).toBe(900);
    // Past the known expiry, a fresh MCLT grant (the partner never grants this half unsynced).
    expect(policy.leaseSeconds(OWN, M1, 3600, T0 + 2_000_000)).toBe(MCLT);
    // A lease the partner does not know (unacked local write): renewable, MCLT-capped.
    ledger.localWrite("198.51.100.122", { mac: M2, expireMs: T0 + 60_000 }, 7);
    expect(policy.mayRenew("198.51.100.122", M2, T0)).toBe(true);
    expect(policy.leaseSeconds("198.51.100.122", M2, 3600, T0)).toBe(MCLT);
  });

  test("own half quarantine: another client's partner-known lease ended less than MCLT ago", () => {
    const { policy, ledger } = make();
    const ended = T0 - 1000;
    ledger.seed([[OWN, { mac: M1, expireMs: ended }]]);
    expect(policy.mayAllocate(OWN, M2, T0)).toBe(false);
    expect(policy.mayAllocate(OWN, M2, ended + MCLT * 1000 - 1)).toBe(false);
    expect(policy.mayAllocate(OWN, M2, ended + MCLT * 1000)).toBe(true);
    // The client the partner knows on it gets it back at once.
    expect(policy.mayAllocate(OWN, M1, T0)).toBe(true);
    // A live partner-known lease of another client is of course not granted either.
    ledger.fromPartner(OWN, { mac: M1, expireMs: T0 + 3_600_000 });
    expect(policy.mayAllocate(OWN, M2, T0 + 3_000_000)).toBe(false);
  });

  test("partner-down: the partner's half only after the operator confirms AND MCLT since the last contact", () => {
    const last = T0;
    const { policy, box, ledger } = make({ state: "partner-down", lastContactMs: last });
    const after = last + MCLT * 1000;
    expect(policy.mayAllocate(THEIRS, M1, after + 10_000)).toBe(false); // not confirmed
    box.confirmed = last + 5000;
    expect(policy.mayAllocate(THEIRS, M1, after - 1)).toBe(false);
    expect(policy.mayAllocate(THEIRS, M1, after)).toBe(true);
    expect(policy.partnerHalfUsable(after)).toBe(true);
    expect(policy.leaseSeconds(THEIRS, M1, 3600, after)).toBe(MCLT);
    // The partner's known leases still wait out expiry + MCLT.
    ledger.seed([[THEIRS, { mac: M2, expireMs: after + 100_000 }]]);
    expect(policy.mayAllocate(THEIRS, M1, after + 100_000)).toBe(false);
    expect(policy.mayAllocate(THEIRS, M1, after + 100_000 + MCLT * 1000)).toBe(true);
    // active-solo never uses the partner's half, confirmed or not.
    box.state = "active-solo";
    expect(policy.mayAllocate("198.51.100.123", M1, after + 10_000)).toBe(false);
  });

  test("a confirmation older than the partner's last frame is void (the partner came back)", () => {
    const { policy, box } = make({ state: "partner-down", lastContactMs: T0, confirmedMs: T0 - 1 });
    expect(policy.mayAllocate(THEIRS, M1, T0 + 10 * MCLT * 1000)).toBe(false);
    box.confirmed = T0;
    expect(policy.mayAllocate(THEIRS, M1, T0 + MCLT * 1000)).toBe(true);
  });

  test("two partitioned nodes never both allow one address (real RFC 3074 halves, a /24 pool)", () => {
    const a = make({ slot: 0, state: "active-solo", halfOf: addressHalf });
    const b = make({ slot: 1, state: "partner-down", halfOf: addressHalf, confirmedMs: undefined });
    let aCount = 0;
    let bCount = 0;
    for (let i = 0; i < 256; i++) {
      const addr = `198.51.100.${i}`;
      const okA = a.policy.mayAllocate(addr, M1, T0 + 10 * 3600_000);
      const okB = b.policy.mayAllocate(addr, M2, T0 + 10 * 3600_000);
      expect(okA && okB).toBe(false);
      expect(okA).toBe(addressHalf(addr) === 0);
      expect(okB).toBe(addressHalf(addr) === 1);
      if (okA) aCount++;
      if (okB) bCount++;
    }
    expect(aCount + bCount).toBe(256);
    expect(aCount).toBe(128); // an aligned /24 splits exactly (pool-split.ts)
  });

  test("while partitioned, the partner's half is never allocated, however long it lasts (no confirmation)", () => {
    const { policy } = make({ state: "partner-down" });
    for (let h = 0; h < 48; h++) {
      const now = T0 + h * 3600_000;
      for (let i = 1; i < 255; i += 2) expect(policy.mayAllocate(`198.51.100.${i}`, M1, now)).toBe(false);
    }
  });
});

describe("HaPoolPolicy under the real LeaseEngine: a full partition with clients on both sides", () => {
  const SUBNET = { Name: "lan", Subnet: "198.51.100.0/24", ActiveStart: "198.51.100.100", ActiveEnd: "198.51.100.199", ActiveLeaseTime: 3600 };
  const clientMac = (side: number, n: number) => `52:54:00:e2:6${side}:${n.toString(16).padStart(2, "0")}`;

  function node(slot: 0 | 1, state: HaState, shared: LeaseRecord[]) {
    const clock = { t: T0 };
    const subnet = subnetConfig(SUBNET);
    const backend = new MemoryDhcpBackend({ subnets: [subnet], leases: shared.map((l) => ({ ...l })) });
    const ledger = new LeaseLedger();
    ledger.seed(shared.map((l) => [l.Addr, { mac: l.Token, expireMs: Date.parse(l.ExpireTime) }]));
    const policy = new HaPoolPolicy({ slot, state: () => state, ledger, mcltSeconds: () => MCLT, lastContactMs: () => T0, partnerDownConfirmedMs: () => undefined });
    const engine = new LeaseEngine({ backend, now: () => clock.t, policy });
    const scope = scopeOf(subnet) as Scope;
    const dora = async (mac: string) => {
      const o = engine.offer(mac, scope, undefined, SERVER_ADDR);
      if (!o.grant) return { addr: undefined, seconds: 0, why: o.reason };
      const c = await engine.commit(mac, scope, o.grant.addr, { via: "", hostname: "", serverAddress: SERVER_ADDR });
      return c.grant ? { addr: c.grant.addr, seconds: c.grant.seconds, why: "" } : { addr: undefined, seconds: 0, why: c.nak };
    };
    const renew = (mac: string, addr: string) => engine.commit(mac, scope, addr, { via: "", hostname: "", serverAddress: SERVER_ADDR });
    return { engine, backend, ledger, dora, renew, clock };
  }
  const SERVER_ADDR = "198.51.100.1";

  test("each side grants only its own half, MCLT-capped, no address twice; partner-known leases renew within the bound", async () => {
    // Leases both nodes had when the pair split: two clients, one in each half, 1 h leases.
    const pool = Array.from({ length: 100 }, (_, i) => `198.51.100.${100 + i}`);
    const inHalf0 = pool.find((a) => addressHalf(a) === 0)!;
    const inHalf1 = pool.find((a) => addressHalf(a) === 1)!;
    const known = (addr: string, mac: string): LeaseRecord => ({ Addr: addr, Token: mac, Strategy: "MAC", State: "ACK", ExpireTime: new Date(T0 + 3600_000).toISOString(), Via: "", Hostname: "" });
    const shared = [known(inHalf0, clientMac(9, 0)), known(inHalf1, clientMac(9, 1))];
    const a = node(0, "active-solo", shared);
    const b = node(1, "partner-down", shared);
    const granted = new Map<string, string>();
    for (const [side, n] of [[a, 0], [b, 1]] as const) {
      for (let i = 0; i < 60; i++) {
        const mac = clientMac(n, i);
        const r = await side.dora(mac);
        if (!r.addr) {
          expect(r.why).toMatch(/no free address|allocation policy/); // the own half ran out
          continue;
        }
        expect(addressHalf(r.addr)).toBe(n);
        expect(r.seconds).toBe(MCLT);
        expect(granted.has(r.addr)).toBe(false);
        granted.set(r.addr, mac);
      }
    }
    expect(granted.size).toBe(98); // 100 addresses minus the two held by the known clients
    // The known client in B's half renews on A (it moved across the partition): allowed, bounded
    // by known expiry + MCLT = 3900 s from T0.
    const r1 = await a.renew(clientMac(9, 1), inHalf1);
    expect(r1.grant?.seconds).toBe(3600);
    a.clock.t = T0 + 3000_000;
    const r2 = await a.renew(clientMac(9, 1), inHalf1);
    expect(r2.grant?.seconds).toBe(900);
    // Past known expiry + MCLT - MIN_RENEW_SECONDS: a DHCPNAK, and A gives it one of its own.
    a.clock.t = T0 + 3900_000 - MIN_RENEW_SECONDS * 1000 + 1;
    expect((await a.renew(clientMac(9, 1), inHalf1)).nak).toMatch(/may not be renewed/);
  });

  test("a lease written locally but never acked, in the partner's half, is not re-ACKed", async () => {
    const addr = Array.from({ length: 100 }, (_, i) => `198.51.100.${100 + i}`).find((x) => addressHalf(x) === 1)!;
    const mac = clientMac(7, 1);
    const a = node(0, "active-solo", []);
    // The REQUEST whose sync timed out: the lease is in A's store, never acked by B.
    await a.backend.saveLease({ Addr: addr, Token: mac, Strategy: "MAC", State: "ACK", ExpireTime: new Date(T0 + 3600_000).toISOString(), Via: "", Hostname: "" });
    a.ledger.localWrite(addr, { mac, expireMs: T0 + 3600_000 }, 1);
    const retry = await a.renew(mac, addr);
    expect(retry.nak).toMatch(/may not be renewed/);
    const again = await a.dora(mac);
    expect(again.addr).toBeDefined();
    expect(addressHalf(again.addr!)).toBe(0);
  });
});
