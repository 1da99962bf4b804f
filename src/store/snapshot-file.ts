// snapshot.json: every writable object as of one Seq, readable with cat/jq, one object a line:
//
//   {"Seq":1234,"Objects":{
//   "machines":[
//   ["3f0c…",{…}],
//   ["9a1e…",{…}]],
//   "leases":[…]}}
//
// [key, object] pairs rather than a {key: object} map: JSON.parse builds 100k-property objects
// slowly, and open time is dominated by parsing (jq: `.Objects.machines[] | .[1]`).
//
// Replaced whole by files/atomic-write.ts (a temporary file beside it, fsync'd, renamed over
// snapshot.json, the directory fsync'd: a crash leaves either the old or the new snapshot, never
// a torn one), written in chunks, yielding to the event loop every few milliseconds so a large
// snapshot does not stall request handling.

import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { SocleError } from "../model/errors.ts";
import type { ModelObject } from "../model/object.ts";
import type { WritableView } from "./layered-state.ts";
import type { ReplicaEntry } from "./replica.ts";
import { replaceFile, writeAll } from "../files/atomic-write.ts";

export const SNAPSHOT_FILE = "snapshot.json";
/** The temporary file of earlier versions, removed at open (temporary names now: files/paths.ts). */
export const SNAPSHOT_TMP = "snapshot.json.tmp";


export interface SnapshotWriteOptions {
  /** Yield to the event loop after this much work (ms). */
  sliceMs?: number;
  /** Hand text to the kernel in chunks of about this many characters. */
  chunkChars?: number;
}

export interface SnapshotStats {
  objects: number;
  bytes: number;
  ms: number;
}

export async function writeSnapshot(
  dir: string,
  seq: number,
  view: WritableView,
  opts: SnapshotWriteOptions = {},
): Promise<SnapshotStats> {
  const sliceMs = opts.sliceMs ?? 2;
  const chunkChars = opts.chunkChars ?? 1 << 20;
  const started = performance.now();
  let counts = { objects: 0, bytes: 0 };
  await replaceFile(path.join(dir, SNAPSHOT_FILE), async (tmp) => {
    const fh = await fsp.open(tmp, "wx", 0o600);
    try {
      counts = await writeObjects(fh, seq, view, sliceMs, chunkChars);
    } finally {
      await fh.close();
    }
  });
  return { ...counts, ms: performance.now() - started };
}

/** A view over objects received from elsewhere (a replica's snapshot), to write them with writeSnapshot; keys in order. */
export function snapshotView(entries: readonly ReplicaEntry[]): WritableView {
  const byType = new Map<string, Array<[string, ModelObject]>>();
  for (const e of entries) {
    let list = byType.get(e.Type);
    if (!list) byType.set(e.Type, (list = []));
    list.push([e.Key, e.Object]);
  }
  for (const list of byType.values()) list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return {
    types: [...byType.keys()].sort(),
    *entries(type: string): Generator<[string, ModelObject]> {
      yield* byType.get(type) ?? [];
    },
    end() {},
  };
}

/** The snapshot's text, in chunks of about `chunkChars`, yielding to the loop every `sliceMs`. */
async function writeObjects(fh: fsp.FileHandle, seq: number, view: WritableView, sliceMs: number, chunkChars: number): Promise<{ objects: number; bytes: number }> {
  let objects = 0;
  let bytes = 0;
  let parts: string[] = [];
  let chars = 0;
  const flush = async () => {
    if (parts.length === 0) return;
    const buf = Buffer.from(parts.join(""));
    parts = [];
    chars = 0;
    bytes += buf.length;
    await writeAll(fh, buf);
  };
  parts.push(`{"Seq":${seq},"Objects":{`);
  let typesOut = 0;
  let slice = performance.now();
  for (const type of view.types) {
    let inType = 0;
    for (const [key, obj] of view.entries(type)) {
      const head = inType === 0 ? `${typesOut > 0 ? "]," : ""}\n${JSON.stringify(type)}:[` : ",";
      if (inType === 0) typesOut++;
      inType++;
      const line = `${head}\n[${JSON.stringify(key)},${JSON.stringify(obj)}]`;
      parts.push(line);
      chars += line.length;
      if ((++objects & 63) === 0) {
        if (chars >= chunkChars) await flush();
        if (performance.now() - slice >= sliceMs) {
          await yieldToLoop();
          slice = performance.now();
        }
      }
    }
  }
  parts.push(typesOut > 0 ? "]}}\n" : "}}\n");
  await flush();
  return { objects, bytes };
}

