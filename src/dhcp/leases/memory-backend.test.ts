import { expect, test } from "bun:test";
import type { LeaseRecord } from "./backend.ts";
import { MemoryDhcpBackend, reservationConfig } from "./memory-backend.ts";

const lease = (Addr: string, Token: string): LeaseRecord => ({
  Addr,
  Token,
  Strategy: "MAC",
  State: "ACK",
  ExpireTime: "2026-01-01T00:00:00.000Z",
  Via: "",
  Hostname: "",
});

test("leases are indexed by address and MAC; a new holder moves the MAC index", async () => {
  const b = new MemoryDhcpBackend();
  await b.saveLease(lease("198.51.100.10", "aa"));
  await b.saveLease(lease("198.51.100.11", "aa"));
  expect(b.leasesByMac("aa").map((l) => l.Addr)).toEqual(["198.51.100.10", "198.51.100.11"]);
  await b.saveLease(lease("198.51.100.10", "bb"));
  expect(b.leasesByMac("aa").map((l) => l.Addr)).toEqual(["198.51.100.11"]);
  expect(b.leaseByAddr("198.51.100.10")!.Token).toBe("bb");
  await b.deleteLease("198.51.100.10");
  expect(b.leasesByMac("bb")).toEqual([]);
  expect([b.saves, b.deletes]).toEqual([3, 1]);
});

test("saved leases are copies; failWith makes writes reject", async () => {
  const b = new MemoryDhcpBackend();
  const l = lease("198.51.100.10", "aa");
  await b.saveLease(l);
  l.State = "RELEASED";
  expect(b.leaseByAddr("198.51.100.10")!.State).toBe("ACK");
  b.failWith = new Error("store closed");
  await expect(b.saveLease(l)).rejects.toThrow("store closed");
  await expect(b.deleteLease("198.51.100.10")).rejects.toThrow("store closed");
});

test("reservations by MAC and by address", () => {
  const b = new MemoryDhcpBackend({ reservations: [reservationConfig({ Addr: "198.51.100.50", Token: "aa" })] });
  expect(b.reservationByMac("aa")?.Addr).toBe("198.51.100.50");
  expect(b.reservationByAddr("198.51.100.50")?.Token).toBe("aa");
  b.removeReservation("198.51.100.50");
  expect(b.reservationByMac("aa")).toBeUndefined();
});
