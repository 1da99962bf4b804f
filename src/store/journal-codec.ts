// Journal lines: one JSON object per line, checksummed, still readable with cat/jq:
//
//   {"Crc":"1c291ca3","Seq":7,"Time":"2026-01-02T03:04:05.678Z","Type":"machines","Action":"update","Key":"…","Object":{…}}
//
// Crc is the CRC-32 (hex, 8 digits) of the UTF-8 bytes after the `{"Crc":"xxxxxxxx",` prefix up
// to the end of the line, so a reader verifies the bytes exactly as written, without
// re-serialising. Deletes carry no Object. Pure functions; the file store does the I/O.

import { SocleError } from "../model/errors.ts";
import type { ChangeAction, ModelObject } from "../model/object.ts";

export interface JournalEntry {
  Seq: number;
  Time: string;
  Type: string;
  Action: ChangeAction;
  Key: string;
  /** Absent for delete. */
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

/** One journal line, with its trailing newline. `objectJSON` is the object's JSON (null for delete). */
export function encodeEntry(e: Omit<JournalEntry, "Object">, objectJSON: string | null): string {
  let rest =
    `"Seq":${e.Seq},"Time":${JSON.stringify(e.Time)},"Type":${JSON.stringify(e.Type)},` +
    `"Action":"${e.Action}","Key":${JSON.stringify(e.Key)}`;
  rest += objectJSON === null ? "}" : `,"Object":${objectJSON}}`;
  return `${PREFIX}${crc32Hex(rest)}",${rest}\n`;
}

/** Decode one line (without newline): the entry, or why it is not a good line. */
export function decodeLine(line: Uint8Array): JournalEntry | string {
  if (line.length < PREFIX_LEN + 2) return "line too short";
  const head = String.fromCharCode(...line.subarray(0, PREFIX_LEN));
  if (!head.startsWith(PREFIX) || !head.endsWith('",')) return "no checksum prefix";
  const want = head.slice(PREFIX.length, PREFIX.length + 8);
  const got = crc32Hex(line.subarray(PREFIX_LEN));
  if (want !== got) return `checksum mismatch (stored ${want}, computed ${got})`;
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(line));
  } catch (err) {
    return `checksum matches but not JSON: ${(err as Error).message}`;
  }
  const e = value as Partial<JournalEntry>;
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

/**
 * Decode a journal segment. A bad or incomplete line followed only by bad lines is a torn tail
 * (the crash hit an unacknowledged append): reported in `torn`, to be truncated. A bad line
 * followed by a good one, or a Seq out of order, is corruption of acknowledged data and throws:
 * starting would silently lose or reorder committed changes.
 */
export function decodeJournal(bytes: Uint8Array, file: string, firstSeq?: number): DecodedJournal {
  const entries: JournalEntry[] = [];
  let pos = 0;
  let lineNo = 0;
  let validBytes = 0;
  let bad: { line: number; offset: number; reason: string } | null = null;
  let goodAfterBad = 0;
  let prevSeq = firstSeq === undefined ? undefined : firstSeq - 1;
  while (pos < bytes.length) {
    lineNo++;
    const nl = bytes.indexOf(NEWLINE, pos);
    if (nl < 0) {
      bad ??= { line: lineNo, offset: pos, reason: "incomplete last line (no newline)" };
      break;
    }
    const result = decodeLine(bytes.subarray(pos, nl));
    if (typeof result === "string") {
      bad ??= { line: lineNo, offset: pos, reason: result };
    } else if (bad) {
      goodAfterBad++;
    } else {
      if (prevSeq !== undefined && result.Seq !== prevSeq + 1) {
        throw corrupt(file, lineNo, pos, `Seq ${result.Seq} follows Seq ${prevSeq} (want ${prevSeq + 1})`, 0);
      }
      prevSeq = result.Seq;
      entries.push(result);
      validBytes = nl + 1;
    }
    pos = nl + 1;
  }
  if (bad && goodAfterBad > 0) throw corrupt(file, bad.line, bad.offset, bad.reason, goodAfterBad);
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
