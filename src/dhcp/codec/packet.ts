// BOOTP/DHCPv4 packets (RFC 951, 1542, 2131): parse and format, pure over bytes.
//
// Decisions a reader needs:
// - A packet of at least 236 bytes whose vendor area does not start with the magic cookie
//   99.130.83.99 is plain BOOTP (RFC 951): it parses with no options; the vendor area is ignored,
//   as RFC 951 leaves its content to vendors. formatPacket always writes the cookie, which BOOTP
//   clients accept (RFC 1497 uses the same cookie).
// - The options field may end without an END option (the packet end terminates it); bytes after
//   END are padding and ignored. A code with its length byte or data cut off is an error.
// - Option 52 (overload) is honoured only in the options field, once, with length 1 and value 1-3;
//   options then continue in file and then sname (RFC 2131 4.1 order). Option 52 inside file or sname
//   is an error (a nested overload would be a loop). Overloaded fields read as "" in the packet and
//   option 52 itself is not kept: formatPacket decides overloading from the space it needs.
// - Every instance of a code is concatenated in that order (RFC 3396), so a long option split by the
//   sender reads as one value.
// - sname and file are read up to the first NUL, one char per byte.

import { concatBytes, copyBytes, cString, hex, ipString, stringBytes, u16, u32, writeIp } from "./bytes.ts";
import { DhcpEncodeError, DhcpParseError } from "./errors.ts";
import { OPT } from "./option-codes.ts";
import { DhcpOptions } from "./options.ts";

export const BOOTREQUEST = 1;
export const BOOTREPLY = 2;
export const MAGIC_COOKIE = Uint8Array.of(99, 130, 83, 99);
/** Fixed header up to the vendor area. */
export const HEADER_SIZE = 236;
/** RFC 1542 2.1: BOOTP relays and old clients drop anything shorter. */
export const BOOTP_MIN_SIZE = 300;
/** RFC 2131: every host accepts 576-byte IP datagrams, i.e. 548 bytes of DHCP after IP and UDP. */
export const DEFAULT_MAX_SIZE = 576 - 28;

const SNAME_OFF = 44;
const SNAME_LEN = 64;
const FILE_OFF = 108;
const FILE_LEN = 128;
const OPTIONS_OFF = 240;

export interface DhcpPacket {
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  /** hlen bytes of client hardware address. */
  chaddr: Uint8Array;
  sname: string;
  file: string;
  options: DhcpOptions;
}

/** Broadcast bit of `flags` (RFC 2131 figure 2). */
export const FLAG_BROADCAST = 0x8000;

export function newPacket(init: Partial<DhcpPacket> = {}): DhcpPacket {
  const chaddr = init.chaddr ?? new Uint8Array(6);
  return {
    op: BOOTREQUEST,
    htype: 1,
    hlen: chaddr.length,
    hops: 0,
    xid: 0,
    secs: 0,
    flags: 0,
    ciaddr: "0.0.0.0",
    yiaddr: "0.0.0.0",
    siaddr: "0.0.0.0",
    giaddr: "0.0.0.0",
    sname: "",
    file: "",
    options: new DhcpOptions(),
    ...init,
    chaddr,
  };
}

function fail(reason: string, detail: string): DhcpParseError {
  return new DhcpParseError(reason, `parse DHCP packet: ${detail}`);
}

