// A string-keyed map for the MAC index's million entries. A key in one canonical text form (a MAC
// "52:54:00:ab:cd:ef", an IPv4 address "10.16.0.1") is packed into a number and kept in an
// open-addressing table of typed arrays; any other key goes to an ordinary Map. A Map entry per
// lease costs an allocation and a share of every collection: at a million leases, filling two Maps
// took about 0.8 s of a server's start, mostly collecting a heap already holding the store, where
// the packed table takes a few large allocations.
//
// The packing must be one-to-one on the keys it accepts (no two accepted texts give one number),
// so the parsers accept exactly one spelling of each value: lower-case hex for MACs, no leading
// zeros in IPv4 octets. Everything else is still found, through the Map.

import { ipIntOf } from "../model/validate.ts";

const EMPTY = -1;
/** Grow past this share of slots in use: linear probing stays short below it. */
const MAX_LOAD = 0.6;

/** A MAC in lower-case colon form as a 48-bit number, else undefined. */
export function packMac(s: string): number | undefined {
  if (s.length !== 17) return undefined;
  let n = 0;
  for (let i = 0; i < 17; i++) {
    const c = s.charCodeAt(i);
    if (i % 3 === 2) {
      if (c !== 58 /* : */) return undefined;
    } else if (c >= 48 && c <= 57) n = n * 16 + (c - 48);
    else if (c >= 97 && c <= 102) n = n * 16 + (c - 87);
    else return undefined;
  }
  return n;
}

/** A dotted-quad IPv4 address without leading zeros as a 32-bit number, else undefined. */
export const packIpv4: (s: string) => number | undefined = ipIntOf;

function slotOf(n: number, mask: number): number {
  const lo = n >>> 0;
  const hi = Math.floor(n / 4294967296);
  let h = Math.imul(lo ^ Math.imul(hi, 0x27d4eb2d), 0x9e3779b1);
  h ^= h >>> 15;
  h = Math.imul(h, 0x85ebca77);
  h ^= h >>> 13;
  return h & mask;
}

export class PackedKeyMap<V> {
  private keys: Float64Array;
  private vals: (V | undefined)[];
  private mask: number;
  private used = 0;
  private readonly other = new Map<string, V>();

  /**
   * `pack`: a key's number (0 to 2^53 - 1), one-to-one on the keys it accepts, or undefined.
   * `expected`: how many keys it is about to take, so that filling it does not grow it step by step.
   */
  constructor(
    private readonly pack: (key: string) => number | undefined,
    expected = 0,
  ) {
    let size = 16;
    while (size * MAX_LOAD < expected && size < 1 << 30) size *= 2;
    this.keys = new Float64Array(size).fill(EMPTY);
    this.vals = new Array<V | undefined>(size).fill(undefined);
    this.mask = size - 1;
  }

  get size(): number {
    return this.used + this.other.size;
  }

  get(key: string): V | undefined {
    const n = this.pack(key);
    if (n === undefined) return this.other.get(key);
    const i = this.find(n);
    return i < 0 ? undefined : this.vals[i];
  }

  set(key: string, value: V): void {
    this.put(key, value, true);
  }

  /**
   * Set `key` to `value` unless it has a value: returns that value (and changes nothing), else
   * undefined. One probe where a get and a set take two (an index build's million keys).
   */
  setIfAbsent(key: string, value: V): V | undefined {
    return this.put(key, value, false);
  }

  private put(key: string, value: V, replace: boolean): V | undefined {
    const n = this.pack(key);
    if (n === undefined) {
      const had = this.other.get(key);
      if (had === undefined || replace) this.other.set(key, value);
      return replace ? undefined : had;
    }
    const keys = this.keys;
    let i = slotOf(n, this.mask);
    for (;;) {
      const k = keys[i] as number;
      if (k === n) {
        const had = this.vals[i];
        if (replace || had === undefined) this.vals[i] = value;
        return replace ? undefined : had;
      }
      if (k === EMPTY) break;
      i = (i + 1) & this.mask;
    }
    keys[i] = n;
    this.vals[i] = value;
    if (++this.used > (this.mask + 1) * MAX_LOAD) this.grow();
    return undefined;
  }

  delete(key: string): boolean {
    const n = this.pack(key);
    if (n === undefined) return this.other.delete(key);
    let i = this.find(n);
    if (i < 0) return false;
    // Backward-shift deletion: move later entries of the run into the gap when their home slot
    // allows, so every entry stays reachable from its home slot without tombstones.
    const keys = this.keys;
    const mask = this.mask;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const k = keys[j] as number;
      if (k === EMPTY) break;
      const home = slotOf(k, mask);
      // The entry at j may fill the gap at i unless its home lies cyclically in (i, j].
      const stays = i <= j ? home > i && home <= j : home > i || home <= j;
      if (stays) continue;
      keys[i] = k;
      this.vals[i] = this.vals[j];
      i = j;
    }
    keys[i] = EMPTY;
    this.vals[i] = undefined;
    this.used--;
    return true;
  }

  private find(n: number): number {
    const keys = this.keys;
    let i = slotOf(n, this.mask);
    for (;;) {
      const k = keys[i] as number;
      if (k === n) return i;
      if (k === EMPTY) return -1;
      i = (i + 1) & this.mask;
    }
  }

  private grow(): void {
    const oldKeys = this.keys;
    const oldVals = this.vals;
    const size = oldKeys.length * 2;
    const keys = new Float64Array(size).fill(EMPTY);
    const vals = new Array<V | undefined>(size).fill(undefined);
    const mask = size - 1;
    for (let j = 0; j < oldKeys.length; j++) {
      const k = oldKeys[j] as number;
      if (k === EMPTY) continue;
      let i = slotOf(k, mask);
      while (keys[i] !== EMPTY) i = (i + 1) & mask;
      keys[i] = k;
      vals[i] = oldVals[j];
    }
    this.keys = keys;
    this.vals = vals;
    this.mask = mask;
  }
}
