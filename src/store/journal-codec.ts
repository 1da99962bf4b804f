// Journal lines: one JSON object per line, checksummed, still readable with cat/jq:
//
//   {"Crc":"1c291ca3","Seq":7,"Time":"2026-01-02T03:04:05.678Z","Type":"machines","Action":"update","Key":"…","Object":{…}}
//
// Crc is the CRC-32 (hex, 8 digits) of the UTF-8 bytes after the `{"Crc":"xxxxxxxx",` prefix up
// to the end of the line, so a reader verifies the bytes exactly as written, without
// re-serialising. A delete carries the object as it was (lines written before it did carry no
// Object; replay ignores a delete's Object). Pure functions; the file store does the I/O.

import { SocleError } from "../model/errors.ts";
import type { ChangeAction, ModelObject } from "../model/object.ts";

export interface JournalEntry {
  Seq: number;
  Time: string;
  Type: string;
  Action: ChangeAction;
  Key: string;
  /** For delete, the object as it was; absent in lines written before deletes carried it. */
  Object?: ModelObject;
}

export interface DecodedJournal {
  entries: JournalEntry[];
  /** Bytes up to the end of the last good line; the file should be truncated to this. */
  validBytes: number;
  /** Set when the end of the file is a torn write (crash mid-append): what was dropped. */
  torn: { line: number; offset: number; droppedBytes: number; reason: string } | null;
}

const PREFIX = '{"Crc":"';
const PREFIX_LEN = PREFIX.length + 8 + 2; // {"Crc":"xxxxxxxx",
const NEWLINE = 10;
const ACTIONS = new Set<string>(["create", "update", "delete"]);
const decoder = new TextDecoder("utf-8", { fatal: true });

export function crc32Hex(data: string | Uint8Array): string {
  return (Bun.hash.crc32(data) >>> 0).toString(16).padStart(8, "0");
}

/** One journal line, with its trailing newline. `objectJSON` is the object's JSON (null: none, as old deletes). */
export function encodeEntry(e: Omit<JournalEntry, "Object">, objectJSON: string | null): string {
  let rest =
    `"Seq":${e.Seq},"Time":${JSON.stringify(e.Time)},"Type":${JSON.stringify(e.Type)},` +
    `"Action":"${e.Action}","Key":${JSON.stringify(e.Key)}`;
  rest += objectJSON === null ? "}" : `,"Object":${objectJSON}}`;
  return `${PREFIX}${crc32Hex(rest)}",${rest}\n`;
}

/** Why the line's checksum does not verify, or null if it does. */
function checksumProblem(line: Uint8Array): string | null {
  if (line.length < PREFIX_LEN + 2) return "line too short";
  const head = String.fromCharCode(...line.subarray(0, PREFIX_LEN));
  if (!head.startsWith(PREFIX) || !head.endsWith('",')) return "no checksum prefix";
  const want = head.slice(PREFIX.length, PREFIX.length + 8);
  const got = crc32Hex(line.subarray(PREFIX_LEN));
  return want === got ? null : `checksum mismatch (stored ${want}, computed ${got})`;
}

/** The parsed line as an entry, or why it is not one. */
function checkShape(value: unknown): JournalEntry | string {
  const e = (value ?? {}) as Partial<JournalEntry>;
  if (!Number.isSafeInteger(e.Seq) || (e.Seq as number) < 1) return `bad Seq ${JSON.stringify(e.Seq)}`;
  if (typeof e.Time !== "string" || typeof e.Type !== "string" || typeof e.Key !== "string") {
    return "missing Time, Type or Key";
  }
  if (typeof e.Action !== "string" || !ACTIONS.has(e.Action)) return `bad Action ${JSON.stringify(e.Action)}`;
  if (e.Action !== "delete" && (e.Object === null || typeof e.Object !== "object" || Array.isArray(e.Object))) {
    return `${e.Action} without an Object`;
  }
  return e as JournalEntry;
}

/** Decode one line (without newline): the entry, or why it is not a good line. */
export function decodeLine(line: Uint8Array): JournalEntry | string {
  const problem = checksumProblem(line);
  if (problem) return problem;
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(line));
  } catch (err) {
    return `checksum matches but not JSON: ${(err as Error).message}`;
  }
  return checkShape(value);
}

/** Parse lines [0, end) as one JSON array (one parse call, not one per line), or null. */
function parseLines(bytes: Uint8Array, end: number): unknown[] | null {
  try {
    // A newline cannot occur inside a JSON line (it would be escaped), so it separates values.
    const text = decoder.decode(bytes.subarray(0, end - 1)).replaceAll("\n", ",");
    const values: unknown = JSON.parse(`[${text}]`);
    return Array.isArray(values) ? values : null;
  } catch {
    return null; // some line is not JSON despite its checksum: decode line by line to find it
  }
}

