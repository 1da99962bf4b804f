// The lease engine and pickers directly: order of choice, holds, expiry, the nextFree cursor.

import { describe, expect, test } from "bun:test";
import type { AllocationPolicy, LeaseRecord, SubnetConfig } from "./backend.ts";
import { DECLINE_HOLD_SECONDS, LeaseEngine, leaseSeconds, OFFER_HOLD_MS } from "./leases.ts";
import { MemoryDhcpBackend, reservationConfig, subnetConfig } from "./memory-backend.ts";
import { leaseExpired } from "./pickers.ts";
import { addressHalf } from "./pool-split.ts";
import { scopeOf, type Scope } from "./scope.ts";

const T0 = Date.parse("2026-01-01T00:00:00Z");
const SERVER = "198.51.100.1";
const iso = (ms: number) => new Date(ms).toISOString();
const mac = (n: number) => `52:54:00:bb:00:${n.toString(16).padStart(2, "0")}`;

function make(over: Partial<SubnetConfig> = {}, leases: LeaseRecord[] = [], policy?: AllocationPolicy) {
  const clock = { t: T0 };
  const subnet = subnetConfig({ Name: "s", Subnet: "198.51.100.0/24", ActiveStart: "198.51.100.1", ActiveEnd: "198.51.100.5", ...over });
  const backend = new MemoryDhcpBackend({ subnets: [subnet], leases });
  const engine = new LeaseEngine({ backend, now: () => clock.t, policy });
  const scope = scopeOf(subnet) as Scope;
  const offer = (n: number, hint?: string) => engine.offer(mac(n), scope, hint, SERVER).grant?.addr;
  const ack = (n: number, addr: string) => engine.commit(mac(n), scope, addr, { via: "", hostname: "", serverAddress: SERVER });
  return { clock, backend, engine, scope, offer, ack };
}

const lease = (addr: string, n: number, state: LeaseRecord["State"], expire: number): LeaseRecord => ({
  Addr: addr,
  Token: mac(n),
  Strategy: "MAC",
  State: state,
  ExpireTime: iso(expire),
  Via: "",
  Hostname: "",
});

describe("pickers", () => {
  test("nextFree skips the server's own address, reserved and leased addresses", () => {
    const { backend, offer } = make({}, [lease("198.51.100.2", 9, "ACK", T0 + 1000)]);
    backend.addReservation(reservationConfig({ Addr: "198.51.100.3", Token: mac(8) }));
    expect(offer(1)).toBe("198.51.100.4");
    expect(offer(2)).toBe("198.51.100.5");
    expect(offer(3)).toBeUndefined();
  });

  test("hint first when listed first; ignored when the subnet does not list it", () => {
    expect(make().offer(1, "198.51.100.4")).toBe("198.51.100.4");
    expect(make({ Pickers: ["nextFree"] }).offer(1, "198.51.100.4")).toBe("198.51.100.2");
    expect(make({ Pickers: ["nextFree", "hint"] }).offer(1, "198.51.100.4")).toBe("198.51.100.2");
    // A hint outside the range or taken falls through to nextFree.
    expect(make().offer(1, "198.51.100.200")).toBe("198.51.100.2");
  });

  test("mostExpired reclaims the lease that expired longest ago once no address is unused", () => {
    const { offer } = make({}, [
      lease("198.51.100.2", 9, "ACK", T0 - 5000),
      lease("198.51.100.3", 9, "RELEASED", T0 - 9000),
      lease("198.51.100.4", 9, "ACK", T0 - 1000),
      lease("198.51.100.5", 9, "ACK", T0 + 1000),
    ]);
    expect(offer(1)).toBe("198.51.100.3");
    expect(offer(2)).toBe("198.51.100.2");
    expect(offer(3)).toBe("198.51.100.4");
    expect(offer(4)).toBeUndefined();
  });

  test("without mostExpired, expired records are only handed out on request (hint)", () => {
    const { offer } = make({ Pickers: ["hint", "nextFree"], ActiveEnd: "198.51.100.2" }, [lease("198.51.100.2", 9, "ACK", T0 - 5000)]);
    expect(offer(1)).toBeUndefined();
    expect(offer(1, "198.51.100.2")).toBe("198.51.100.2");
  });

  test("leaseExpired: states and times", () => {
    expect(leaseExpired(lease("a", 1, "ACK", T0 + 1), T0)).toBe(false);
    expect(leaseExpired(lease("a", 1, "ACK", T0), T0)).toBe(true);
    expect(leaseExpired(lease("a", 1, "RELEASED", T0 + 10_000), T0)).toBe(true);
    expect(leaseExpired({ ...lease("a", 1, "ACK", T0), ExpireTime: "garbage" }, T0)).toBe(true);
  });
});

