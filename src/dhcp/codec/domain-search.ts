// Option 119, Domain Search (RFC 3397): a list of domain names in RFC 1035 wire format, possibly using
// compression pointers whose offsets count from the start of the (RFC 3396 concatenated) option data.
// Decoding follows pointers with a strictly decreasing bound, so a pointer loop is an error, never a
// hang; encoding writes no pointers (allowed by RFC 3397 and simplest to get right).
// Names print in DNS presentation form: "." inside a label as "\.", other odd bytes as "\DDD".

import { DhcpEncodeError, DhcpParseError } from "./errors.ts";

const WHERE = "option 119 (Domain Search)";
const MAX_NAME = 255;
const MAX_LABEL = 63;

function fail(reason: string, detail: string): DhcpParseError {
  return new DhcpParseError(reason, `decode ${WHERE}: ${detail}`);
}

export function decodeDomainSearch(d: Uint8Array): string[] {
  const names: string[] = [];
  let pos = 0;
  while (pos < d.length) {
    const { name, next } = readName(d, pos);
    names.push(name);
    pos = next;
  }
  return names;
}

/** Reads the name starting at `start`; `next` is the offset after it in the uncompressed stream. */
function readName(d: Uint8Array, start: number): { name: string; next: number } {
  const labels: string[] = [];
  let p = start;
  let limit = start; // every pointer must point below the previous bound: guarantees termination
  let next = -1;
  let wire = 1; // the final zero byte
  for (;;) {
    if (p >= d.length) throw fail("truncated-name", `name at offset ${start} runs past the end (${d.length} bytes)`);
    const len = d[p]!;
    if (len === 0) {
      if (next < 0) next = p + 1;
      break;
    }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (p + 1 >= d.length) throw fail("truncated-name", `compression pointer at offset ${p} is cut off`);
      const target = ((len & 0x3f) << 8) | d[p + 1]!;
      if (target >= limit) {
        throw fail("pointer-loop", `compression pointer at offset ${p} points to ${target}, not before ${limit}`);
      }
      if (next < 0) next = p + 2;
      limit = target;
      p = target;
      continue;
    }
    if (kind !== 0) throw fail("bad-label", `label type 0x${kind.toString(16)} at offset ${p} is not supported`);
    if (p + 1 + len > d.length) {
      throw fail("truncated-name", `label at offset ${p} claims ${len} bytes but ${d.length - p - 1} remain`);
    }
    wire += len + 1;
    if (wire > MAX_NAME) throw fail("name-too-long", `name at offset ${start} is longer than ${MAX_NAME} bytes`);
    labels.push(presentLabel(d, p + 1, p + 1 + len));
    p += 1 + len;
  }
  return { name: labels.length === 0 ? "." : labels.join("."), next };
}

function presentLabel(d: Uint8Array, from: number, to: number): string {
  let s = "";
  for (let i = from; i < to; i++) {
    const c = d[i]!;
    if (c === 0x2e || c === 0x5c) s += "\\" + String.fromCharCode(c);
    else if (c > 0x20 && c < 0x7f) s += String.fromCharCode(c);
    else s += "\\" + c.toString().padStart(3, "0");
  }
  return s;
}

export function encodeDomainSearch(names: readonly string[]): Uint8Array {
  const parts: number[] = [];
  for (const n of names) for (const b of nameWire(n)) parts.push(b);
  return Uint8Array.from(parts);
}

/** One name in uncompressed wire form; accepts the presentation escapes decodeDomainSearch emits. */
export function nameWire(name: string): number[] {
  const bad = (why: string) => new DhcpEncodeError("bad-domain", `encode ${WHERE}: invalid name "${name}": ${why}`);
  const out: number[] = [];
  if (name === "." || name === "") return [0];
  let label: number[] = [];
  const flush = () => {
    if (label.length === 0) throw bad("empty label");
    if (label.length > MAX_LABEL) throw bad(`label longer than ${MAX_LABEL} bytes`);
    out.push(label.length, ...label);
    label = [];
  };
  for (let i = 0; i < name.length; i++) {
    const ch = name[i]!;
    if (ch === ".") {
      flush();
      if (i === name.length - 1) break; // trailing dot: fully qualified
      continue;
    }
    if (ch === "\\") {
      const ddd = name.slice(i + 1, i + 4);
      if (/^[0-9]{3}$/.test(ddd)) {
        const v = Number(ddd);
        if (v > 255) throw bad(`escape "\\${ddd}" is above 255`);
        label.push(v);
        i += 3;
      } else if (i + 1 < name.length) {
        label.push(name.charCodeAt(i + 1));
        i += 1;
      } else {
        throw bad("dangling backslash");
      }
      continue;
    }
    const c = name.charCodeAt(i);
    if (c > 0x7e || c < 0x21) throw bad(`character ${JSON.stringify(ch)} must be escaped as \\DDD`);
    label.push(c);
  }
  if (label.length > 0) flush();
  out.push(0);
  if (out.length > MAX_NAME) throw bad(`longer than ${MAX_NAME} bytes in wire form`);
  return out;
}
