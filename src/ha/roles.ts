// The HA pair's roles as a pure state machine: decide(state, facts, now) -> next state, the actions
// that get there, and the reason `ha status` shows. No sockets, no timers: the controller gathers
// the facts (HeartbeatBook, UnackedTracker, replication, operator requests) and runs the actions,
// each of which is idempotent, so deciding again on the same facts is harmless.
//
//   joining --caught up--> standby --takeover rule--> partner-down --peer streams--> active
//   active --sync timeout / peer silent--> active-solo --peer streams--> active
//   serving + serving peer --> reconciling --> winner: active-solo, loser: joining (full resync)
//
// The takeover rule is Kea's max-unacked-clients made stricter, because a pair has no quorum and
// a wrong takeover costs half a pool: the partner silent on EVERY path for haHeartbeatTimeout, AND
// no DHCP reply from it seen on the LAN since its last frame (a cut peer link leaves the active
// answering in plain sight; a reply older than the wait of the newest unanswered client does not
// count: the active may have died just after it), AND either haMaxUnackedClients clients unanswered (0: the silence
// alone suffices, as in Kea) or haIdleTakeover of silence with no DHCP request at all (relayed-only
// sites and API-only pairs, where no client could show the active is gone).
//
// Two serving nodes that meet (a healed partition): the higher term wins, a tie goes to slot 0.
// Every takeover bumps the term, so the winner is the node that took over last. Both reconcile;
// the loser gives up the VIP and DHCP at once, then resyncs from the winner.

import type { HaPrefs } from "../model/ha-prefs.ts";

export type HaState = "joining" | "standby" | "active" | "active-solo" | "partner-down" | "reconciling" | "stopped";

export type HaAction =
  | "bumpTerm" // term + 1, persisted before anything else is claimed
  | "acquireVip" // ip addr add + gratuitous ARP
  | "releaseVip"
  | "openDhcp" // the gate answers (and answers the pending requests of unacked clients at once)
  | "closeDhcp" // the gate only observes
  | "startWriteSide" // scheduler, ISO watcher, CRL timer, seeding...
  | "stopWriteSide"
  | "writesSynced" // store writes resolve once the partner acked them
  | "writesSolo" // store writes resolve once durable locally
  | "writesRefused" // the standby refuses writes
  | "askPeerStepDown" // planned switchover asked on the standby
  | "handOver" // send StepDown: the standby takes over
  | "reconcile" // exchange divergence sets with the peer
  | "resync" // full sync from the peer
  | "confirmPartnerDown"; // record the operator's partner-down (pool policy may use the partner's half after MCLT)

export type OperatorRequest = "takeover" | "step-down" | "partner-down" | "stop";

/** The partner as its last Hello/Hb described it. */
export interface PeerView {
  state: HaState;
  term: number;
  /** It applies this node's change feed and acks it with no lag (meaningful while this node serves). */
  streaming: boolean;
  /** It holds a complete copy of the store (false while it waits for a full sync). */
  hasData: boolean;
  /** Its store's Seq, and whether it holds changes this node may never have had (written alone). */
  seq?: number;
  tail?: boolean;
}

export interface RoleFacts {
  slot: 0 | 1;
  term: number;
  /** The local store holds a complete copy (false on a fresh node before its full sync). */
  hasData: boolean;
  /** The local store's Seq, and whether it holds changes the partner never confirmed. */
  seq?: number;
  tail?: boolean;
  prefs: Pick<HaPrefs, "heartbeatTimeoutMs" | "maxUnackedClients" | "idleTakeoverMs" | "syncTimeoutMs" | "autoFailback">;
  /** When this process started: silence is counted from here if the partner was never heard. */
  startedMs: number;
  /** HeartbeatBook.lastHeard(): the partner's last frame on any path. */
  peerLastHeardMs: number | undefined;
  /** The partner's last Hello/Hb; ignored while it is silent. */
  peer: PeerView | undefined;
  /** UnackedTracker.lastReplyAt(): the newest DHCP reply from the active seen on the LAN. */
  lastActiveReplyMs: number | undefined;
  /**
   * When the newest unanswered client began to wait (UnackedTracker: became unacked minus
   * haMaxAckDelay); undefined without unanswered clients. A reply from the active older than this
   * says nothing about the active now: it may have died right after sending it.
   */
  newestUnackedWaitMs?: number;
  /** UnackedTracker.lastRequestAt(). */
  lastRequestMs: number | undefined;
  /** MACs unacked since the partner's last frame: UnackedTracker.unacked(now, peerLastHeardMs ?? startedMs). */
  unacked: readonly string[];
  /** joining: the full sync is done and the stream from the active has caught up. */
  caughtUp: boolean;
  /** The active answered Plan full (it compacted past this node's Seq). */
  needFullSync: boolean;
  /** A write waited haSyncTimeout for the standby's ack. */
  syncTimedOut: boolean;
  /** A StepDown frame arrived: the active handed over to this node. */
  peerSteppedDown: boolean;
  /** The divergence exchange with the peer finished. */
  reconcileDone: boolean;
  operator: OperatorRequest | undefined;
}