export function parsePacket(buf: Uint8Array): DhcpPacket {
  if (buf.length < HEADER_SIZE) {
    throw fail("short-packet", `${buf.length} bytes is shorter than the ${HEADER_SIZE}-byte BOOTP header`);
  }
  const op = buf[0]!;
  if (op !== BOOTREQUEST && op !== BOOTREPLY) throw fail("bad-op", `op ${op} is neither BOOTREQUEST (1) nor BOOTREPLY (2)`);
  const hlen = buf[2]!;
  if (hlen > 16) throw fail("bad-hlen", `hlen ${hlen} exceeds the 16-byte chaddr field`);

  const options = new DhcpOptions();
  let overload = 0;
  const hasCookie =
    buf.length >= OPTIONS_OFF && buf[236] === 99 && buf[237] === 130 && buf[238] === 83 && buf[239] === 99;
  if (hasCookie) {
    overload = readArea(buf, OPTIONS_OFF, buf.length, "options field", options, true);
    if (overload & 1) readArea(buf, FILE_OFF, FILE_OFF + FILE_LEN, "file field", options, false);
    if (overload & 2) readArea(buf, SNAME_OFF, SNAME_OFF + SNAME_LEN, "sname field", options, false);
  }

  return {
    op,
    htype: buf[1]!,
    hlen,
    hops: buf[3]!,
    xid: u32(buf, 4),
    secs: u16(buf, 8),
    flags: u16(buf, 10),
    ciaddr: ipString(buf, 12),
    yiaddr: ipString(buf, 16),
    siaddr: ipString(buf, 20),
    giaddr: ipString(buf, 24),
    chaddr: copyBytes(buf, 28, 28 + hlen),
    sname: overload & 2 ? "" : cString(buf, SNAME_OFF, SNAME_OFF + SNAME_LEN),
    file: overload & 1 ? "" : cString(buf, FILE_OFF, FILE_OFF + FILE_LEN),
    options,
  };
}

/** Reads options in buf[start, end) into `options`; returns the overload value found (main area only). */
function readArea(buf: Uint8Array, start: number, end: number, where: string, options: DhcpOptions, main: boolean): number {
  let overload = 0;
  let i = start;
  while (i < end) {
    const code = buf[i]!;
    if (code === OPT.PAD) {
      i++;
      continue;
    }
    if (code === OPT.END) break;
    if (i + 1 >= end) throw fail("truncated-option", `option ${code} has no length byte at the end of the ${where}`);
    const len = buf[i + 1]!;
    const left = end - i - 2;
    if (len > left) {
      throw fail(
        "truncated-option",
        `option ${code} claims ${len} bytes but ${left} ${left === 1 ? "remains" : "remain"} in the ${where} at offset ${i}`,
      );
    }
    if (code === OPT.OVERLOAD) {
      if (!main) throw fail("nested-overload", `option 52 (overload) inside the ${where}`);
      if (overload) throw fail("bad-overload", "option 52 (overload) appears more than once");
      const v = buf[i + 2];
      if (len !== 1 || v === undefined || v < 1 || v > 3) {
        throw fail("bad-overload", `option 52 (overload) must be 1 byte of value 1-3, got ${len} bytes "${hex(buf.subarray(i + 2, i + 2 + len))}"`);
      }
      overload = v;
    } else {
      // Copies: the packet must not alias a receive buffer. A repeated code (RFC 3396) is rare, so
      // concatenating on each repeat costs less than collecting lists for every packet.
      const prev = options.get(code);
      const data = copyBytes(buf, i + 2, i + 2 + len);
      options.setParsed(code, prev ? concatBytes([prev, data]) : data);
    }
    i += 2 + len;
  }
  return overload;
}


export interface FormatOptions {
  /**
   * Largest DHCP message (UDP payload) to produce; default 548. For a reply, pass
   * replyMaxSize(request) so that the client's option 57 is respected.
   */
  maxSize?: number;
  /** Allow putting options into file and then sname when they are empty (default true). */
  overload?: boolean;
}

/**
 * The DHCP payload size a reply to `request` may use: the client's option 57 (which counts the whole
 * IP datagram, hence minus 28 bytes of IP and UDP headers), never below RFC 2131's 576, and capped by
 * `mtu` because a fragmented reply is often lost by PXE ROMs. A malformed option 57 counts as absent.
 */
export function replyMaxSize(request: DhcpPacket, mtu = 1500): number {
  let v = 576;
  const d = request.options.get(OPT.MAX_MESSAGE_SIZE);
  if (d && d.length === 2) v = Math.max(576, u16(d, 0));
  return Math.min(v, Math.max(576, mtu)) - 28;
}

