// Splitting a dynamic pool between two servers with RFC 3074 (DHC Load Balancing Algorithm).
//
// RFC 3074 section 6 defines Pearson's hash with a fixed 256-entry mixing table that every
// interoperable implementation must use; servers are given "hash bucket assignments" (sets of the
// values 0..255) and each answers the clients whose identifier hashes into its buckets. It balances
// CLIENTS: it says which server should answer a given client, not which addresses it may hand out.
//
// Two servers that cannot talk to each other need something stronger: disjoint ADDRESS sets, so
// that neither can grant an address the other has granted. Hashing the address itself gives that:
// every address has exactly one half, whatever client asks for it and whichever node is asked, so
// two partitioned nodes that each allocate only from their own half never grant the same address.
// Hashing the MAC would not: two clients in different halves could still be given one address.
// The client's half (RFC 3074 proper) only decides which node answers a fresh client first.
//
// The hash reads the key from its last byte to its first, starting from the key's length. For an
// IPv4 address the last octet is mixed in first, through table lookups that are each one-to-one,
// so any 256 addresses that differ only in the last octet (an aligned /24) split exactly 128/128;
// smaller ranges split close to half.

import { checkMac, ipIntOf } from "../../model/validate.ts";

export type PoolHalf = 0 | 1;

/** RFC 3074 section 6: the "mixing table" of the 256 byte values in pseudo-random order. */
const MIXING_TABLE = Uint8Array.of(
  251, 175, 119, 215, 81, 14, 79, 191, 103, 49, 181, 143, 186, 157, 0, 232,
  31, 32, 55, 60, 152, 58, 17, 237, 174, 70, 160, 144, 220, 90, 57, 223,
  59, 3, 18, 140, 111, 166, 203, 196, 134, 243, 124, 95, 222, 179, 197, 65,
  180, 48, 36, 15, 107, 46, 233, 130, 165, 30, 123, 161, 209, 23, 97, 16,
  40, 91, 219, 61, 100, 10, 210, 109, 250, 127, 22, 138, 29, 108, 244, 67,
  207, 9, 178, 204, 74, 98, 126, 249, 167, 116, 34, 77, 193, 200, 121, 5,
  20, 113, 71, 35, 128, 13, 182, 94, 25, 226, 227, 199, 75, 27, 41, 245,
  230, 224, 43, 225, 177, 26, 155, 150, 212, 142, 218, 115, 241, 73, 88, 105,
  39, 114, 62, 255, 192, 201, 145, 214, 168, 158, 221, 148, 154, 122, 12, 84,
  82, 163, 44, 139, 228, 236, 205, 242, 217, 11, 187, 146, 159, 64, 86, 239,
  195, 42, 106, 198, 118, 112, 184, 172, 87, 2, 173, 117, 176, 229, 247, 253,
  137, 185, 99, 164, 102, 147, 45, 66, 231, 52, 141, 211, 194, 206, 246, 238,
  56, 110, 78, 248, 63, 240, 189, 93, 92, 51, 53, 183, 19, 171, 72, 50,
  33, 104, 101, 69, 8, 252, 83, 120, 76, 135, 85, 54, 202, 125, 188, 213,
  96, 235, 136, 208, 162, 129, 190, 132, 156, 38, 47, 1, 7, 254, 24, 4,
  216, 131, 89, 21, 28, 133, 37, 153, 149, 80, 170, 68, 6, 169, 234, 151,
);

/** A copy of the RFC 3074 mixing table (tests check it is a permutation of 0..255). */
export function mixingTable(): Uint8Array {
  return MIXING_TABLE.slice();
}

/**
 * RFC 3074 section 6 hash bucket (0..255) of a key: the initial value is the key's length (mod
 * 256), then each byte from the last to the first is XORed in and looked up in the mixing table.
 */
export function loadBalanceHash(bytes: Uint8Array): number {
  let hash = bytes.length & 255;
  for (let i = bytes.length; i > 0; ) hash = MIXING_TABLE[hash ^ bytes[--i]!]!;
  return hash;
}

/** Buckets 0-127 are half 0 (the pair's slot-0 node), 128-255 half 1. */
function halfOf(bucket: number): PoolHalf {
  return bucket < 128 ? 0 : 1;
}

/**
 * The half of a dynamic pool an IPv4 address belongs to: the bucket of its 4 bytes in network
 * order. Takes the dotted quad (lease records, the allocation policy) or the unsigned 32-bit
 * integer the lease engine computes with.
 */
export function addressHalf(addr: string | number): PoolHalf {
  const n = typeof addr === "number" ? addr : ipIntOf(addr);
  if (n === undefined || !Number.isInteger(n) || n < 0 || n > 0xffffffff) {
    throw new RangeError(`addressHalf: invalid IPv4 address ${JSON.stringify(addr)}`);
  }
  return halfOf(loadBalanceHash(Uint8Array.of(n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255)));
}

/**
 * RFC 3074 proper: the half of a client by the bytes of its hardware address, deciding which node
 * offers first to a client neither has seen. (RFC 3074 hashes the client identifier, option 61,
 * when a client sends one; Socle identifies clients by MAC everywhere, so it hashes chaddr.)
 */
export function clientHalf(mac: string): PoolHalf {
  const r = checkMac(mac);
  if (!r.ok) throw new RangeError(`clientHalf: ${r.error}`);
  const bytes = Uint8Array.from(r.value.split(":"), (h) => parseInt(h, 16));
  return halfOf(loadBalanceHash(bytes));
}