export interface Decision {
  next: HaState;
  actions: HaAction[];
  reason: string;
}

const SERVING: ReadonlySet<HaState> = new Set(["active", "active-solo", "partner-down"]);

/** States in which a node holds the VIP and answers DHCP (reconciling: only the winner does). */
export function isServing(state: HaState): boolean {
  return SERVING.has(state);
}

/** This joining node holds changes the standby lacks: a tail written alone, or a higher Seq. */
function holdsMore(f: RoleFacts, peer: PeerView): boolean {
  return f.tail === true || (f.seq ?? 0) > (peer.seq ?? 0);
}

/** Two serving nodes: the higher term wins, a tie goes to slot 0. */
export function winsAgainst(own: { term: number; slot: 0 | 1 }, peerTerm: number): boolean {
  return own.term > peerTerm || (own.term === peerTerm && own.slot === 0);
}

const PROMOTE_SOLO: HaAction[] = ["bumpTerm", "writesSolo", "startWriteSide", "acquireVip", "openDhcp"];
const DEMOTE: HaAction[] = ["closeDhcp", "releaseVip", "stopWriteSide", "writesRefused"];

/** "1.2 s" */
export function formatSeconds(ms: number): string {
  return `${(Math.max(0, ms) / 1000).toFixed(1)} s`;
}

function macList(macs: readonly string[]): string {
  const shown = macs.slice(0, 3).join(", ");
  return macs.length > 3 ? `${shown} and ${macs.length - 3} more` : shown;
}

export interface TakeoverVerdict {
  take: boolean;
  reason: string;
}

/** The takeover rule alone (standby, or joining with data), with the reason either way. */
export function takeoverVerdict(f: RoleFacts, now: number): TakeoverVerdict {
  const since = f.peerLastHeardMs ?? f.startedMs;
  const silent = now - since;
  const heard = f.peerLastHeardMs === undefined ? "peer never heard" : `peer silent ${formatSeconds(silent)}`;
  if (silent < f.prefs.heartbeatTimeoutMs) return { take: false, reason: `peer heard ${formatSeconds(silent)} ago` };
  // The active's replies veto a takeover only while they show it alive now: seen since its last
  // frame, and not older than the wait of the newest unanswered client (an active that answers
  // others while a client waits ignores that client on purpose; one that answered nothing since
  // that client began to wait is gone).
  const replyIsNews = f.newestUnackedWaitMs === undefined || (f.lastActiveReplyMs ?? -Infinity) >= f.newestUnackedWaitMs;
  if (f.lastActiveReplyMs !== undefined && f.lastActiveReplyMs >= since && replyIsNews) {
    return {
      take: false,
      reason: `${heard} on every path, but its DHCP replies are still seen on the LAN (last ${formatSeconds(now - f.lastActiveReplyMs)} ago): a cut link, not a dead peer`,
    };
  }
  const n = f.unacked.length;
  const need = f.prefs.maxUnackedClients;
  if (need === 0) return { take: true, reason: `${heard} on every path (haMaxUnackedClients 0: silence suffices)` };
  if (n >= need) return { take: true, reason: `${heard} and ${n} client${n === 1 ? "" : "s"} unanswered (${macList(f.unacked)})` };
  const requestSeen = f.lastRequestMs !== undefined && f.lastRequestMs >= since;
  const idle = f.prefs.idleTakeoverMs;
  if (idle > 0 && !requestSeen && silent >= idle) return { take: true, reason: `${heard} and no DHCP request seen` };
  const waiting = `${heard}, ${n} of ${need} unanswered client${need === 1 ? "" : "s"} needed`;
  if (idle === 0) return { take: false, reason: `${waiting} (idle takeover off)` };
  if (requestSeen) return { take: false, reason: `${waiting} (DHCP requests seen, so no idle takeover)` };
  return { take: false, reason: `${waiting}, or ${formatSeconds(idle)} of silence with no DHCP request` };
}

function peerSilent(f: RoleFacts, now: number): boolean {
  const since = f.peerLastHeardMs ?? f.startedMs;
  return f.peerLastHeardMs === undefined || now - since >= f.prefs.heartbeatTimeoutMs;
}

