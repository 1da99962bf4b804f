import { describe, expect, test } from "bun:test";
import { leases } from "./leases.ts";
import { reservations } from "./reservations.ts";
import { reservationProblems, subnetConflicts, subnets } from "./subnets.ts";
import { messagesOf } from "./test-util.ts";

const LAB = { Name: "lab", Subnet: "198.51.100.0/24", ActiveStart: "198.51.100.100", ActiveEnd: "198.51.100.200" };

describe("subnets", () => {
  test("defaults", () => {
    expect(subnets.prepare(LAB)).toMatchObject({
      ...LAB,
      ActiveLeaseTime: 3600,
      ReservedLeaseTime: 7200,
      Options: [],
      NextServer: "",
      Proxy: false,
      Unmanaged: false,
      OnlyReservations: false,
      Enabled: true,
      Pickers: ["hint", "nextFree", "mostExpired"],
      Strategy: "MAC",
    });
  });
  test("CIDR with host bits suggests the network", () => {
    expect(messagesOf(subnets, { ...LAB, Subnet: "198.51.100.7/24" })).toEqual([
      'Subnet: invalid CIDR "198.51.100.7/24": host bits are set; did you mean "198.51.100.0/24"?',
    ]);
  });
  test("active range inside the subnet and ordered", () => {
    expect(messagesOf(subnets, { ...LAB, ActiveStart: "198.51.101.1", ActiveEnd: "198.51.100.2" })).toEqual([
      'ActiveStart: "198.51.101.1" is outside the subnet "198.51.100.0/24"',
      'ActiveEnd: "198.51.100.2" is before ActiveStart "198.51.101.1"',
    ]);
    expect(messagesOf(subnets, { ...LAB, ActiveStart: "198.51.100.0", ActiveEnd: "198.51.100.255" })).toEqual([
      'ActiveStart: "198.51.100.0" is the network address of "198.51.100.0/24"',
      'ActiveEnd: "198.51.100.255" is the broadcast address of "198.51.100.0/24"',
    ]);
    expect(messagesOf(subnets, { Name: "s", Subnet: "198.51.100.0/24" })).toEqual([
      "ActiveStart: is required unless Proxy is true",
      "ActiveEnd: is required unless Proxy is true",
    ]);
    expect(subnets.prepare({ Name: "p", Subnet: "198.51.100.0/24", Proxy: true }).ActiveStart).toBe("");
    expect(messagesOf(subnets, { ...LAB, Name: "tiny", Subnet: "198.51.100.0/31" })[0]).toBe(
      'Subnet: "198.51.100.0/31" is too small to serve addresses; the prefix length must be 30 or less',
    );
  });
  test("options, lease times, pickers, strategy", () => {
    expect(
      messagesOf(subnets, {
        ...LAB,
        Options: [{ Code: 3, Value: "198.51.100.1" }, { Code: 0, Value: "x" }, { Code: 3, Value: "y" }, { Code: 6 }],
        ActiveLeaseTime: -5,
        ReservedLeaseTime: 1.5,
        Pickers: ["hint", "random", "hint"],
        Strategy: "ClientID",
        NextServer: "tftp.example",
      }),
    ).toEqual([
      'ActiveLeaseTime: invalid duration -5: must not be negative',
      "ReservedLeaseTime: invalid duration 1.5: expected whole seconds",
      "Options[1].Code: invalid DHCP option code 0: must be an integer from 1 to 254",
      "Options[3].Value: is required",
      "Options[2].Code: duplicate DHCP option code 3",
      'NextServer: invalid IPv4 address "tftp.example": expected 4 dot-separated numbers, got 2',
      'Pickers[1]: unknown picker "random"; known: hint, nextFree, mostExpired',
      'Pickers[2]: duplicate picker "hint" (also at [0])',
      'Strategy: unknown strategy "ClientID"; known: MAC',
    ]);
    expect(messagesOf(subnets, { ...LAB, Pickers: [] })).toEqual(["Pickers: must name at least one of hint, nextFree, mostExpired unless OnlyReservations or Proxy is true"]);
    expect(subnets.prepare({ ...LAB, Pickers: [], OnlyReservations: true }).Pickers).toEqual([]);
  });
  test("subnetConflicts reports overlaps, skipping itself", () => {
    const others = [subnets.prepare(LAB), subnets.prepare({ Name: "big", Subnet: "198.51.0.0/16", ActiveStart: "198.51.0.10", ActiveEnd: "198.51.0.20" }), subnets.prepare({ Name: "far", Subnet: "203.0.113.0/24", ActiveStart: "203.0.113.10", ActiveEnd: "203.0.113.20" })];
    expect(subnetConflicts({ Name: "lab", Subnet: "198.51.100.0/25" }, others)).toEqual(['Subnet: "198.51.100.0/25" overlaps "198.51.0.0/16" of subnet "big"']);
    expect(subnetConflicts({ Name: "new", Subnet: "192.0.2.0/24" }, others)).toEqual([]);
    expect(subnetConflicts({ Name: "bad", Subnet: "nope" }, others)).toEqual([]);
  });
});

