// Where each webhook is in the store's change feed, kept in <data-dir>/webhooks/state.json and
// replaced atomically (files/atomic-write.ts):
//   Hooks:   name -> the Seq below which nothing is left to do (delivered, dead, or not matching);
//            a start replays the changes after it through the store's changesSince.
//   Spooled: name -> the Seqs of deliveries still pending whose changes are in pending.spool.
// Why a spool: the store compacts its journal when it closes (and when the journal grows), after
// which changesSince no longer reaches back to a change a hook was still retrying. So a clean stop
// writes every pending delivery's change to pending.spool (mode 0600: the objects as stored, with
// sealed values sealed), and the next start queues them again. After a crash there is no new
// spool, but the journal was not compacted at close either, and the replay from Hooks finds the
// changes (unless a compaction during the run removed them: then a warning says what was lost).
// Either way delivery is at least once and a repeat carries the same Socle-Delivery id.

import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../files/atomic-write.ts";
import type { Change } from "../model/object.ts";

export const STATE_FILE = "state.json";
export const SPOOL_FILE = "pending.spool";
const MODE = 0o600;

export interface HookPositions {
  /** Webhook name -> last Seq handled. */
  hooks: Map<string, number>;
  /** Webhook name -> Seqs pending in the spool. */
  spooled: Map<string, number[]>;
}

const isSeq = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

export async function readPositions(dir: string): Promise<HookPositions> {
  const out: HookPositions = { hooks: new Map(), spooled: new Map() };
  let text: string;
  try {
    text = await readFile(join(dir, STATE_FILE), "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return out;
    throw err;
  }
  try {
    const parsed = JSON.parse(text) as { Hooks?: Record<string, unknown>; Spooled?: Record<string, unknown> };
    for (const [k, v] of Object.entries(parsed.Hooks ?? {})) if (isSeq(v)) out.hooks.set(k, v);
    for (const [k, v] of Object.entries(parsed.Spooled ?? {})) if (Array.isArray(v)) out.spooled.set(k, v.filter(isSeq));
  } catch {
    // Unreadable: every hook starts at the store's current Seq (what it missed is not replayed).
  }
  return out;
}

export async function writePositions(dir: string, p: HookPositions): Promise<void> {
  const sorted = <T>(m: Map<string, T>) => Object.fromEntries([...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const body = { Version: 1, Hooks: sorted(p.hooks), Spooled: sorted(new Map([...p.spooled].filter(([, v]) => v.length > 0))) };
  await writeFileAtomic(join(dir, STATE_FILE), `${JSON.stringify(body, null, 2)}\n`, MODE);
}

/** The spooled changes by Seq ({} when there is no spool). */
export async function readSpool(dir: string): Promise<Map<number, Change>> {
  const out = new Map<number, Change>();
  let text: string;
  try {
    text = await readFile(join(dir, SPOOL_FILE), "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return out;
    throw err;
  }
  for (const line of text.split("\n")) {
    if (line === "") continue;
    try {
      const c = JSON.parse(line) as Change;
      if (isSeq(c.Seq) && typeof c.Type === "string" && typeof c.Key === "string") out.set(c.Seq, c);
    } catch {
      // A torn line (the file is replaced whole, so only a damaged disk makes one): skipped.
    }
  }
  return out;
}

export async function writeSpool(dir: string, changes: Iterable<Change>): Promise<void> {
  const lines: string[] = [];
  for (const c of changes) lines.push(JSON.stringify(c));
  await writeFileAtomic(join(dir, SPOOL_FILE), lines.length ? `${lines.join("\n")}\n` : "", MODE);
}