interface Chunk {
  code: number;
  data: Uint8Array;
}

function encodeFail(reason: string, detail: string): DhcpEncodeError {
  return new DhcpEncodeError(reason, `format DHCP packet: ${detail}`);
}

export function formatPacket(p: DhcpPacket, opts: FormatOptions = {}): Uint8Array {
  const maxSize = opts.maxSize ?? DEFAULT_MAX_SIZE;
  if (!Number.isInteger(maxSize) || maxSize < BOOTP_MIN_SIZE || maxSize > 65535) {
    throw encodeFail("bad-max-size", `maxSize ${maxSize} is not an integer in ${BOOTP_MIN_SIZE}..65535`);
  }
  checkHeader(p);

  let need = 1; // END
  for (const [, data] of p.options) need += 2 * Math.max(1, Math.ceil(data.length / 255)) + data.length;

  const mainCap = maxSize - OPTIONS_OFF;
  let placement = need <= mainCap ? place(p.options, [mainCap - 1]) : undefined;
  let overload = 0;
  if (!placement) {
    const fileFree = p.file === "";
    const snameFree = p.sname === "";
    if (opts.overload === false || (!fileFree && !snameFree)) {
      const why = opts.overload === false ? "overload is disabled" : "file and sname are in use";
      throw encodeFail("too-big", `options need ${need} bytes but ${mainCap} fit within maxSize ${maxSize} and ${why}`);
    }
    // Main area keeps 3 bytes for option 52 and 1 for END; file and sname keep 1 for END each.
    placement = place(p.options, [mainCap - 4, fileFree ? FILE_LEN - 1 : 0, snameFree ? SNAME_LEN - 1 : 0]);
    if (!placement) {
      const into = [fileFree && "file", snameFree && "sname"].filter(Boolean).join(" and ");
      throw encodeFail("too-big", `options need ${need} bytes, more than fit within maxSize ${maxSize} even with overload into ${into}`);
    }
    overload = (placement[1]!.length ? 1 : 0) | (placement[2]!.length ? 2 : 0);
  }

  let mainLen = 0;
  for (const c of placement[0]!) mainLen += 2 + c.data.length;
  const total = Math.max(BOOTP_MIN_SIZE, OPTIONS_OFF + mainLen + (overload ? 3 : 0) + 1);
  const buf = new Uint8Array(total);
  writeHeader(buf, p, overload);
  buf.set(MAGIC_COOKIE, 236);
  let o = writeChunks(buf, OPTIONS_OFF, placement[0]!);
  if (overload) {
    buf[o++] = OPT.OVERLOAD;
    buf[o++] = 1;
    buf[o++] = overload;
  }
  buf[o] = OPT.END;
  if (overload & 1) buf[writeChunks(buf, FILE_OFF, placement[1]!)] = OPT.END;
  if (overload & 2) buf[writeChunks(buf, SNAME_OFF, placement[2]!)] = OPT.END;
  return buf;
}

/**
 * Lays options out over areas of the given capacities, in order (RFC 3396 concatenates options, then
 * file, then sname, so order across areas is preserved). An option of up to 255 bytes goes whole into
 * the first area with room: splitting it would rely on the client implementing RFC 3396. An option
 * longer than 255 bytes must be split anyway, so its pieces fill each area to the brim.
 * Returns undefined when the options do not fit.
 */
function place(options: DhcpOptions, caps: number[]): Chunk[][] | undefined {
  const out: Chunk[][] = caps.map(() => []);
  let area = 0;
  let used = 0;
  for (const [code, data] of options) {
    if (data.length <= 255) {
      while (area < caps.length && used + 2 + data.length > caps[area]!) {
        area++;
        used = 0;
      }
      if (area >= caps.length) return undefined;
      out[area]!.push({ code, data });
      used += 2 + data.length;
      continue;
    }
    let o = 0;
    while (o < data.length) {
      const free = area < caps.length ? caps[area]! - used : 0;
      if (area >= caps.length) return undefined;
      if (free < 3) {
        area++;
        used = 0;
        continue;
      }
      const n = Math.min(255, free - 2, data.length - o);
      out[area]!.push({ code, data: data.subarray(o, o + n) });
      used += 2 + n;
      o += n;
    }
  }
  return out;
}