describe("reservations", () => {
  test("token normalised, defaults", () => {
    expect(reservations.prepare({ Addr: "198.51.100.20", Token: "52-54-00-AA-BB-CC" })).toMatchObject({
      Addr: "198.51.100.20",
      Token: "52:54:00:aa:bb:cc",
      Strategy: "MAC",
      Options: [],
      NextServer: "",
      Scoped: false,
      Duration: 0,
    });
    expect(messagesOf(reservations, { Addr: "198.51.100.020", Token: "x" })).toEqual([
      'Addr: invalid IPv4 address "198.51.100.020": part "020" has a leading zero',
      'Token: invalid MAC "x": expected "aa:bb:cc:dd:ee:ff", "aa-bb-cc-dd-ee-ff" or "aabb.ccdd.eeff"',
    ]);
  });
  test("reservationProblems: inside a subnet, or carries a netmask", () => {
    const lab = [subnets.prepare(LAB)];
    expect(reservationProblems({ Addr: "198.51.100.20" }, lab)).toEqual([]);
    expect(reservationProblems({ Addr: "198.51.100.255" }, lab)).toEqual(['Addr: "198.51.100.255" is the broadcast address of subnet "lab" (198.51.100.0/24)']);
    expect(reservationProblems({ Addr: "192.0.2.5", Options: [] }, lab)).toEqual([
      'Addr: "192.0.2.5" is not inside any subnet and the reservation has no netmask option (Code 1)',
    ]);
    expect(reservationProblems({ Addr: "192.0.2.5", Options: [{ Code: 1, Value: "255.255.255.0" }] }, lab)).toEqual([]);
    expect(reservationProblems({ Addr: "x" }, lab)).toEqual(['Addr: invalid address "x"']);
  });
});

describe("leases", () => {
  test("read-only type, token normalised for the MAC strategy, time normalised", () => {
    expect(leases.writable).toBe(false);
    expect(leases.prepare({ Addr: "198.51.100.20", Token: "52-54-00-AA-BB-CC", State: "ACK", ExpireTime: "2026-01-01T01:00:00+01:00" })).toMatchObject({
      Token: "52:54:00:aa:bb:cc",
      Strategy: "MAC",
      ExpireTime: "2026-01-01T00:00:00.000Z",
      Via: "",
      Hostname: "",
    });
  });
  test("bad state, token, time, hostname", () => {
    expect(messagesOf(leases, { Addr: "198.51.100.20", Token: "zz", State: "BOUND", ExpireTime: "never", Hostname: "a\nb" })).toEqual([
      '"BOUND" is not one of "OFFER", "ACK", "EXPIRED", "DECLINE", "RELEASED"'.replace(/^/, "State: "),
      'ExpireTime: invalid time "never": expected ISO-8601 such as "2026-01-02T03:04:05Z"',
      'Token: invalid MAC "zz": expected "aa:bb:cc:dd:ee:ff", "aa-bb-cc-dd-ee-ff" or "aabb.ccdd.eeff"',
      'Hostname: "a\\nb" contains control characters',
    ]);
  });
});
