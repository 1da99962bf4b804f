// Range requests (RFC 9110 section 14): one byte range per request. Installers resume large
// downloads with "bytes=N-"; anaconda and some HTTP-boot firmware probe with "bytes=0-0".

export type RangeAnswer =
  | { kind: "full" } // no Range, one we ignore (several ranges, other units, bad syntax)
  | { kind: "partial"; start: number; end: number } // end exclusive
  | { kind: "unsatisfiable" }; // 416

/**
 * Interpret a Range header for a representation of `size` bytes. A syntactically invalid header
 * or a multi-range request is ignored (a full 200 answer is always allowed, RFC 9110 14.2).
 */
export function parseRange(header: string | null | undefined, size: number): RangeAnswer {
  if (header === null || header === undefined) return { kind: "full" };
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m) return { kind: "full" };
  const [, first = "", last = ""] = m;
  if (first === "" && last === "") return { kind: "full" };
  if (first === "") {
    // Suffix range: the last N bytes.
    const n = Number(last);
    if (n === 0) return { kind: "unsatisfiable" };
    return size === 0 ? { kind: "unsatisfiable" } : { kind: "partial", start: Math.max(0, size - n), end: size };
  }
  const start = Number(first);
  if (!Number.isSafeInteger(start)) return { kind: "unsatisfiable" };
  if (last !== "" && Number(last) < start) return { kind: "full" }; // invalid: ignore
  if (start >= size) return { kind: "unsatisfiable" };
  const end = last === "" ? size : Math.min(size, Number(last) + 1);
  return { kind: "partial", start, end };
}
