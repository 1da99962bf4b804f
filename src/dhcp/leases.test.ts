// The lease engine and pickers directly: order of choice, holds, expiry, the nextFree cursor.

import { describe, expect, test } from "bun:test";
import type { LeaseRecord, SubnetConfig } from "./backend.ts";
import { DECLINE_HOLD_SECONDS, LeaseEngine, leaseSeconds, OFFER_HOLD_MS } from "./leases.ts";
import { MemoryDhcpBackend, reservationConfig, subnetConfig } from "./memory-backend.ts";
import { leaseExpired } from "./pickers.ts";
import { scopeOf, type Scope } from "./subnet-choice.ts";

const T0 = Date.parse("2026-01-01T00:00:00Z");
const SERVER = "198.51.100.1";
const iso = (ms: number) => new Date(ms).toISOString();
const mac = (n: number) => `52:54:00:bb:00:${n.toString(16).padStart(2, "0")}`;

function make(over: Partial<SubnetConfig> = {}, leases: LeaseRecord[] = []) {
  const clock = { t: T0 };
  const subnet = subnetConfig({ Name: "s", Subnet: "198.51.100.0/24", ActiveStart: "198.51.100.1", ActiveEnd: "198.51.100.5", ...over });
  const backend = new MemoryDhcpBackend({ subnets: [subnet], leases });
  const engine = new LeaseEngine({ backend, now: () => clock.t });
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
