// RFC 3925 vendor-identifying options, keyed by IANA enterprise number:
//   124 Vendor-Identifying Vendor Class: per enterprise, a list of length-prefixed opaque class data;
//   125 Vendor-Identifying Vendor-Specific Information: per enterprise, encapsulated sub-options.

import { u32 } from "./bytes.ts";
import { DhcpEncodeError, DhcpParseError } from "./errors.ts";
import { formatSubOptions, parseSubOptions, type SubOption } from "./sub-options.ts";

export interface VendorClassEntry {
  enterprise: number;
  classes: Uint8Array[];
}

export interface VendorInfoEntry {
  enterprise: number;
  subOptions: SubOption[];
}

/** Splits the enterprise blocks shared by both options: u32 enterprise, u8 length, data. */
function blocks(code: number, d: Uint8Array): Array<{ enterprise: number; data: Uint8Array; at: number }> {
  const out: Array<{ enterprise: number; data: Uint8Array; at: number }> = [];
  let i = 0;
  while (i < d.length) {
    if (i + 5 > d.length) {
      throw new DhcpParseError("truncated-vendor", `decode option ${code}: enterprise block at offset ${i} needs 5 header bytes but ${d.length - i} remain`);
    }
    const enterprise = u32(d, i);
    const len = d[i + 4]!;
    if (i + 5 + len > d.length) {
      throw new DhcpParseError("truncated-vendor", `decode option ${code}: enterprise ${enterprise} claims ${len} bytes but ${d.length - i - 5} remain`);
    }
    out.push({ enterprise, data: d.subarray(i + 5, i + 5 + len), at: i });
    i += 5 + len;
  }
  return out;
}

export function decodeVendorClass(d: Uint8Array): VendorClassEntry[] {
  return blocks(124, d).map(({ enterprise, data }) => {
    const classes: Uint8Array[] = [];
    let i = 0;
    while (i < data.length) {
      const len = data[i]!;
      if (i + 1 + len > data.length) {
        throw new DhcpParseError("truncated-vendor", `decode option 124: class data of enterprise ${enterprise} claims ${len} bytes but ${data.length - i - 1} remain`);
      }
      classes.push(data.subarray(i + 1, i + 1 + len));
      i += 1 + len;
    }
    return { enterprise, classes };
  });
}

export function decodeVendorInfo(d: Uint8Array): VendorInfoEntry[] {
  return blocks(125, d).map(({ enterprise, data }) => ({
    enterprise,
    subOptions: parseSubOptions(data, `option 125 enterprise ${enterprise}`, false),
  }));
}

function block(code: number, enterprise: number, data: Uint8Array): number[] {
  if (!Number.isInteger(enterprise) || enterprise < 0 || enterprise > 0xffffffff) {
    throw new DhcpEncodeError("bad-vendor", `encode option ${code}: enterprise number ${enterprise} is not a u32`);
  }
  if (data.length > 255) {
    throw new DhcpEncodeError("bad-vendor", `encode option ${code}: enterprise ${enterprise} data is ${data.length} bytes, more than 255`);
  }
  return [enterprise >>> 24, (enterprise >>> 16) & 0xff, (enterprise >>> 8) & 0xff, enterprise & 0xff, data.length, ...data];
}

export function encodeVendorClass(entries: readonly VendorClassEntry[]): Uint8Array {
  const out: number[] = [];
  for (const e of entries) {
    const data: number[] = [];
    for (const c of e.classes) {
      if (c.length > 255) throw new DhcpEncodeError("bad-vendor", `encode option 124: a class of enterprise ${e.enterprise} is more than 255 bytes`);
      data.push(c.length, ...c);
    }
    out.push(...block(124, e.enterprise, Uint8Array.from(data)));
  }
  return Uint8Array.from(out);
}

export function encodeVendorInfo(entries: readonly VendorInfoEntry[]): Uint8Array {
  const out: number[] = [];
  for (const e of entries) {
    out.push(...block(125, e.enterprise, formatSubOptions(e.subOptions, `option 125 enterprise ${e.enterprise}`, false)));
  }
  return Uint8Array.from(out);
}