function writeChunks(buf: Uint8Array, at: number, chunks: Chunk[]): number {
  let o = at;
  for (const c of chunks) {
    buf[o] = c.code;
    buf[o + 1] = c.data.length;
    buf.set(c.data, o + 2);
    o += 2 + c.data.length;
  }
  return o;
}

function checkByte(v: number, what: string, max = 0xff): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw encodeFail("bad-header", `${what} ${v} is not an integer in 0..${max}`);
}

function checkHeader(p: DhcpPacket): void {
  checkByte(p.op, "op");
  checkByte(p.htype, "htype");
  checkByte(p.hops, "hops");
  checkByte(p.xid, "xid", 0xffffffff);
  checkByte(p.secs, "secs", 0xffff);
  checkByte(p.flags, "flags", 0xffff);
  if (!Number.isInteger(p.hlen) || p.hlen < 0 || p.hlen > 16) {
    throw encodeFail("bad-hlen", `hlen ${p.hlen} exceeds the 16-byte chaddr field`);
  }
  if (p.chaddr.length !== p.hlen) {
    throw encodeFail("bad-hlen", `chaddr "${hex(p.chaddr, ":")}" is ${p.chaddr.length} bytes but hlen is ${p.hlen}`);
  }
}

function fieldBytes(s: string, field: string, size: number): Uint8Array {
  const b = stringBytes(s, field);
  if (b.includes(0)) throw encodeFail("bad-string", `${field} "${s}" contains a NUL byte`);
  if (b.length > size) throw encodeFail("bad-string", `${field} "${s}" is ${b.length} bytes, more than ${size}`);
  return b;
}

function writeHeader(buf: Uint8Array, p: DhcpPacket, overload: number): void {
  buf[0] = p.op;
  buf[1] = p.htype;
  buf[2] = p.hlen;
  buf[3] = p.hops;
  buf[4] = p.xid >>> 24;
  buf[5] = (p.xid >>> 16) & 0xff;
  buf[6] = (p.xid >>> 8) & 0xff;
  buf[7] = p.xid & 0xff;
  buf[8] = p.secs >>> 8;
  buf[9] = p.secs & 0xff;
  buf[10] = p.flags >>> 8;
  buf[11] = p.flags & 0xff;
  writeIp(buf, 12, p.ciaddr, "ciaddr");
  writeIp(buf, 16, p.yiaddr, "yiaddr");
  writeIp(buf, 20, p.siaddr, "siaddr");
  writeIp(buf, 24, p.giaddr, "giaddr");
  buf.set(p.chaddr, 28);
  if (!(overload & 2)) buf.set(fieldBytes(p.sname, "sname", SNAME_LEN), SNAME_OFF);
  if (!(overload & 1)) buf.set(fieldBytes(p.file, "file", FILE_LEN), FILE_OFF);
}

/**
 * The client hardware address as text: "aa:bb:cc:dd:ee:ff" for Ethernet (htype 1); other hardware
 * types carry dnsmasq's "type-" prefix in hex ("20-..." for InfiniBand) so that addresses of different
 * types never compare equal. Uses the first hlen bytes (at most 16).
 */
export function macString(chaddr: Uint8Array, htype = 1, hlen = chaddr.length): string {
  const n = Math.max(0, Math.min(hlen, chaddr.length, 16));
  const s = hex(chaddr.subarray(0, n), ":");
  return htype === 1 ? s : `${htype.toString(16).padStart(2, "0")}-${s}`;
}
