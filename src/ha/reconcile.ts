// What two nodes that both served (a real partition, or an idle takeover while the other was only
// cut off) do with what each wrote alone. The node that took over last (higher term, tie to slot 0)
// keeps its store and is the winner; the loser sends what it changed since the last Seq both
// shared, and the winner merges it here, then the loser replaces its store with the winner's.
//
// The rules, per object (type and key), as ISC failover and Kea's lease merge do for leases:
// - leases merge by expiry, never by Seq: the same client on both sides keeps the later ExpireTime
//   (an ACK beats EXPIRED or RELEASED at the same time); two different clients on one address keep
//   the winner's record, unless it is no longer live and the loser's is a live ACK (that client may
//   hold the address). The pool split makes two live clients on one address impossible for leases
//   granted while partitioned; it can only come from a write the loser made but never confirmed.
// - anything else that only the loser changed is taken as it is (a delete too);
// - an object both changed keeps the version written later in its own node's numbering (the higher
//   local Seq), a tie to the winner: "the higher sequence wins per object". The two numberings
//   are separate since the fork, so this is a deterministic rule, not "the latest edit": the node
//   that wrote more since the fork tends to win. An object the winner deleted stays deleted.
//   Every object both changed is a conflict, reported with both Seq numbers; the version that
//   lost is not kept.
//
// Pure: the caller reads the two sides' changes and writes the outcome.

import type { Change, ModelObject } from "../model/object.ts";
import { jsonEqual } from "../model/json-schema.ts";

/** One object as the loser last left it after the fork: its value (null: deleted) and local Seq. */
export interface DivergentEntry {
  Type: string;
  Key: string;
  Object: ModelObject | null;
  Seq: number;
}

export interface MergeWrite {
  Type: string;
  Key: string;
  /** null: delete. */
  Object: ModelObject | null;
}

export interface MergeConflict {
  ObjectType: string;
  ObjectKey: string;
  Kept: "winner" | "loser";
  WinnerSeq: number;
  LoserSeq: number;
  Reason: string;
}

export interface MergePlan {
  writes: MergeWrite[];
  conflicts: MergeConflict[];
  /** Loser entries equal to what the winner has: nothing to do. */
  same: number;
}

/** The last change per object among `changes` (in Seq order): what a node did to each after the fork. */
export function lastPerObject(changes: readonly Change[]): Map<string, DivergentEntry> {
  const out = new Map<string, DivergentEntry>();
  for (const c of changes) out.set(objectKey(c.Type, c.Key), { Type: c.Type, Key: c.Key, Object: c.Action === "delete" ? null : c.Object, Seq: c.Seq });
  return out;
}

export function objectKey(type: string, key: string): string {
  return `${type}\u0000${key}`;
}

/**
 * The writes that bring the winner's store to the merged state, and the conflicts. `winnerTouched`:
 * the winner's last change per object after the fork (undefined: its history is gone, so every
 * object counts as changed on both sides and the winner keeps its version). `current` reads the
 * winner's store now.
 */
export function planMerge(
  loser: Iterable<DivergentEntry>,
  winnerTouched: ReadonlyMap<string, DivergentEntry> | undefined,
  current: (type: string, key: string) => ModelObject | undefined,
): MergePlan {
  const plan: MergePlan = { writes: [], conflicts: [], same: 0 };
  for (const l of loser) {
    const mine = current(l.Type, l.Key) ?? null;
    if (sameValue(mine, l.Object)) {
      plan.same++;
      continue;
    }
    const w = winnerTouched === undefined ? { Seq: Number.MAX_SAFE_INTEGER } : winnerTouched.get(objectKey(l.Type, l.Key));
    if (l.Type === "leases") {
      const outcome = mergeLease(mine, l.Object);
      if (outcome.take) plan.writes.push({ Type: l.Type, Key: l.Key, Object: l.Object });
      if (outcome.conflict) plan.conflicts.push({ ObjectType: l.Type, ObjectKey: l.Key, Kept: outcome.take ? "loser" : "winner", WinnerSeq: w?.Seq ?? 0, LoserSeq: l.Seq, Reason: outcome.conflict });
      continue;
    }
    if (!w) {
      plan.writes.push({ Type: l.Type, Key: l.Key, Object: l.Object });
      continue;
    }
    // An object deleted on the winner stays deleted: bringing back what an operator removed
    // (a machine, a user) is worse than losing the other side's edit of it.
    const deletedOnWinner = "Object" in w && w.Object === null;
    const loserWins = !deletedOnWinner && l.Seq > w.Seq;
    if (loserWins) plan.writes.push({ Type: l.Type, Key: l.Key, Object: l.Object });
    plan.conflicts.push({
      ObjectType: l.Type,
      ObjectKey: l.Key,
      Kept: loserWins ? "loser" : "winner",
      WinnerSeq: winnerTouched === undefined ? 0 : w.Seq,
      LoserSeq: l.Seq,
      Reason: deletedOnWinner
        ? "deleted on the winner and changed on the loser: it stays deleted"
        : winnerTouched === undefined
          ? "changed on both nodes; the winner's history since the fork is gone, so its version is kept"
          : `changed on both nodes; the later change in its own node's numbering is kept (${loserWins ? "loser" : "winner"} Seq ${loserWins ? l.Seq : w.Seq})`,
    });
  }
  return plan;
}

interface LeaseOutcome {
  take: boolean;
  conflict?: string;
}

/** Leases merge by expiry: see the file comment. */
export function mergeLease(winner: ModelObject | null, loser: ModelObject | null): LeaseOutcome {
  if (loser === null) {
    // The loser released and deleted it: the winner's record, if any, stands (a live lease there
    // belongs to a client the winner answered).
    return { take: false };
  }
  if (winner === null) return { take: true };
  const wTok = String(winner.Token ?? "");
  const lTok = String(loser.Token ?? "");
  const wEnd = Date.parse(String(winner.ExpireTime ?? "")) || 0;
  const lEnd = Date.parse(String(loser.ExpireTime ?? "")) || 0;
  if (wTok === lTok) {
    if (lEnd > wEnd) return { take: true };
    if (lEnd === wEnd && loser.State === "ACK" && winner.State !== "ACK") return { take: true };
    return { take: false };
  }
  const now = Date.now();
  const wLive = winner.State === "ACK" && wEnd > now;
  const lLive = loser.State === "ACK" && lEnd > now;
  if (!wLive && lLive) return { take: true, conflict: `address held by ${wTok} on the winner (no longer live) and by ${lTok} on the loser (live): the loser's client keeps it` };
  if (wLive && lLive) return { take: false, conflict: `address live for ${wTok} on the winner and for ${lTok} on the loser: the winner's client keeps it (the loser's was never confirmed)` };
  return { take: false };
}

function sameValue(a: ModelObject | null, b: ModelObject | null): boolean {
  if (a === null || b === null) return a === b;
  return jsonEqual(a, b);
}
