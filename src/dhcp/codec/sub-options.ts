// Encapsulated sub-options (code, length, data) as used inside options 43, 82, 125 and 175.
// Options 43 and 175 follow RFC 2132 encapsulation (pad 0 and end 255 are markers); RFC 3046 relay
// sub-options (82) have no pad or end, so codes 0 and 255 are ordinary codes there.

import { DhcpEncodeError, DhcpParseError } from "./errors.ts";

export interface SubOption {
  code: number;
  data: Uint8Array;
}

/**
 * Parses a sub-option list. `where` names the container for errors ("option 82"). With `padEnd`,
 * 0 is skipped and 255 ends the list (trailing bytes after it are ignored, as in the main area).
 */
export function parseSubOptions(d: Uint8Array, where: string, padEnd: boolean): SubOption[] {
  const out: SubOption[] = [];
  let i = 0;
  while (i < d.length) {
    const code = d[i]!;
    if (padEnd && code === 0) {
      i++;
      continue;
    }
    if (padEnd && code === 255) break;
    if (i + 1 >= d.length) {
      throw new DhcpParseError("truncated-suboption", `decode ${where}: sub-option ${code} has no length byte`);
    }
    const len = d[i + 1]!;
    const left = d.length - i - 2;
    if (len > left) {
      throw new DhcpParseError(
        "truncated-suboption",
        `decode ${where}: sub-option ${code} claims ${len} bytes but ${left} remain`,
      );
    }
    out.push({ code, data: d.subarray(i + 2, i + 2 + len) });
    i += 2 + len;
  }
  return out;
}

/** Encodes sub-options in order; each must fit one length byte. `end` appends 255 (options 43/175). */
export function formatSubOptions(subs: readonly SubOption[], where: string, end: boolean): Uint8Array {
  let n = end ? 1 : 0;
  for (const s of subs) {
    if (!Number.isInteger(s.code) || s.code < 0 || s.code > 255) {
      throw new DhcpEncodeError("bad-suboption", `encode ${where}: sub-option code ${s.code} is not 0-255`);
    }
    if (s.data.length > 255) {
      throw new DhcpEncodeError(
        "bad-suboption",
        `encode ${where}: sub-option ${s.code} is ${s.data.length} bytes, more than 255`,
      );
    }
    n += 2 + s.data.length;
  }
  const out = new Uint8Array(n);
  let o = 0;
  for (const s of subs) {
    out[o] = s.code;
    out[o + 1] = s.data.length;
    out.set(s.data, o + 2);
    o += 2 + s.data.length;
  }
  if (end) out[o] = 255;
  return out;
}