/**
 * Read the snapshot in `dir`, handing each object to `onObject`; returns its Seq, or null if
 * there is none. Throws SocleError naming the file if it is unreadable or malformed.
 *
 * A snapshot in the layout writeSnapshot makes (its first line is `{"Seq":N,"Objects":{`) is
 * read a chunk at a time and parsed a line at a time, so memory holds one chunk and one object
 * rather than the whole text and its parse tree (hundreds of MB at a million objects). Anything
 * else that is valid JSON (a snapshot rewritten by jq, say) is parsed whole, as is the rest of a
 * line-layout file that strays from the layout, so the same files open as always.
 */
export async function readSnapshot(
  dir: string,
  onObject: (type: string, key: string, obj: ModelObject) => void,
  opts: { chunkBytes?: number } = {},
): Promise<number | null> {
  const file = path.join(dir, SNAPSHOT_FILE);
  const cannotRead = (err: unknown) =>
    new SocleError("Unavailable", "store", file, `cannot read snapshot "${file}": ${(err as Error).message}`);
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(file, "r");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw cannotRead(err);
  }
  let streamed: { seq: number; delivered: number } | null;
  try {
    streamed = await readLines(fh, file, Math.max(64, opts.chunkBytes ?? 1 << 20), onObject);
  } catch (err) {
    // I/O errors carry a code; what onObject throws goes to the caller as it is.
    throw err instanceof SocleError || (err as NodeJS.ErrnoException).code === undefined ? err : cannotRead(err);
  } finally {
    await fh.close().catch(() => {});
  }
  if (streamed && streamed.delivered < 0) return streamed.seq;
  let text: string;
  try {
    text = await fsp.readFile(file, "utf8");
  } catch (err) {
    throw cannotRead(err);
  }
  // The objects already handed over are the first ones in file order: skip them.
  return parseWhole(text, file, streamed?.delivered ?? 0, onObject);
}

const BATCH_FAILED = -1;
const HEADER_RE = /^\{"Seq":(\d{1,16}),"Objects":\{(\}\})?[ \t\r]*$/;
const TYPE_LINE_RE = /^("(?:[^"\\]|\\.)*"):\[[ \t\r]*$/;

/**
 * The line reader. Returns {seq, delivered: -1} when the whole file was read, null when it is not
 * in the line layout (nothing handed over), or {seq, delivered: n} when it strays from the layout
 * after handing over n objects: the caller parses it whole to say what is wrong, or to read it.
 */
