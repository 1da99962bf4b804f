// The boot timeline: every DHCP, TFTP and HTTP step a client takes, per MAC, in memory.
//
// It sits on the DHCP fast path, so it allocates nothing per event: events are rows of fixed
// columns in typed arrays. Each MAC owns a slot of `perMac` rows used as a ring;
// a global ring of row numbers (checked against each row's Seq, so a reused row is never misread)
// gives the newest events across MACs. Strings that repeat (vendor and user classes, relay and
// server addresses) are interned into two bounded generations of a table: when the newer one
// fills, the older is dropped and its rows read "(expired)", so a flood of distinct strings costs
// old rows their labels, never new rows theirs. Strings that vary per event (a path, an address,
// an error) are kept by reference. Every string is cut to MAX_TEXT characters and, when cut,
// copied: JavaScriptCore's slice keeps the whole original alive (a 16 KB URL for 128 characters).
//
// Anything on the provisioning network can invent MACs, so slots come from two pools: MACs of
// registered machines, and the rest. A spray of invented chaddrs can only evict unknown MACs.
// Each pool is a range of slots with a clock hand: eviction is second chance (a slot used since
// the hand last passed is spared once), with no allocation; promotion copies a MAC's rows from
// the one range to the other. Nothing is written to disk: a
// per-packet write would let the network fill the disk and load the HA partner's link.
//
// The columns hold rows for the slots used so far, not for every slot: the full size (16.5 MB at
// the default 3,072 slots of 64 rows) is mostly empty on a server that has seen a few hundred
// MACs, yet the string columns are written when made and the others as rows are first used. A
// slot gets a place in the columns the first time it is taken and keeps it; when the places run
// out the columns double (copied), up to one place per slot. So growth happens only when a MAC
// takes a slot never used before, at most ceil(log2(slots / INITIAL_PLACES)) times in the server's
// life, never on an event of a known MAC. The price: the allocator may keep the pages of the
// copies left behind, so with every row of every slot filled RSS measured 5-25 MB above columns
// made whole at start (idle and after 200 clients it is 7-8 MB below).

import type { KindCode } from "./kinds.ts";

export interface TimelineOptions {
  /** Rows kept per MAC (a power of two; default 64). */
  perMac?: number;
  /** Slots for MACs of registered machines (default 2,048). */
  knownMacs?: number;
  /** Slots for every other MAC (default 1,024). */
  unknownMacs?: number;
  /** Newest events kept across MACs (default 8,192). */
  global?: number;
  /** Whether a MAC belongs to a registered machine; asked once when the MAC gets a slot. */
  isKnown?: (mac: number) => boolean;
  /** The MAC holding an address, when the timeline has not seen it handed out (leases, machines). */
  holderOf?: (address: string) => number | undefined;
  /** Distinct interned strings per generation (default 4,096; two generations are kept). */
  internMax?: number;
  now?: () => number;
}

/** One event as stored, decoded (see kinds.ts for what each field means per kind). */
export interface TimelineRow {
  seq: number;
  at: number;
  mac: number;
  kind: KindCode;
  type: number;
  outcome: number;
  /** Client architecture (option 93), -1 when not given. */
  arch: number;
  n: number;
  addr: string;
  text: string;
  /** A per-event remark: an error, a refusal's reason. */
  note: string;
  a: string;
  b: string;
  c: string;
}

export interface TimelineStats {
  macs: number;
  knownMacs: number;
  unknownMacs: number;
  events: number;
  evictions: number;
  unattributed: number;
  /** Interned strings dropped with an old generation (a high number: many distinct vendor classes). */
  internExpired: number;
}

export const MAX_TEXT = 128;
/** The two pools (ranges of slots): registered machines' MACs, and the others. */
const KNOWN = 0;
const OTHER = 1;
const MAX_ADDRESSES = 8192;
/** A copy of a column with room for `rows` (the rest zero). */
function widened<T extends Float64Array | Int32Array | Uint8Array>(a: T, rows: number): T {
  const b = new (a.constructor as new (n: number) => T)(rows);
  b.set(a);
  return b;
}