/**
 * Where a segment's written bytes end: before the zeros it was preallocated with (file-store.ts).
 * A line never holds a NUL byte (JSON escapes control characters), so trailing zeros are never
 * part of one.
 */
export function writtenEnd(bytes: Uint8Array): number {
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0) end--;
  return end;
}

export interface DecodeOptions {
  /**
   * The most bytes one journal write spans (file-store.ts: JOURNAL_MAX_WRITE). A write in place
   * that a power cut stops may leave any of its pages on disk, so its later lines can be whole
   * behind a run of zeros where its earlier pages did not land. Only the last write can do that
   * (each is durable before the next starts), so a bad line holding a NUL byte, with the good
   * lines after it all within this many bytes of it, is that write torn: not corruption. Without
   * it, a bad line followed by a good one is always corruption.
   */
  tornWriteBytes?: number;
}

/**
 * Decode a journal segment. Zeros at its end are preallocated space, not data. A bad or
 * incomplete line followed only by bad lines is a torn tail (the crash hit an unacknowledged
 * write): reported in `torn`, to be truncated; so is a write torn in place (DecodeOptions). A bad
 * line followed by a good one otherwise, or a Seq out of order, is corruption of acknowledged data
 * and throws: starting would silently lose or reorder committed changes.
 */
export function decodeJournal(whole: Uint8Array, file: string, firstSeq?: number, opts: DecodeOptions = {}): DecodedJournal {
  const bytes = whole.subarray(0, writtenEnd(whole));
  // 1. The prefix of complete lines whose checksums verify (the whole file, normally).
  const starts: number[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    const nl = bytes.indexOf(NEWLINE, pos);
    if (nl < 0 || checksumProblem(bytes.subarray(pos, nl)) !== null) break;
    starts.push(pos);
    pos = nl + 1;
  }
  const lineEnd = (i: number) => (i + 1 < starts.length ? (starts[i + 1] as number) : pos);

  // 2. Parse and check that prefix.
  const parsed = starts.length > 0 ? parseLines(bytes, pos) : [];
  const entries: JournalEntry[] = [];
  let validBytes = 0;
  let bad: { line: number; offset: number; reason: string } | null = null;
  let prevSeq = firstSeq === undefined ? undefined : firstSeq - 1;
  for (let i = 0; i < starts.length; i++) {
    const start = starts[i] as number;
    const r = parsed ? checkShape(parsed[i]) : decodeLine(bytes.subarray(start, lineEnd(i) - 1));
    if (typeof r === "string") {
      bad = { line: i + 1, offset: start, reason: r };
      break;
    }
    if (prevSeq !== undefined && r.Seq !== prevSeq + 1) {
      throw corrupt(file, i + 1, start, `Seq ${r.Seq} follows Seq ${prevSeq} (want ${prevSeq + 1})`, 0);
    }
    prevSeq = r.Seq;
    entries.push(r);
    validBytes = lineEnd(i);
  }

  // 3. From the first bad line on: only bad lines may follow (a torn tail), else corruption.
  let lineNo = bad ? bad.line : starts.length;
  let at = bad ? lineEnd(bad.line - 1) : pos;
  let goodAfterBad = 0;
  let badHasNul = false;
  while (at < bytes.length) {
    lineNo++;
    const nl = bytes.indexOf(NEWLINE, at);
    if (nl < 0) {
      bad ??= { line: lineNo, offset: at, reason: "incomplete last line (no newline)" };
      break;
    }
    const r = decodeLine(bytes.subarray(at, nl));
    if (typeof r === "string") {
      if (!bad) badHasNul = bytes.subarray(at, nl).includes(0);
      bad ??= { line: lineNo, offset: at, reason: r };
    } else goodAfterBad++;
    at = nl + 1;
  }
  if (bad && goodAfterBad > 0) {
    const tornInPlace = badHasNul && opts.tornWriteBytes !== undefined && bytes.length - bad.offset <= opts.tornWriteBytes;
    if (!tornInPlace) throw corrupt(file, bad.line, bad.offset, bad.reason, goodAfterBad);
    bad = { ...bad, reason: `${bad.reason}; zeros inside the last write (cut short in place), ${goodAfterBad} of its lines after them dropped` };
  }
  return {
    entries,
    validBytes,
    torn: bad ? { ...bad, droppedBytes: bytes.length - validBytes } : null,
  };
}

function corrupt(file: string, line: number, offset: number, reason: string, following: number): SocleError {
  const tail =
    following > 0
      ? `; ${following} good entries follow it, so this is not a torn write from a crash`
      : "";
  return new SocleError(
    "Unavailable",
    "store",
    file,
    `cannot open store: journal "${file}" is corrupt at line ${line} (byte ${offset}): ${reason}${tail}. ` +
      `Restore the data directory from a backup, or truncate the file to ${offset} bytes to discard ` +
      `line ${line} and everything after it.`,
  );
}