async function readLines(
  fh: fsp.FileHandle,
  file: string,
  chunkBytes: number,
  onObject: (type: string, key: string, obj: ModelObject) => void,
): Promise<{ seq: number; delivered: number } | null> {
  let seq = -1;
  let delivered = 0;
  let type = "";
  const seen = new Set<string>();
  // header -> (type -> pair+)* -> end
  type State = "header" | "type" | "pair" | "end";
  // (Asserted: line() changes it, which the compiler's narrowing of a local does not see.)
  let state = "header" as State;
  /** The line buf[from, to) without its "\n"; false when it strays from the layout. */
  const line = (buf: Buffer, from: number, to: number): boolean => {
    switch (state) {
      case "header": {
        const m = HEADER_RE.exec(buf.toString("utf8", from, to));
        if (!m) return false;
        seq = Number(m[1]);
        if (!Number.isSafeInteger(seq)) return false;
        state = m[2] ? "end" : "type";
        return true;
      }
      case "type": {
        const m = TYPE_LINE_RE.exec(buf.toString("utf8", from, to));
        if (!m) return false;
        try {
          type = JSON.parse(m[1] as string) as string;
        } catch {
          return false;
        }
        // JSON.parse would keep the second list in the first one's place; the writer never
        // makes this, and guessing which list is meant could resurrect deleted objects.
        if (seen.has(type)) throw unreadable(file, `"Objects" lists ${JSON.stringify(type)} twice`);
        seen.add(type);
        state = "pair";
        return true;
      }
      case "pair": {
        // `[key,{…}]` then "," (more of this type), "]," (next type) or "]}}" (the end), read
        // off the bytes so that only the pair becomes a string.
        let e = to;
        while (e > from && (buf[e - 1] === 13 || buf[e - 1] === 32 || buf[e - 1] === 9)) e--;
        let next: State;
        let pairEnd: number;
        if (buf[e - 1] === 44 /* , */) {
          const closesType = buf[e - 2] === 93 /* ] */ && buf[e - 3] === 93;
          next = closesType ? "type" : "pair";
          pairEnd = closesType ? e - 2 : e - 1;
        } else if (buf[e - 1] === 125 /* } */ && buf[e - 2] === 125 && buf[e - 3] === 93 && buf[e - 4] === 93) {
          next = "end";
          pairEnd = e - 3;
        } else return false;
        if (buf[from] !== 91 /* [ */ || buf[pairEnd - 1] !== 93 || buf[pairEnd - 2] !== 125 /* }] */) return false;
        let pair: unknown;
        try {
          pair = JSON.parse(buf.toString("utf8", from, pairEnd));
        } catch {
          return false;
        }
        if (!Array.isArray(pair) || pair.length !== 2) return false;
        const [key, obj] = pair as [unknown, unknown];
        if (typeof key !== "string" || obj === null || typeof obj !== "object" || Array.isArray(obj)) return false;
        state = next;
        onObject(type, key, obj as ModelObject);
        delivered++;
        return true;
      }
      case "end":
        return buf.toString("utf8", from, to).trim() === "";
    }
  };

  // Where the batch's end markers were last found in this chunk: a marker past `from` is found again
  // without a search. A "]]}}" inside strings (a client's DHCP host name, say) stops many batches
  // short; searching the rest of the chunk anew each time would cost a chunk's scan per such line.
  let marked: Buffer | undefined;
  let typeEnd = -1;
  let fileEnd = -1;
  /**
   * The whole lines of pairs from `from` that end in "," (more of the same type follow), parsed as
   * one JSON list: a JSON.parse per line costs about half as much again as the parse itself. Returns
   * where the lines left to read one at a time begin (the line closing the type, or an unfinished
   * one), or BATCH_FAILED if the lines are not a list of pairs: nothing was handed over, and read
   * one at a time they stop at the bad one.
   */
  const batch = (view: Buffer, from: number): number => {
    // "]],\n" ends a type's last pair line (a raw newline is never inside a JSON string); "]]}}"
    // the last one, but it may be inside a string, so it only shortens the batch.
    if (marked !== view) {
      marked = view;
      typeEnd = view.indexOf("]],\n", from);
      fileEnd = view.indexOf("]]}}", from);
    }
    if (typeEnd >= 0 && typeEnd < from) typeEnd = view.indexOf("]],\n", from);
    if (fileEnd >= 0 && fileEnd < from) fileEnd = view.indexOf("]]}}", from);
    let stop = typeEnd;
    const last = fileEnd;
    if (stop < 0 || (last >= 0 && last < stop)) stop = last;
    const lineEnd = stop >= 0 ? view.lastIndexOf(10, stop) : view.lastIndexOf(10);
    if (lineEnd < from) return from;
    let e = lineEnd;
    while (e > from && (view[e - 1] === 13 || view[e - 1] === 32 || view[e - 1] === 9)) e--;
    if (view[e - 1] !== 44 /* , */) return from;
    let pairs: unknown;
    try {
      pairs = JSON.parse(`[${view.toString("utf8", from, e - 1)}]`);
    } catch {
      return BATCH_FAILED;
    }
    const list = pairs as unknown[];
    for (const p of list) {
      if (!Array.isArray(p) || p.length !== 2 || typeof p[0] !== "string" || p[1] === null || typeof p[1] !== "object" || Array.isArray(p[1])) return BATCH_FAILED;
    }
    for (const p of list as Array<[string, ModelObject]>) {
      onObject(type, p[0], p[1]);
      delivered++;
    }
    return lineEnd + 1;
  };

  let buf = Buffer.allocUnsafe(chunkBytes);
  let held = 0; // bytes of an unfinished line at the start of buf
  let pos = 0;
  for (;;) {
    if (held === buf.length) {
      // A line longer than the buffer: grow it (an object larger than a chunk).
      const bigger = Buffer.allocUnsafe(buf.length * 2);
      buf.copy(bigger, 0, 0, held);
      buf = bigger;
    }
    const { bytesRead } = await fh.read(buf, held, buf.length - held, pos);
    pos += bytesRead;
    const end = held + bytesRead;
    let start = 0;
    if (state === "header" && bytesRead > 0 && buf[0] !== 123 /* { */) return null;
    const view = buf.subarray(0, end);
    // After a batch that is not a list of pairs (CRLF line ends, a hand edit), the rest of this
    // chunk goes a line at a time rather than being parsed again from each line.
    let batching = true;
    for (;;) {
      if (state === "pair" && batching) {
        const next = batch(view, start);
        if (next === BATCH_FAILED) batching = false;
        else start = next;
      }
      const nl = view.indexOf(10, start);
      if (nl < 0) break;
      if (!line(buf, start, nl)) return seq < 0 || state === "header" ? null : { seq, delivered };
      start = nl + 1;
    }
    if (bytesRead === 0) {
      // The last line may lack its "\n".
      if (start < end && !line(buf, start, end)) return state === "header" ? null : { seq, delivered };
      return state === "end" ? { seq, delivered: -1 } : state === "header" ? null : { seq, delivered };
    }
    // The first line is short ({"Seq":N,"Objects":{); a long one is JSON on one line (jq -c).
    if (state === "header" && end - start > 64) return null;
    buf.copy(buf, 0, start, end);
    held = end - start;
  }
}