/** Interned ids: 0 is "", then generation * GEN_SPAN + index. */
const GEN_SPAN = 1 << 20;
/** Slots the columns have room for at first (they double from there, up to every slot). */
const INITIAL_PLACES = 64;

/** A dotted-quad IPv4 address as a number, -1 for anything else (no string or array built). */
export function ipv4Number(s: string): number {
  const len = s.length;
  if (len < 7 || len > 15) return -1;
  let n = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < len; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || part > 255) return -1;
      n = n * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57 && digits < 3) {
      part = part * 10 + (c - 48);
      digits++;
    } else return -1;
  }
  if (dots !== 3 || digits === 0 || part > 255) return -1;
  return n * 256 + part;
}

function ipv4String(n: number): string {
  return `${Math.floor(n / 16777216)}.${Math.floor(n / 65536) % 256}.${Math.floor(n / 256) % 256}.${n % 256}`;
}

/**
 * `s` cut to MAX_TEXT characters, as a string of its own: a slice would keep the whole original
 * alive, and the original is whatever length the network chose.
 */
export function detach(s: string, always = false): string {
  if (s.length <= MAX_TEXT && !always) return s;
  return Buffer.from(s.slice(0, MAX_TEXT), "utf8").toString("utf8");
}

export class Timeline {
  private readonly per: number;
  private readonly mask: number;
  private readonly knownCap: number;
  private readonly unknownCap: number;
  private readonly isKnown: (mac: number) => boolean;
  private readonly holderOf: ((address: string) => number | undefined) | undefined;
  private readonly now: () => number;
  private readonly internMax: number;
  // rows: places * per (a slot's rows are at place * per; see placeOf)
  private seqs: Float64Array;
  private ats: Float64Array;
  private kinds: Uint8Array;
  private types: Uint8Array;
  private outcomes: Uint8Array;
  private arches: Int32Array;
  private ns: Float64Array;
  // interned ids (doubles: the generation grows without bound)
  private as: Float64Array;
  private bs: Float64Array;
  private cs: Float64Array;
  /** An IPv4 address as a number (most addresses are: no string kept), else -1 and `addrs`. */
  private ips: Float64Array;
  private addrs: (string | undefined)[];
  private texts: (string | undefined)[];
  private notes: (string | undefined)[];
  // slots
  private readonly heads: Uint32Array;
  private readonly touched: Uint8Array;
  /** The MAC a slot holds, -1 when it is empty. Known slots are [0, knownCap), then unknown. */
  private readonly slotMac: Float64Array;
  /** Slot -> its place in the columns, -1 until the slot is first taken; and place -> slot. */
  private readonly placeOf: Int32Array;
  private readonly slotAt: Int32Array;
  /** Places handed out, and places the columns have room for. */
  private places = 0;
  private room = 0;
  private readonly hand = [0, 0];
  private readonly used = [0, 0];
  /** MAC -> slot, whichever pool: the one lookup a record makes. */
  private readonly slotOf = new Map<number, number>();
  // The last strings kept: a request's boot file or address is often the last one again, as a new
  // string; keeping the instance already held lets the new one die young.
  private lastText = "";
  private lastAddr = "";
  // global ring of row numbers
  private readonly gRow: Int32Array;
  private readonly gSeq: Float64Array;
  private seq = 0;
  private internGen = 1;
  private internIds = new Map<string, number>();
  private interned: string[] = [];
  private olderIds = new Map<string, number>();
  private older: string[] = [];
  private internExpired = 0;
  /** Addresses seen handed out in DHCP replies: address -> MAC (bounded; oldest forgotten first). */
  private readonly addresses = new Map<string, number>();
  private evictions = 0;
  private unattributed = 0;