describe("holds and bindings", () => {
  test("an offer is held for OFFER_HOLD_MS, then goes to the next asker", () => {
    const { clock, offer } = make({ ActiveEnd: "198.51.100.2" });
    expect(offer(1)).toBe("198.51.100.2");
    expect(offer(2)).toBeUndefined();
    expect(offer(1)).toBe("198.51.100.2"); // the same client is offered the same address again
    clock.t += OFFER_HOLD_MS + 1;
    expect(offer(2)).toBe("198.51.100.2");
  });

  test("the nextFree cursor rewinds when a held address is freed", () => {
    const { engine, offer } = make();
    expect(offer(1)).toBe("198.51.100.2");
    expect(offer(2)).toBe("198.51.100.3");
    engine.dropOffer(mac(1));
    expect(offer(3)).toBe("198.51.100.2");
    expect(offer(4)).toBe("198.51.100.4");
  });

  test("the cursor is not trusted for long: an address freed outside the engine is found again", async () => {
    const { backend, clock, offer, ack } = make();
    expect(offer(1)).toBe("198.51.100.2");
    await ack(1, "198.51.100.2");
    expect(offer(2)).toBe("198.51.100.3");
    await backend.deleteLease("198.51.100.2"); // e.g. through the API
    clock.t += 10_001;
    expect(offer(3)).toBe("198.51.100.2");
  });

  test("commit persists ACK with the lease time; a second address for the MAC ends the first", async () => {
    const { backend, ack } = make({ ActiveLeaseTime: 600 });
    expect((await ack(1, "198.51.100.2")).grant?.seconds).toBe(600);
    expect(backend.leaseByAddr("198.51.100.2")).toMatchObject({ State: "ACK", ExpireTime: iso(T0 + 600_000) });
    await ack(1, "198.51.100.3");
    expect(backend.leaseByAddr("198.51.100.2")).toMatchObject({ State: "EXPIRED", ExpireTime: iso(T0) });
    expect(backend.leaseByAddr("198.51.100.3")!.State).toBe("ACK");
  });

  test("commit NAKs the server's own address and addresses off the subnet", async () => {
    const { ack } = make();
    expect((await ack(1, SERVER)).nak).toContain("in use");
    expect((await ack(1, "192.0.2.1")).nak).toContain("not on subnet");
    expect((await ack(1, "bogus")).nak).toContain("not an IPv4 address");
  });

  test("decline: only the client's own address; held for DECLINE_HOLD_SECONDS, then reclaimable", async () => {
    const { backend, clock, engine, offer, scope } = make({ ActiveEnd: "198.51.100.2" });
    expect(offer(1)).toBe("198.51.100.2");
    expect(await engine.decline(mac(2), "198.51.100.2", "")).toContain("neither offered nor leased");
    expect(await engine.decline(mac(1), "198.51.100.2", "")).toBeUndefined();
    expect(backend.leaseByAddr("198.51.100.2")).toMatchObject({ State: "DECLINE", ExpireTime: iso(T0 + DECLINE_HOLD_SECONDS * 1000) });
    expect(offer(1)).toBeUndefined(); // not even the decliner gets it back
    expect(engine.knows(scope, mac(1), "198.51.100.2")).toBe(true);
    clock.t += DECLINE_HOLD_SECONDS * 1000;
    expect(offer(3)).toBe("198.51.100.2");
  });

  test("release: only the holder's lease; record kept as RELEASED", async () => {
    const { backend, engine, ack } = make();
    await ack(1, "198.51.100.4");
    expect(await engine.release(mac(2), "198.51.100.4")).toContain("not leased to this client");
    expect(await engine.release(mac(1), "198.51.100.4")).toBeUndefined();
    expect(backend.leaseByAddr("198.51.100.4")).toMatchObject({ State: "RELEASED", Token: mac(1), ExpireTime: iso(T0) });
    expect(backend.saves).toBe(2);
  });

  test("a reservation wins over the pool, even when the client hints elsewhere", () => {
    const { backend, offer } = make();
    backend.addReservation(reservationConfig({ Addr: "198.51.100.77", Token: mac(1), Duration: 42 }));
    expect(offer(1, "198.51.100.3")).toBe("198.51.100.77");
  });

  test("a reservation in another subnet does not apply here", () => {
    const { backend, offer } = make();
    backend.addReservation(reservationConfig({ Addr: "203.0.113.7", Token: mac(1) }));
    expect(offer(1)).toBe("198.51.100.2");
  });

  test("the offer hold is swept even when nobody looks at the address again", () => {
    const { clock, engine, offer } = make({ ActiveEnd: "198.51.100.250" });
    for (let i = 0; i < 200; i++) offer(i);
    expect(engine.heldOffers).toBe(200);
    clock.t += OFFER_HOLD_MS + 1;
    for (let i = 0; i < 60; i++) offer(200 + i);
    expect(engine.heldOffers).toBeLessThan(100);
  });
});

