// Option negotiation for read requests: blksize (RFC 2348), tsize and timeout (RFC 2349),
// windowsize (RFC 7440). The OACK carries only the options accepted, in the order requested; an
// option the server does not know or cannot honour is left out, which RFC 2347 says means "no".

import type { TftpOptions } from "./packet.ts";

export const DEFAULT_BLKSIZE = 512;
/** Ethernet MTU 1500 - 20 (IPv4) - 8 (UDP) - 4 (TFTP header). */
export const ETHERNET_BLKSIZE = 1468;
export const MAX_BLKSIZE = 65464;

export interface OptionLimits {
  /** Largest block the path to the client carries (from the interface MTU). */
  maxBlksize: number;
  /** Largest windowsize granted. */
  maxWindowsize: number;
  /** Cap on blksize x windowsize: the bytes one transfer keeps in flight (and in memory). */
  maxWindowBytes: number;
}

export const DEFAULT_LIMITS: OptionLimits = { maxBlksize: ETHERNET_BLKSIZE, maxWindowsize: 64, maxWindowBytes: 1 << 20 };

export interface Negotiated {
  blksize: number;
  windowsize: number;
  /** The client's retransmission timeout (timeout option), when it sent an acceptable one. */
  timeoutMs: number | undefined;
  /** Options for the OACK; empty means no OACK (the transfer starts with DATA 1). */
  oack: TftpOptions;
  /** Requested options left out, with the reason (for a debug log line). */
  refused: string[];
}

function integer(value: string): number | undefined {
  return /^\d{1,10}$/.test(value.trim()) ? Number(value.trim()) : undefined;
}

/**
 * `size` is the file's size when known and meaningful (octet mode); tsize is only answered then.
 * Never throws: a bad value is a refused option, not a failed transfer.
 */
export function negotiate(requested: TftpOptions, size: number | undefined, limits: OptionLimits = DEFAULT_LIMITS): Negotiated {
  const first = new Map<string, string>();
  for (const [name, value] of requested) if (!first.has(name)) first.set(name, value);

  const refused: string[] = [];
  let blksize = DEFAULT_BLKSIZE;
  const accepted = new Map<string, string>();

  const b = first.get("blksize");
  if (b !== undefined) {
    const n = integer(b);
    if (n === undefined || n < 8) refused.push(`blksize ${JSON.stringify(b)}: not an integer of at least 8`);
    else {
      blksize = Math.min(n, limits.maxBlksize, MAX_BLKSIZE);
      accepted.set("blksize", String(blksize));
    }
  }

  let windowsize = 1;
  const w = first.get("windowsize");
  if (w !== undefined) {
    const n = integer(w);
    if (n === undefined || n < 1 || n > 65535) refused.push(`windowsize ${JSON.stringify(w)}: not an integer from 1 to 65535`);
    else {
      windowsize = Math.max(1, Math.min(n, limits.maxWindowsize, Math.floor(limits.maxWindowBytes / blksize)));
      accepted.set("windowsize", String(windowsize));
    }
  }

  let timeoutMs: number | undefined;
  const t = first.get("timeout");
  if (t !== undefined) {
    const n = integer(t);
    if (n === undefined || n < 1 || n > 255) refused.push(`timeout ${JSON.stringify(t)}: not an integer from 1 to 255`);
    else {
      timeoutMs = n * 1000;
      accepted.set("timeout", String(n));
    }
  }

  if (first.has("tsize")) {
    if (size === undefined) refused.push("tsize: the size is not known before sending");
    else accepted.set("tsize", String(size));
  }

  for (const name of first.keys()) {
    if (!["blksize", "windowsize", "timeout", "tsize"].includes(name)) refused.push(`${name}: not supported`);
  }

  const oack: TftpOptions = [];
  for (const name of first.keys()) {
    const v = accepted.get(name);
    if (v !== undefined) oack.push([name, v]);
  }
  return { blksize, windowsize, timeoutMs, oack, refused };
}