  constructor(o: TimelineOptions = {}) {
    this.per = o.perMac ?? 64;
    if (this.per < 2 || (this.per & (this.per - 1)) !== 0) throw new RangeError(`perMac ${this.per} is not a power of two >= 2`);
    this.mask = this.per - 1;
    this.knownCap = o.knownMacs ?? 2048;
    this.unknownCap = o.unknownMacs ?? 1024;
    if (this.knownCap < 1 || this.unknownCap < 1) throw new RangeError("knownMacs and unknownMacs must be at least 1");
    this.isKnown = o.isKnown ?? (() => false);
    this.holderOf = o.holderOf;
    this.now = o.now ?? Date.now;
    this.internMax = o.internMax ?? 4096;
    const slots = this.knownCap + this.unknownCap;
    this.room = Math.min(slots, INITIAL_PLACES);
    const rows = this.room * this.per;
    this.seqs = new Float64Array(rows);
    this.ats = new Float64Array(rows);
    this.kinds = new Uint8Array(rows);
    this.types = new Uint8Array(rows);
    this.outcomes = new Uint8Array(rows);
    this.arches = new Int32Array(rows);
    this.ns = new Float64Array(rows);
    this.as = new Float64Array(rows);
    this.bs = new Float64Array(rows);
    this.cs = new Float64Array(rows);
    this.ips = new Float64Array(rows);
    this.addrs = new Array<string | undefined>(rows).fill(undefined);
    this.texts = new Array<string | undefined>(rows).fill(undefined);
    this.notes = new Array<string | undefined>(rows).fill(undefined);
    this.placeOf = new Int32Array(slots).fill(-1);
    this.slotAt = new Int32Array(slots).fill(-1);
    this.heads = new Uint32Array(slots);
    this.touched = new Uint8Array(slots);
    this.slotMac = new Float64Array(slots).fill(-1);
    this.hand[KNOWN] = 0;
    this.hand[OTHER] = this.knownCap;
    const g = o.global ?? 8192;
    this.gRow = new Int32Array(g).fill(-1);
    this.gSeq = new Float64Array(g);
  }

  /** The newest Seq handed out (0: nothing recorded yet). */
  get lastSeq(): number {
    return this.seq;
  }

  /** Rows the columns have room for now (they grow with the slots used). */
  get rowCapacity(): number {
    return this.room * this.per;
  }

  /**
   * One event for `mac` (a 48-bit number, see mac.ts). `a`, `b` and `c` are interned; `addr`,
   * `text` and `note` are kept by reference. Returns the event's Seq.
   */
  record(mac: number, kind: KindCode, type: number, outcome: number, arch: number, n: number, addr: string, text: string, a: string, b: string, c: string, note = ""): number {
    let slot = this.slotOf.get(mac);
    if (slot === undefined) slot = this.claim(mac);
    else this.touched[slot] = 1;
    const row = this.placeOf[slot]! * this.per + (this.heads[slot]! & this.mask);
    this.heads[slot]!++;
    const seq = ++this.seq;
    this.seqs[row] = seq;
    this.ats[row] = this.now();
    this.kinds[row] = kind;
    this.types[row] = type;
    this.outcomes[row] = outcome;
    this.arches[row] = arch;
    this.ns[row] = n;
    this.as[row] = this.intern(a);
    this.bs[row] = this.intern(b);
    this.cs[row] = this.intern(c);
    const ip = ipv4Number(addr);
    this.ips[row] = ip;
    if (ip >= 0) this.addrs[row] = undefined;
    else if (addr === this.lastAddr) this.addrs[row] = this.lastAddr;
    else this.addrs[row] = this.lastAddr = detach(addr);
    if (text === this.lastText) text = this.lastText;
    else this.lastText = text = detach(text);
    this.texts[row] = text;
    this.notes[row] = note === "" ? undefined : detach(note);
    const g = seq % this.gRow.length;
    this.gRow[g] = row;
    this.gSeq[g] = seq;
    return seq;
  }

  /**
   * An event known by the client's address (TFTP, HTTP): recorded for the MAC that address was
   * handed to, or, failing that, the one `holderOf` names. Without a MAC it is only counted.
   */
  recordFrom(address: string, kind: KindCode, type: number, outcome: number, n: number, text: string, note = ""): number {
    const mac = this.macOf(address);
    if (address.startsWith("::ffff:")) address = address.slice(7);
    if (mac === undefined) {
      this.unattributed++;
      return 0;
    }
    return this.record(mac, kind, type, outcome, -1, n, address, text, "", "", "", note);
  }