describe("leaseSeconds", () => {
  const sn = subnetConfig({ Subnet: "198.51.100.0/24", ActiveLeaseTime: 100, ReservedLeaseTime: 200 });
  test("dynamic, reserved, reservation Duration, and a configured option 51 winning", () => {
    expect(leaseSeconds(sn, undefined)).toBe(100);
    expect(leaseSeconds(sn, reservationConfig({ Addr: "198.51.100.9", Token: mac(1) }))).toBe(200);
    expect(leaseSeconds(sn, reservationConfig({ Addr: "198.51.100.9", Token: mac(1), Duration: 300 }))).toBe(300);
    const with51 = { ...sn, Options: [{ Code: 51, Value: "900" }] };
    expect(leaseSeconds(with51, undefined)).toBe(900);
    const res51 = reservationConfig({ Addr: "198.51.100.9", Token: mac(1), Options: [{ Code: 51, Value: "50" }] });
    expect(leaseSeconds(with51, res51)).toBe(50);
    expect(leaseSeconds({ ...sn, Options: [{ Code: 51, Value: "<%= x %>" }] }, undefined)).toBe(100);
  });
});

describe("allocation policy", () => {
  const LAB_POOL = { ActiveStart: "198.51.100.100", ActiveEnd: "198.51.100.199" };
  /** A policy that can be switched while the engine runs: `only` = the one half allowed, or undefined for all. */
  function switchable(cap?: number) {
    const calls: string[] = [];
    const p = {
      only: 0 as 0 | 1 | undefined,
      calls,
      mayAllocate: (a: string, m: string) => (calls.push(`allocate ${a} ${m}`), p.only === undefined || addressHalf(a) === p.only),
      mayRenew: (a: string, m: string) => (calls.push(`renew ${a} ${m}`), p.only === undefined || addressHalf(a) === p.only),
      leaseSeconds: (_a: string, _m: string, s: number) => (cap === undefined ? s : Math.min(s, cap)),
    };
    return p;
  }
  const bigMac = (n: number) => `52:54:00:cc:${((n >> 8) & 255).toString(16).padStart(2, "0")}:${(n & 255).toString(16).padStart(2, "0")}`;
  const half1 = Array.from({ length: 100 }, (_, i) => `198.51.100.${100 + i}`).filter((a) => addressHalf(a) === 1);

  test("allowed only half 0, it never offers or ACKs a half-1 address over 3,000 clients", async () => {
    const policy = switchable();
    const { backend, clock, engine, scope } = make({ ...LAB_POOL, ActiveLeaseTime: 600, Pickers: ["hint", "nextFree", "mostExpired"] }, [], policy);
    let offered = 0;
    let acked = 0;
    let exhausted = 0;
    for (let n = 0; n < 3000; n++) {
      const m = bigMac(n);
      const hint = n % 3 === 0 ? half1[n % half1.length] : undefined; // a third ask for a half-1 address
      const o = engine.offer(m, scope, hint, SERVER);
      if (!o.grant) {
        expect(o.reason).toContain("the allocation policy withheld");
        exhausted++;
        clock.t += 601_000; // every lease expires: mostExpired reclaims them
        continue;
      }
      offered++;
      expect(addressHalf(o.grant.addr)).toBe(0);
      // A client that asks for a half-1 address outright (init-reboot, rebinding) is refused it.
      if (hint) expect((await engine.commit(m, scope, hint, { via: "", hostname: "", serverAddress: SERVER })).nak).toContain("allocation policy");
      const c = await engine.commit(m, scope, o.grant.addr, { via: "", hostname: "", serverAddress: SERVER });
      expect(c.grant?.addr).toBe(o.grant.addr);
      acked++;
      if (n % 4 === 0) await engine.release(m, o.grant.addr);
      clock.t += 1000;
    }
    expect(offered).toBeGreaterThan(2000);
    expect(acked).toBe(offered);
    expect(exhausted).toBeGreaterThan(0);
    for (const a of half1) expect(backend.leaseByAddr(a)).toBeUndefined();
  });

  test("a lease it may not renew is NAKed; the client's next DISCOVER gets an allowed address", async () => {
    const policy = switchable();
    policy.only = undefined;
    const { backend, engine, scope, ack } = make(LAB_POOL, [], policy);
    const old = half1[0]!;
    expect((await ack(1, old)).grant?.addr).toBe(old);
    policy.only = 0; // the policy changes under the engine: asked afresh per packet
    policy.calls.length = 0;
    expect((await ack(1, old)).nak).toBe(`the lease on "${old}" may not be renewed by this server now (allocation policy)`);
    expect(policy.calls).toContain(`renew ${old} ${mac(1)}`);
    const again = engine.offer(mac(1), scope, old, SERVER).grant!;
    expect(again.addr).not.toBe(old);
    expect(addressHalf(again.addr)).toBe(0);
    expect((await ack(1, again.addr)).grant?.addr).toBe(again.addr);
    expect(backend.leaseByAddr(old)!.State).toBe("EXPIRED"); // one binding per client per subnet
    // Widened again: the client's held address is renewable, and so is a half-1 one offered afresh.
    policy.only = undefined;
    expect((await ack(1, again.addr)).grant?.addr).toBe(again.addr);
    expect((await ack(2, old)).grant?.addr).toBe(old);
  });

  test("an offer made before the policy narrowed is not repeated nor ACKed", async () => {
    const policy = switchable();
    policy.only = undefined;
    const { engine, scope, ack } = make({ ...LAB_POOL, Pickers: ["hint", "nextFree"] }, [], policy);
    const first = engine.offer(mac(1), scope, half1[3], SERVER).grant!;
    expect(first.addr).toBe(half1[3]!);
    policy.only = 0;
    expect((await ack(1, first.addr)).nak).toBe(`address "${first.addr}" may not be granted by this server now (allocation policy)`);
    expect(addressHalf(engine.offer(mac(1), scope, undefined, SERVER).grant!.addr)).toBe(0);
  });

  test("the lease time is capped in the offer, the grant and the stored ExpireTime", async () => {
    const policy = switchable(300);
    policy.only = undefined;
    const seen: unknown[] = [];
    const { backend, engine, scope, ack } = make({ ...LAB_POOL, ActiveLeaseTime: 3600 }, [], {
      ...policy,
      leaseSeconds: (a, m, s, now) => (seen.push([a, m, s, now]), policy.leaseSeconds(a, m, s)),
    });
    const o = engine.offer(mac(1), scope, undefined, SERVER).grant!;
    expect(o.seconds).toBe(300);
    expect(seen[0]).toEqual(["198.51.100.100", mac(1), 3600, T0]);
    expect((await ack(1, o.addr)).grant?.seconds).toBe(300);
    expect(backend.leaseByAddr(o.addr)!.ExpireTime).toBe(iso(T0 + 300_000));
  });

  test("a nonsensical lease time from the policy is an error, never a longer lease", async () => {
    const answer = { v: Number.NaN };
    const { backend, engine, scope, ack } = make({ ...LAB_POOL, ActiveLeaseTime: 600 }, [], {
      mayAllocate: () => true,
      mayRenew: () => true,
      leaseSeconds: () => answer.v,
    });
    await expect(ack(1, "198.51.100.100")).rejects.toThrow('allocation policy gave lease time NaN s for "198.51.100.100" (52:54:00:bb:00:01); expected 1 to 600');
    expect(backend.saves).toBe(0);
    expect(engine.heldOffers).toBe(0);
    answer.v = 0;
    expect(() => engine.offer(mac(1), scope, undefined, SERVER)).toThrow("lease time 0 s");
    answer.v = 99_999;
    expect((await ack(1, "198.51.100.100")).grant?.seconds).toBe(600);
    answer.v = 59.9;
    expect((await ack(1, "198.51.100.100")).grant?.seconds).toBe(59);
  });

  test("reservations never ask the policy, even one that refuses everything", async () => {
    const calls: string[] = [];
    const refuseAll: AllocationPolicy = {
      mayAllocate: (a) => (calls.push(a), false),
      mayRenew: (a) => (calls.push(a), false),
      leaseSeconds: (a) => (calls.push(a), 1),
    };
    const { backend, engine, scope, ack } = make({ ...LAB_POOL, ReservedLeaseTime: 7200 }, [], refuseAll);
    const reserved = half1[5]!;
    backend.addReservation(reservationConfig({ Addr: reserved, Token: mac(1) }));
    expect(engine.offer(mac(1), scope, undefined, SERVER).grant).toMatchObject({ addr: reserved, seconds: 7200 });
    expect((await ack(1, reserved)).grant).toMatchObject({ addr: reserved, seconds: 7200 });
    expect((await ack(1, reserved)).grant).toMatchObject({ addr: reserved, seconds: 7200 }); // renewal
    expect(calls).toEqual([]);
    expect(engine.offer(mac(2), scope, undefined, SERVER).reason).toContain("the allocation policy withheld 99 free addresses");
  });
});