/** The partner's view while it is heard; undefined while it is silent. */
function livePeer(f: RoleFacts, now: number): PeerView | undefined {
  return peerSilent(f, now) ? undefined : f.peer;
}

function stay(state: HaState, reason: string): Decision {
  return { next: state, actions: [], reason };
}

/** Two serving nodes met: both go to reconciling; the loser stops serving at once. */
function meet(f: RoleFacts, peer: PeerView): Decision {
  const terms = `term ${f.term} vs ${peer.term}${f.term === peer.term ? `, tie to slot 0` : ""}`;
  if (winsAgainst(f, peer.term)) return { next: "reconciling", actions: ["reconcile"], reason: `two active nodes met: this node wins (${terms})` };
  return { next: "reconciling", actions: [...DEMOTE, "reconcile"], reason: `two active nodes met: the peer wins (${terms}); stepping back` };
}

export function decide(state: HaState, f: RoleFacts, now: number): Decision {
  if (state === "stopped") return stay("stopped", "stopped");
  if (f.operator === "stop") {
    const serving = isServing(state) || state === "reconciling";
    return { next: "stopped", actions: serving ? [...DEMOTE] : [], reason: "operator stop" };
  }
  const peer = livePeer(f, now);
  switch (state) {
    case "joining":
      return decideJoining(f, peer, now);
    case "standby":
      return decideStandby(f, peer, now);
    case "active":
      return decideActive(f, peer, now);
    case "active-solo":
    case "partner-down":
      return decideSolo(state, f, peer, now);
    case "reconciling":
      return decideReconciling(f, peer, now);
  }
}

function decideJoining(f: RoleFacts, peer: PeerView | undefined, now: number): Decision {
  if (f.operator === "takeover") {
    if (!f.hasData) return stay("joining", "takeover refused: this node has no complete copy to serve from");
    if (peer && isServing(peer.state)) return stay("joining", "takeover refused: the active is up; run it again once this node is standby");
    return { next: "partner-down", actions: [...PROMOTE_SOLO], reason: "operator takeover while joining" };
  }
  if (peer) {
    if (isServing(peer.state)) {
      if (f.caughtUp) return { next: "standby", actions: ["writesRefused"], reason: `caught up with the active (term ${peer.term})` };
      return stay("joining", `syncing from the active (term ${peer.term})`);
    }
    // Both nodes starting (neither serves): the one that took over last serves. A standby peer is
    // not a rival: it is the synced one and promotes when it sees this node joining, unless this
    // node holds what the standby lacks (it served alone, then restarted): then this node serves,
    // and the standby follows it.
    if (f.hasData && peer.state === "standby" && holdsMore(f, peer)) {
      return { next: "active-solo", actions: [...PROMOTE_SOLO], reason: `the standby lacks changes this node holds (Seq ${f.seq ?? 0} vs ${peer.seq ?? 0}${f.tail ? ", written alone" : ""}): this node serves` };
    }
    if (f.hasData && peer.state === "joining" && (!peer.hasData || winsAgainst(f, peer.term))) {
      return { next: "active-solo", actions: [...PROMOTE_SOLO], reason: `nobody serves: this node starts as active (term ${f.term} vs ${peer.term}${f.term === peer.term ? ", tie to slot 0" : ""})` };
    }
    return stay("joining", `waiting for the peer (${peer.state}, term ${peer.term}) to serve`);
  }
  if (!f.hasData) return stay("joining", "no complete copy yet and the peer is silent");
  const v = takeoverVerdict(f, now);
  if (v.take) return { next: "partner-down", actions: [...PROMOTE_SOLO], reason: v.reason };
  return stay("joining", v.reason);
}