  /** The MAC an address belongs to, as far as this server knows. */
  macOf(address: string): number | undefined {
    if (address.startsWith("::ffff:")) address = address.slice(7); // an IPv4 client of a dual-stack socket
    const seen = this.addresses.get(address);
    if (seen !== undefined) return seen;
    try {
      return this.holderOf?.(address);
    } catch {
      return undefined;
    }
  }

  /** `address` was handed to `mac` (a DHCPOFFER or DHCPACK, or a registration). */
  learn(address: string, mac: number): void {
    if (!address || address === "0.0.0.0") return;
    const had = this.addresses.get(address);
    if (had === mac) return;
    if (had !== undefined) this.addresses.delete(address);
    else if (this.addresses.size >= MAX_ADDRESSES) {
      const oldest = this.addresses.keys().next().value;
      if (oldest !== undefined) this.addresses.delete(oldest);
    }
    this.addresses.set(address, mac);
  }

  /** A MAC now belongs to a registered machine: its slot moves to the known pool, events kept. */
  promote(mac: number): void {
    const from = this.slotOf.get(mac);
    if (from === undefined || from < this.knownCap) return;
    const to = this.take(KNOWN);
    const per = this.per;
    const a = this.placeOf[from]! * per;
    const b = this.placeOf[to]! * per;
    for (const col of [this.seqs, this.ats, this.kinds, this.types, this.outcomes, this.arches, this.ns, this.ips, this.as, this.bs, this.cs]) col.copyWithin(b, a, a + per);
    for (let i = 0; i < per; i++) {
      this.addrs[b + i] = this.addrs[a + i];
      this.texts[b + i] = this.texts[a + i];
      this.notes[b + i] = this.notes[a + i];
    }
    this.heads[to] = this.heads[from]!;
    this.touched[to] = 1;
    this.slotMac[to] = mac;
    this.slotOf.set(mac, to);
    this.used[KNOWN]!++;
    // The old slot is empty again (its rows unreadable by Seq: the global ring skips them).
    this.slotMac[from] = -1;
    this.used[OTHER]!--;
    this.clearRows(from);
  }

  /** The events kept for a MAC, oldest first. */
  of(mac: number): TimelineRow[] {
    const slot = this.slotOf.get(mac);
    if (slot === undefined) return [];
    const head = this.heads[slot]!;
    const count = Math.min(head, this.per);
    const out: TimelineRow[] = [];
    const base = this.placeOf[slot]! * this.per;
    for (let k = head - count; k < head; k++) out.push(this.row(base + (k & this.mask), mac));
    return out;
  }

  /** The newest events across MACs with a Seq above `after`, oldest first, at most `limit`. */
  since(after: number, limit = 1000): TimelineRow[] {
    const out: TimelineRow[] = [];
    const size = this.gRow.length;
    const from = Math.max(after + 1, this.seq - size + 1, 1);
    for (let seq = from; seq <= this.seq && out.length < limit; seq++) {
      const g = seq % size;
      const row = this.gRow[g]!;
      if (row < 0 || this.gSeq[g] !== seq || this.seqs[row] !== seq) continue; // overwritten since
      out.push(this.row(row, this.slotMac[this.slotAt[Math.floor(row / this.per)]!]!));
    }
    return out;
  }

  stats(): TimelineStats {
    return {
      macs: this.slotOf.size,
      knownMacs: this.used[KNOWN]!,
      unknownMacs: this.used[OTHER]!,
      events: this.seq,
      evictions: this.evictions,
      unattributed: this.unattributed,
      internExpired: this.internExpired,
    };
  }

  private row(row: number, mac: number): TimelineRow {
    return {
      seq: this.seqs[row]!,
      at: this.ats[row]!,
      mac,
      kind: this.kinds[row]! as KindCode,
      type: this.types[row]!,
      outcome: this.outcomes[row]!,
      arch: this.arches[row]!,
      n: this.ns[row]!,
      addr: this.ips[row]! >= 0 ? ipv4String(this.ips[row]!) : (this.addrs[row] ?? ""),
      text: this.texts[row] ?? "",
      note: this.notes[row] ?? "",
      a: this.label(this.as[row]!),
      b: this.label(this.bs[row]!),
      c: this.label(this.cs[row]!),
    };
  }

