// What the DHCP server needs from the rest of Socle, injected by the composition root (the
// protocol code never imports the store). The store-backed implementation lives in
// src/adapters/dhcp-backend.ts; tests use an in-memory one.

/** A Subnet object (see src/model/schemas/subnets.ts), as the backend hands it over. */
export interface SubnetConfig {
  Name: string;
  Subnet: string; // CIDR, network address form: "198.51.100.0/24"
  ActiveStart: string; // "" only when Proxy
  ActiveEnd: string;
  ActiveLeaseTime: number; // seconds
  ReservedLeaseTime: number; // seconds
  Options: { Code: number; Value: string }[]; // Value may be an Eta template over the request (see handler)
  NextServer: string; // "" = the address the client reached us on
  Proxy: boolean;
  Unmanaged: boolean;
  OnlyReservations: boolean;
  Enabled: boolean;
  Pickers: string[]; // subset of "hint" | "nextFree" | "mostExpired", tried in order
  Strategy: string; // "MAC"
}

/** A Reservation object: a fixed address for a MAC. */
export interface ReservationConfig {
  Addr: string;
  Token: string; // lower-case colon MAC
  Strategy: string;
  Options: { Code: number; Value: string }[];
  NextServer: string;
  Duration: number; // seconds; 0 = the subnet's ReservedLeaseTime
}

export type LeaseState = "OFFER" | "ACK" | "EXPIRED" | "DECLINE" | "RELEASED";

/** A Lease object as persisted (ExpireTime ISO-8601). */
export interface LeaseRecord {
  Addr: string;
  Token: string; // lower-case colon MAC
  Strategy: string;
  State: LeaseState;
  ExpireTime: string;
  Via: string; // giaddr of the relay, "" when direct
  Hostname: string;
}

export interface DhcpBackend {
  /** Every subnet, enabled or not; called per packet, so it must be cheap (cached by the adapter). */
  subnets(): readonly SubnetConfig[];
  reservationByMac(mac: string): ReservationConfig | undefined;
  reservationByAddr(addr: string): ReservationConfig | undefined;
  leaseByAddr(addr: string): LeaseRecord | undefined;
  /** Leases held by this MAC (normally at most one per subnet). */
  leasesByMac(mac: string): readonly LeaseRecord[];
  /**
   * Persist a lease; resolves once durable (the server sends DHCPACK only after this resolves,
   * as RFC 2131 4.3.1 asks: "the server MUST commit the binding to persistent storage").
   * For State ACK the adapter also points the machine with this MAC at the address.
   */
  saveLease(lease: LeaseRecord): Promise<void>;
  deleteLease(addr: string): Promise<void>;
}

/**
 * Which dynamic addresses this server may hand out, asked per packet (answers may change at any
 * moment, e.g. when an HA pair loses its link and each node falls back to its half of the pool).
 * Reservations never go through it: a reserved address answers the same from every server.
 * Addresses are dotted quads; `now` is the lease engine's clock (ms since the epoch).
 */
export interface AllocationPolicy {
  /** May this node grant `addr` to `mac`, which does not hold a lease on it now (new allocation: pickers, hint, previous address)? */
  mayAllocate(addr: string, mac: string, now: number): boolean;
  /** May this node renew / re-ACK the lease `mac` already holds on `addr`? */
  mayRenew(addr: string, mac: string, now: number): boolean;
  /** The lease time to grant, at most `seconds`. */
  leaseSeconds(addr: string, mac: string, seconds: number, now: number): number;
}

/** Today's single-server behaviour: every address may be granted and renewed, lease times unchanged. */
export const ALLOW_ALL: AllocationPolicy = Object.freeze({
  mayAllocate: () => true,
  mayRenew: () => true,
  leaseSeconds: (_addr: string, _mac: string, seconds: number) => seconds,
});