function decideStandby(f: RoleFacts, peer: PeerView | undefined, now: number): Decision {
  if (f.needFullSync) return { next: "joining", actions: ["resync"], reason: "the active no longer holds this node's position in its journal: full resync" };
  if (peer) {
    if (f.peerSteppedDown && !isServing(peer.state)) {
      return { next: "active-solo", actions: [...PROMOTE_SOLO], reason: `the active handed over (it is ${peer.state} now)` };
    }
    if (isServing(peer.state)) {
      if (f.operator === "takeover") return { next: "standby", actions: ["askPeerStepDown"], reason: "operator takeover: asked the active to hand over" };
      return stay("standby", `following the active (term ${peer.term})`);
    }
    // The peer neither serves nor handed over (it restarted and is joining): nobody answers. The
    // standby is the synced one, so it serves; a standby never promotes on a tie-break, which
    // keeps a node that just handed over from taking the role straight back.
    if (peer.state === "joining") {
      // The restarted node may hold changes this standby never got (it served alone before it
      // stopped): then it serves and this node follows it, rather than win with a lagging store.
      if (peer.hasData && (peer.tail || (peer.seq ?? 0) > (f.seq ?? 0))) return stay("standby", `the restarted partner holds changes this node lacks (Seq ${peer.seq ?? 0} vs ${f.seq ?? 0}): it serves`);
      return { next: "active-solo", actions: [...PROMOTE_SOLO], reason: "the active restarted and is joining: this node serves" };
    }
    return stay("standby", `the peer is ${peer.state}; waiting for it to serve or hand over`);
  }
  if (f.operator === "takeover") {
    return { next: "partner-down", actions: [...PROMOTE_SOLO], reason: `operator takeover; peer silent ${formatSeconds(now - (f.peerLastHeardMs ?? f.startedMs))}` };
  }
  const v = takeoverVerdict(f, now);
  if (v.take) return { next: "partner-down", actions: [...PROMOTE_SOLO], reason: v.reason };
  return stay("standby", v.reason);
}

function caughtUpStandby(peer: PeerView | undefined): boolean {
  return peer !== undefined && peer.state === "standby" && peer.streaming;
}

function decideActive(f: RoleFacts, peer: PeerView | undefined, now: number): Decision {
  if (peer && isServing(peer.state)) return meet(f, peer);
  if (f.operator === "step-down" || (f.prefs.autoFailback && f.slot === 1 && caughtUpStandby(peer))) {
    const why = f.operator === "step-down" ? "operator step-down" : "automatic failback to slot 0";
    if (caughtUpStandby(peer)) return { next: "standby", actions: [...DEMOTE, "handOver"], reason: `${why}: handed over to the standby` };
    return stay("active", `${why} refused: no caught-up standby to hand over to`);
  }
  if (f.operator === "partner-down") return stay("active", "partner-down refused: the partner is up and synced");
  if (f.syncTimedOut) return { next: "active-solo", actions: ["writesSolo"], reason: `the standby did not confirm a write within ${f.prefs.syncTimeoutMs} ms` };
  if (!peer) return { next: "active-solo", actions: ["writesSolo"], reason: `peer silent ${formatSeconds(now - (f.peerLastHeardMs ?? f.startedMs))} on every path` };
  if (!caughtUpStandby(peer)) return { next: "active-solo", actions: ["writesSolo"], reason: `the peer is ${peer.state}${peer.streaming ? "" : ", not streaming"}: writes no longer wait for it` };
  return stay("active", `synced with the standby (term ${f.term})`);
}

function decideSolo(state: "active-solo" | "partner-down", f: RoleFacts, peer: PeerView | undefined, now: number): Decision {
  if (peer && isServing(peer.state)) return meet(f, peer);
  if (f.operator === "partner-down") {
    if (peer) return stay(state, "partner-down refused: the partner is heard");
    return { next: "partner-down", actions: ["confirmPartnerDown"], reason: `operator confirmed the partner is down (silent ${formatSeconds(now - (f.peerLastHeardMs ?? f.startedMs))})` };
  }
  if (caughtUpStandby(peer) && !f.syncTimedOut) return { next: "active", actions: ["writesSynced"], reason: `the standby caught up (term ${f.term})` };
  if (f.operator === "step-down") return stay(state, "step-down refused: no caught-up standby to hand over to");
  if (peer) return stay(state, `the peer is ${peer.state}; serving alone until it streams`);
  return stay(state, `serving alone; peer silent ${formatSeconds(now - (f.peerLastHeardMs ?? f.startedMs))}`);
}

function decideReconciling(f: RoleFacts, peer: PeerView | undefined, now: number): Decision {
  const known = peer ?? f.peer;
  const winner = known === undefined || winsAgainst(f, known.term);
  if (!peer) {
    if (winner) return { next: "active-solo", actions: [], reason: `peer silent ${formatSeconds(now - (f.peerLastHeardMs ?? f.startedMs))} while reconciling: serving alone` };
    return { next: "joining", actions: [], reason: "peer silent while reconciling: back to joining" };
  }
  if (!f.reconcileDone) return stay("reconciling", `reconciling with the peer (${winner ? "this node wins" : "the peer wins"})`);
  if (winner) return { next: "active-solo", actions: [], reason: "reconciled: serving until the peer has resynced" };
  return { next: "joining", actions: ["resync"], reason: "reconciled: full resync from the winner" };
}
