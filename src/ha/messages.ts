// The messages the two nodes of a pair exchange once authenticated (protocol.ts frames them).
// Every frame from the peer is checked here before anything acts on it: a peer is trusted to be
// our partner, not to be bug-free, and a frame we cannot read closes the connection with one line
// naming the field, never a crash.
//
//   Hello    both ways, first: who I am, my store Seq, my term and role.
//   Changes  active -> standby: committed store changes, in Seq order, with the active's Seq.
//   Snap     active -> standby: a whole store (chunked) when the standby's Seq is no longer in the
//            active's history, or is ahead of it (a tail nobody acknowledged: dropped).
//   Ack      standby -> active: everything up to Seq is durable here.
//   Hb       both ways, every heartbeat interval: liveness, state, term, Seq.
//   StepDown active -> standby: a planned hand-over; the active stopped serving, take over now.
//   AskStepDown standby -> active: the operator asked the standby to take over (planned).

import type { Change, ChangeAction, ModelObject } from "../model/object.ts";
import { isRecord } from "../model/object.ts";
import type { HaMessage } from "./protocol.ts";
import { bool, count, kind, str } from "./frame-fields.ts";
import type { HaState } from "./roles.ts";

/** What a node says about itself in Hello and every heartbeat. */
export interface NodeReport {
  state: HaState;
  term: number;
  seq: number;
  /** Its store is a complete copy (false on a new node before its first full sync). */
  hasData: boolean;
  /** Standby: it applies the active's feed and has caught up. Active: its feed to the standby is live. */
  streaming: boolean;
  /** Its store holds changes after the last Seq both nodes shared (written alone, never confirmed). */
  tail: boolean;
}

export interface HelloMessage extends NodeReport {
  T: "Hello";
  node: string;
  cluster: string;
  version: string;
  /** The sender wants the active's feed on this connection (one connection at a time). */
  follow: boolean;
}

export interface ChangesMessage {
  T: "Changes";
  list: Change[];
}

export interface SnapMessage {
  T: "Snap";
  /** The Seq the whole snapshot is at. */
  seq: number;
  /** Chunk number from 0; the receiver refuses chunks out of order. */
  part: number;
  entries: { Type: string; Key: string; Object: ModelObject }[];
  last: boolean;
}

export interface AckMessage {
  T: "Ack";
  seq: number;
}

export interface HeartbeatMessage extends NodeReport {
  T: "Hb";
  /** Sender's clock (ms since the epoch): the receiver reports the skew. */
  t: number;
}

export interface StepDownMessage {
  T: "StepDown" | "AskStepDown";
}

/** The loser of two serving nodes -> the winner: its last change per object since the fork, chunked. */
export interface DivergenceMessage {
  T: "Divergence";
  part: number;
  last: boolean;
  entries: { Type: string; Key: string; Object: ModelObject | null; Seq: number }[];
}

export interface MergeDoneMessage {
  T: "MergeDone";
  applied: number;
  conflicts: number;
}

export type PeerMessage = HelloMessage | ChangesMessage | SnapMessage | AckMessage | HeartbeatMessage | StepDownMessage | DivergenceMessage | MergeDoneMessage;

/**
 * The highest term a peer may claim. A term grows by one per takeover, so 2^31 is never reached
 * honestly; a claim above it is a broken or hostile peer, and refusing it keeps `term + 1` (the
 * takeover bump) exact and the term a small integer everywhere it is stored.
 */
export const MAX_TERM = 2 ** 31;

const STATES: readonly HaState[] = ["joining", "standby", "active", "active-solo", "partner-down", "reconciling", "stopped"];
const ACTIONS: readonly ChangeAction[] = ["create", "update", "delete"];

