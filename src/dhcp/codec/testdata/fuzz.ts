// Shared by src/dhcp/codec/fuzz.test.ts and test/bench/dhcp-fuzz.ts: seed packets, a seeded mutator aimed
// at the parser's length and overload logic, and `exercise`, which runs a packet through everything
// a server would do with it and reports the outcome. Anything other than a DhcpParseError (or a
// DhcpEncodeError for a legitimately too-big reformat) escaping `exercise` is a bug.

import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { copyBytes, hex } from "../bytes.ts";
import { describePacket } from "../describe.ts";
import { DhcpEncodeError, DhcpParseError } from "../errors.ts";
import { MessageType } from "../message-type.ts";
import type { DhcpOptions } from "../options.ts";
import { formatPacket, newPacket, parsePacket, type DhcpPacket } from "../packet.ts";
import { readPcapDhcp } from "./pcap.ts";

export type Rng = () => number;

/** mulberry32: small, fast, good enough to spread mutations; same seed, same run. */
export function makeRng(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const int = (rng: Rng, n: number) => Math.floor(rng() * n);

/** Captured packets plus synthetic ones carrying the structured options and an overloaded layout. */
export function makeSeeds(): Uint8Array[] {
  const seeds: Uint8Array[] = [];
  const dir = import.meta.dir;
  for (const f of readdirSync(dir).filter((n) => n.endsWith(".pcap")).sort()) {
    for (const d of readPcapDhcp(readFileSync(join(dir, f)))) seeds.push(d.payload);
  }
  const p = newPacket({ chaddr: Uint8Array.of(2, 0, 0, 0, 0, 1), giaddr: "198.51.100.1", hops: 1 });
  p.options
    .setMessageType(MessageType.DHCPREQUEST)
    .setDomainSearch(["a.example", "b.example"])
    .setClasslessRoutes([
      { destination: "0.0.0.0/0", router: "198.51.100.1" },
      { destination: "203.0.113.0/24", router: "198.51.100.2" },
    ])
    .setRelayAgentInfo({ circuitId: Uint8Array.of(1, 2), remoteId: Uint8Array.of(3), linkSelection: "203.0.113.0" })
    .setPxeVendorOptions({ discoveryControl: 7, bootMenu: [{ type: 0x8000, description: "boot" }], menuPrompt: { timeout: 5, prompt: "x" } })
    .setVendorIdentifyingInfo([{ enterprise: 9, subOptions: [{ code: 1, data: Uint8Array.of(1) }] }])
    .setVendorIdentifyingClass([{ enterprise: 9, classes: [Uint8Array.of(0x61)] }])
    .setUserClass(["a", "bc"])
    .set(224, new Uint8Array(300).fill(0x41));
  seeds.push(formatPacket(p, { maxSize: 1500 }));
  seeds.push(formatPacket(p, { maxSize: 576 - 28 })); // overloaded into file and sname
  // compression pointers in option 119 (RFC 3397 example)
  const q = newPacket();
  q.options.set(119, Uint8Array.of(3, 101, 110, 103, 5, 97, 112, 112, 108, 101, 3, 99, 111, 109, 0, 1, 120, 0xc0, 4));
  seeds.push(formatPacket(q));
  return seeds;
}

/** Offsets of option codes in the main options area (for aimed mutations). */
function optionOffsets(b: Uint8Array): number[] {
  const out: number[] = [];
  let i = 240;
  while (i + 1 < b.length && out.length < 64) {
    const c = b[i]!;
    if (c === 0) {
      i++;
      continue;
    }
    if (c === 255) break;
    out.push(i);
    i += 2 + b[i + 1]!;
  }
  return out;
}

const INTERESTING = [0, 1, 2, 3, 4, 0x3f, 0x40, 0x7f, 0x80, 0xc0, 0xfe, 0xff];
const CODES = [1, 3, 43, 52, 53, 57, 61, 77, 82, 93, 94, 97, 119, 121, 124, 125, 175, 255, 0];

export function mutate(rng: Rng, seed: Uint8Array): Uint8Array {
  let b = copyBytes(seed);
  const rounds = 1 + int(rng, 4);
  for (let r = 0; r < rounds; r++) {
    const opts = optionOffsets(b);
    const pickOpt = () => opts[int(rng, opts.length)];
    switch (int(rng, 11)) {
      case 0: // bit flip
        if (b.length) {
          const i = int(rng, b.length);
          b[i] = b[i]! ^ (1 << int(rng, 8));
        }
        break;
      case 1: // byte set, often to a boundary value
        if (b.length) b[int(rng, b.length)] = rng() < 0.5 ? INTERESTING[int(rng, INTERESTING.length)]! : int(rng, 256);
        break;
      case 2: // truncation
        b = copyBytes(b, 0, int(rng, b.length + 1));
        break;
      case 3: { // length-field lie
        const o = pickOpt();
        if (o !== undefined && o + 1 < b.length) b[o + 1] = rng() < 0.5 ? b[o + 1]! + 1 + int(rng, 4) : int(rng, 256);
        break;
      }
      case 4: { // huge option length
        const o = pickOpt();
        if (o !== undefined && o + 1 < b.length) b[o + 1] = 255;
        break;
      }
      case 5: { // inserted overload, sometimes nested into file/sname
        if (b.length >= 240) {
          const v = int(rng, 5);
          b = concat(b.subarray(0, 240), Uint8Array.of(52, rng() < 0.9 ? 1 : int(rng, 3), v), b.subarray(240));
          if (rng() < 0.5) {
            const at = rng() < 0.5 ? 108 : 44;
            b.set(rng() < 0.3 ? [52, 1, int(rng, 4)] : [12, int(rng, 200), 0x61], at + int(rng, 8));
          }
        }
        break;
      }
      case 6: // random htype/hlen
        if (b.length > 3) {
          b[1] = int(rng, 256);
          b[2] = rng() < 0.8 ? int(rng, 21) : int(rng, 256);
        }
        break;
      case 7: { // inserted option with random content
        if (b.length >= 240) {
          const len = rng() < 0.2 ? 255 : int(rng, 24);
          const data = Uint8Array.from({ length: len }, () => (rng() < 0.3 ? INTERESTING[int(rng, INTERESTING.length)]! : int(rng, 256)));
          const code = CODES[int(rng, CODES.length)]!;
          b = concat(b.subarray(0, 240), Uint8Array.of(code, rng() < 0.8 ? len : int(rng, 256)), data, b.subarray(240));
        }
        break;
      }
      case 8: // garbage appended
        b = concat(b, Uint8Array.from({ length: int(rng, 64) }, () => int(rng, 256)));
        break;
      case 9: { // duplicate a slice elsewhere
        if (b.length > 8) {
          const from = int(rng, b.length - 4);
          const piece = copyBytes(b, from, Math.min(b.length, from + 1 + int(rng, 32)));
          const to = int(rng, b.length);
          b = concat(b.subarray(0, to), piece, b.subarray(to));
        }
        break;
      }
      case 10: // op and cookie damage
        if (b.length > 239) b[rng() < 0.5 ? 0 : 236 + int(rng, 4)] = int(rng, 4);
        break;
    }
  }
  return b;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const GETTERS: Array<(o: DhcpOptions) => unknown> = [
  (o) => o.getMessageType(), (o) => o.getSubnetMask(), (o) => o.getRouters(), (o) => o.getDnsServers(),
  (o) => o.getHostName(), (o) => o.getDomainName(), (o) => o.getBroadcastAddress(), (o) => o.getNtpServers(),
  (o) => o.getPxeVendorOptions(), (o) => o.getRequestedIp(), (o) => o.getLeaseTime(), (o) => o.getServerId(),
  (o) => o.getParameterList(), (o) => o.getMaxMessageSize(), (o) => o.getRenewalTime(), (o) => o.getRebindingTime(),
  (o) => o.getVendorClass(), (o) => o.getClientId(), (o) => o.getTftpServerName(), (o) => o.getBootFileName(),
  (o) => o.getUserClass(), (o) => o.getRelayAgentInfo(), (o) => o.getClientArch(), (o) => o.getClientNdi(),
  (o) => o.getClientUuid(), (o) => o.getDomainSearch(), (o) => o.getClasslessRoutes(),
  (o) => o.getVendorIdentifyingClass(), (o) => o.getVendorIdentifyingInfo(), (o) => o.getIpxeOptions(),
];

export interface Outcome {
  /** "ok" or the DhcpParseError reason of the packet parse. */
  result: string;
  /** Option decode failures seen by the typed getters, by reason. */
  optionErrors: string[];
}

function summary(p: DhcpPacket): string {
  return JSON.stringify({ ...p, chaddr: hex(p.chaddr), options: [...p.options].map(([c, d]) => [c, hex(d)]) });
}

/**
 * Parses, decodes every typed option, describes, formats and re-parses. Throws (a non-codec error or
 * a round-trip mismatch) only on a bug.
 */
export function exercise(buf: Uint8Array): Outcome {
  let p: DhcpPacket;
  try {
    p = parsePacket(buf);
  } catch (e) {
    if (e instanceof DhcpParseError) return { result: e.reason, optionErrors: [] };
    throw e;
  }
  const optionErrors: string[] = [];
  for (const get of GETTERS) {
    try {
      get(p.options);
    } catch (e) {
      if (!(e instanceof DhcpParseError)) throw e;
      optionErrors.push(e.reason);
    }
  }
  describePacket(p);
  let out: Uint8Array;
  try {
    out = formatPacket(p, { maxSize: 1500 });
  } catch (e) {
    if (e instanceof DhcpEncodeError && e.reason === "too-big") return { result: "ok-too-big-to-reformat", optionErrors };
    throw e;
  }
  const again = parsePacket(out);
  if (summary(again) !== summary(p)) {
    throw new Error(`round-trip mismatch for packet ${hex(buf)}`);
  }
  return { result: "ok", optionErrors };
}