  private label(id: number): string {
    if (id === 0) return "";
    const gen = Math.floor(id / GEN_SPAN);
    const i = id % GEN_SPAN;
    if (gen === this.internGen) return this.interned[i] ?? "";
    if (gen === this.internGen - 1) return this.older[i] ?? "";
    return "(expired)";
  }

  private intern(s: string): number {
    if (s === "") return 0;
    const key = s.length > MAX_TEXT ? s.slice(0, MAX_TEXT) : s; // only looked up, never kept
    const id = this.internIds.get(key);
    if (id !== undefined) return id;
    // Seen in the older generation: carried into the newer one, so what keeps coming stays.
    const old = this.olderIds.get(key);
    const kept = old !== undefined ? this.older[old % GEN_SPAN]! : detach(s);
    if (this.interned.length >= this.internMax) {
      this.internExpired += this.older.length;
      this.older = this.interned;
      this.olderIds = this.internIds;
      this.interned = [];
      this.internIds = new Map();
      this.internGen++;
    }
    this.interned.push(kept);
    const next = this.internGen * GEN_SPAN + this.interned.length - 1;
    this.internIds.set(kept, next);
    return next;
  }

  private claim(mac: number): number {
    let known = false;
    try {
      known = this.isKnown(mac);
    } catch {
      known = false;
    }
    const pool = known ? KNOWN : OTHER;
    const slot = this.take(pool);
    this.used[pool]!++;
    this.slotOf.set(mac, slot);
    this.slotMac[slot] = mac;
    this.heads[slot] = 0;
    this.touched[slot] = 0;
    return slot;
  }

  /**
   * A slot of `pool` for a new MAC: the next empty one the hand meets, else the first not used
   * since the hand last passed it (second chance), whose MAC is forgotten.
   */
  private take(pool: number): number {
    const start = pool === KNOWN ? 0 : this.knownCap;
    const end = pool === KNOWN ? this.knownCap : this.knownCap + this.unknownCap;
    for (;;) {
      const s = this.hand[pool]!;
      this.hand[pool] = s + 1 === end ? start : s + 1;
      const mac = this.slotMac[s]!;
      if (mac === -1) {
        if (this.placeOf[s]! < 0) this.place(s);
        return s;
      }
      if (this.touched[s] === 1) {
        this.touched[s] = 0;
        continue;
      }
      this.evictions++;
      this.slotOf.delete(mac);
      this.slotMac[s] = -1;
      this.used[pool]!--;
      this.clearRows(s);
      return s;
    }
  }

  /** Give slot `s` the next place in the columns, doubling them when they are full. */
  private place(s: number): void {
    if (this.places === this.room) this.grow(Math.min(this.room * 2, this.placeOf.length));
    const p = this.places++;
    this.placeOf[s] = p;
    this.slotAt[p] = s;
  }

  private grow(room: number): void {
    const rows = room * this.per;
    this.seqs = widened(this.seqs, rows);
    this.ats = widened(this.ats, rows);
    this.ns = widened(this.ns, rows);
    this.as = widened(this.as, rows);
    this.bs = widened(this.bs, rows);
    this.cs = widened(this.cs, rows);
    this.ips = widened(this.ips, rows);
    this.kinds = widened(this.kinds, rows);
    this.types = widened(this.types, rows);
    this.outcomes = widened(this.outcomes, rows);
    this.arches = widened(this.arches, rows);
    // push keeps the arrays dense (setting length would leave holes).
    for (const col of [this.addrs, this.texts, this.notes]) for (let i = col.length; i < rows; i++) col.push(undefined);
    this.room = room;
  }

  /** The strings held by reference go with the slot; the Seq check makes the rows unreadable. */
  private clearRows(slot: number): void {
    const base = this.placeOf[slot]! * this.per;
    for (let i = 0; i < this.per; i++) {
      this.addrs[base + i] = undefined;
      this.texts[base + i] = undefined;
      this.notes[base + i] = undefined;
      this.seqs[base + i] = 0;
    }
  }
}