/** The typed message, or an Error naming what is wrong with the frame. */
export function readPeerMessage(h: HaMessage): PeerMessage | Error {
  try {
    switch (h.T) {
      case "Hello":
        return { T: "Hello", node: str(h, "node"), cluster: str(h, "cluster"), version: str(h, "version"), follow: bool(h, "follow"), ...report(h) };
      case "Changes": {
        if (!Array.isArray(h.list)) throw new Error(`Changes.list: want an array, got ${kind(h.list)}`);
        const list = h.list.map((c, i) => change(c, i));
        for (let i = 1; i < list.length; i++) {
          if (list[i]!.Seq !== list[i - 1]!.Seq + 1) throw new Error(`Changes.list[${i}].Seq: ${list[i]!.Seq} does not follow ${list[i - 1]!.Seq}`);
        }
        return { T: "Changes", list };
      }
      case "Snap": {
        if (!Array.isArray(h.entries)) throw new Error(`Snap.entries: want an array, got ${kind(h.entries)}`);
        const entries = h.entries.map((e, i) => {
          if (!isRecord(e)) throw new Error(`Snap.entries[${i}]: want an object, got ${kind(e)}`);
          if (!isRecord(e.Object)) throw new Error(`Snap.entries[${i}].Object: want an object, got ${kind(e.Object)}`);
          return { Type: str(e, "Type", `Snap.entries[${i}]`), Key: str(e, "Key", `Snap.entries[${i}]`), Object: e.Object as ModelObject };
        });
        if (typeof h.last !== "boolean") throw new Error(`Snap.last: want a boolean, got ${kind(h.last)}`);
        return { T: "Snap", seq: count(h, "seq"), part: count(h, "part"), entries, last: h.last };
      }
      case "Ack":
        return { T: "Ack", seq: count(h, "seq") };
      case "Hb":
        return { T: "Hb", t: count(h, "t"), ...report(h) };
      case "StepDown":
      case "AskStepDown":
        return { T: h.T };
      case "Divergence": {
        if (!Array.isArray(h.entries)) throw new Error(`Divergence.entries: want an array, got ${kind(h.entries)}`);
        const entries = h.entries.map((e, i) => {
          const at = `Divergence.entries[${i}]`;
          if (!isRecord(e)) throw new Error(`${at}: want an object, got ${kind(e)}`);
          if (e.Object !== null && !isRecord(e.Object)) throw new Error(`${at}.Object: want an object or null, got ${kind(e.Object)}`);
          return { Type: str(e, "Type", at), Key: str(e, "Key", at), Object: e.Object as ModelObject | null, Seq: count(e, "Seq", at) };
        });
        if (typeof h.last !== "boolean") throw new Error(`Divergence.last: want a boolean, got ${kind(h.last)}`);
        return { T: "Divergence", part: count(h, "part"), last: h.last, entries };
      }
      case "MergeDone":
        return { T: "MergeDone", applied: count(h, "applied"), conflicts: count(h, "conflicts") };
      default:
        return new Error(`unknown message type ${JSON.stringify(String(h.T)).slice(0, 40)}`);
    }
  } catch (err) {
    return err as Error;
  }
}

function change(c: unknown, i: number): Change {
  const at = `Changes.list[${i}]`;
  if (!isRecord(c)) throw new Error(`${at}: want an object, got ${kind(c)}`);
  const action = c.Action;
  if (typeof action !== "string" || !ACTIONS.includes(action as ChangeAction)) throw new Error(`${at}.Action: want create, update or delete, got ${JSON.stringify(action)}`);
  if (!isRecord(c.Object)) throw new Error(`${at}.Object: want an object, got ${kind(c.Object)}`);
  const time = str(c, "Time", at);
  if (Number.isNaN(Date.parse(time))) throw new Error(`${at}.Time: not a time: ${JSON.stringify(time).slice(0, 40)}`);
  const seq = count(c, "Seq", at);
  if (seq < 1) throw new Error(`${at}.Seq: want 1 or more, got ${seq}`);
  return { Seq: seq, Time: time, Type: str(c, "Type", at), Action: action as ChangeAction, Key: str(c, "Key", at), Object: c.Object as ModelObject };
}

function report(o: Record<string, unknown>): NodeReport {
  const v = o.state;
  if (typeof v !== "string" || !STATES.includes(v as HaState)) throw new Error(`${String(o.T)}.state: want one of ${STATES.join(", ")}, got ${JSON.stringify(v)?.slice(0, 40)}`);
  const term = count(o, "term");
  if (term > MAX_TERM) throw new Error(`${String(o.T)}.term: want at most 2^31 (${MAX_TERM}), got ${term}`);
  return { state: v as HaState, term, seq: count(o, "seq"), hasData: bool(o, "hasData"), streaming: bool(o, "streaming"), tail: bool(o, "tail") };
}

