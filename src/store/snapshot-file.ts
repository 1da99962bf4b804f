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
 */
export async function readSnapshot(
  dir: string,
  onObject: (type: string, key: string, obj: ModelObject) => void,
): Promise<number | null> {
  const file = path.join(dir, SNAPSHOT_FILE);
  let text: string;
  try {
    text = await fsp.readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new SocleError("Unavailable", "store", file, `cannot read snapshot "${file}": ${(err as Error).message}`);
  }
  const fail = (why: string) =>
    new SocleError(
      "Unavailable",
      "store",
      file,
      `cannot open store: snapshot "${file}" is unreadable: ${why}. Restore it from a backup; ` +
        `a snapshot is only ever replaced by rename, so this is damage after it was written.`,
    );
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
      onObject(type, key, obj as ModelObject);
    }
  }
  return d.Seq as number;
}

/** Give the event loop a turn (timers, I/O callbacks) before continuing a long computation. */
function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