function unreadable(file: string, why: string): SocleError {
  return new SocleError(
    "Unavailable",
    "store",
    file,
    `cannot open store: snapshot "${file}" is unreadable: ${why}. Restore it from a backup; ` +
      `a snapshot is only ever replaced by rename, so this is damage after it was written.`,
  );
}

/** The whole text as one JSON document: every object after the first `skip`, in file order. */
function parseWhole(text: string, file: string, skip: number, onObject: (type: string, key: string, obj: ModelObject) => void): number {
  const fail = (why: string) => unreadable(file, why);
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw fail(`not JSON (${(err as Error).message})`);
  }
  const d = data as { Seq?: unknown; Objects?: unknown };
  if (d === null || typeof d !== "object" || !Number.isSafeInteger(d.Seq) || (d.Seq as number) < 0) {
    throw fail(`no valid "Seq"`);
  }
  const objects = d.Objects;
  if (objects === null || typeof objects !== "object" || Array.isArray(objects)) throw fail(`no "Objects" map`);
  let n = 0;
  for (const type in objects) {
    const pairs = (objects as Record<string, unknown>)[type];
    if (!Array.isArray(pairs)) throw fail(`"Objects.${type}" is not a list of [key, object] pairs`);
    for (let i = 0; i < pairs.length; i++) {
      const pair: unknown = pairs[i];
      const key = Array.isArray(pair) ? pair[0] : undefined;
      const obj = Array.isArray(pair) ? pair[1] : undefined;
      if (typeof key !== "string" || obj === null || typeof obj !== "object" || Array.isArray(obj)) {
        throw fail(`"Objects.${type}[${i}]" is not a [key, object] pair`);
      }
      if (n++ >= skip) onObject(type, key, obj as ModelObject);
    }
  }
  return d.Seq as number;
}

/** Give the event loop a turn (timers, I/O callbacks) before continuing a long computation. */
function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
