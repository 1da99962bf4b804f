// One node of an HA pair, from start to stop: it keeps the connections to the partner (mTLS, one
// per path: the dedicated peer link and the LAN), the heartbeats, the store replication in either
// direction, the DHCP observation that tells a dead active from a cut link, and runs the role
// machine (roles.ts) every tick, carrying out its actions.
//
// The standby is cold: it holds the replica store open and applies the active's feed, watches
// DHCP on the LAN without answering, and runs nothing else. Promotion hands the open, current
// store to the serving side (startServing: the whole of Socle, with DHCP, TFTP, HTTP, the API and
// the job scheduler) and takes the VIP; there is no reload, so a takeover costs the heartbeat
// timeout plus one start of the services. A node that stops serving closes everything, reopens
// the store as a replica and follows the winner again.
//
// Everything that decides is elsewhere and pure (roles.ts, detector.ts, pool-policy.ts); this file
// gathers facts and acts.

import { writeFileAtomic } from "../files/atomic-write.ts";
import { SocleError } from "../model/errors.ts";
import type { Logger } from "../log/logger.ts";
import { rateLimited } from "../log/logger.ts";
import type { Change, ModelObject } from "../model/object.ts";
import type { AllocationPolicy } from "../dhcp/leases/backend.ts";
import type { DhcpPacket } from "../dhcp/codec/packet.ts";
import { macString } from "../dhcp/codec/packet.ts";
import type { ReplicaStore, StoreSnapshot } from "../store/replica.ts";
import type { Store } from "../store/store.ts";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Applier } from "./applier.ts";
import { HeartbeatBook, UnackedTracker, type UnackedClient } from "./detector.ts";
import { Feeder } from "./feeder.ts";
import { LeaseLedger, type PartnerLease } from "./lease-ledger.ts";
import { readPeerMessage, type NodeReport } from "./messages.ts";
import { HaPoolPolicy } from "./pool-policy.ts";
import { FileSyncSource, FileSyncTarget, isFileMessage } from "./files-sync.ts";
import { lastPerObject, planMerge, type DivergentEntry, type MergeConflict } from "./reconcile.ts";
import { HA_PREF_DEFAULTS, readHaPrefs, type HaPrefs } from "../model/ha-prefs.ts";
import type { HaMessage } from "./protocol.ts";
import { ReplicatedStore } from "./replicated-store.ts";
import { decide, isServing, type HaAction, type HaState, type OperatorRequest, type PeerView } from "./roles.ts";
import type { HaConnection } from "./transport.ts";
import { haPaths } from "./pair-state.ts";

/** How long either side of a merge waits for the other before it gives up on it. */
const MERGE_TIMEOUT_MS = 15_000;

/** A store the controller can replicate into and hand over: FileStore is one. */
export interface NodeStore extends ReplicaStore {
  readonly dir: string;
}

export interface ServingHooks {
  /** Wrap the store everything above it writes through (sync before a write resolves). */
  wrapStore: (store: NodeStore) => Store;
  /** The lease engine's allocation policy (pool halves while partitioned). */
  policy: AllocationPolicy;
  /** Replies from another DHCP server seen on the LAN. */
  onForeignReply: (reply: DhcpPacket) => void;
  /** This start takes over from a partner whose jobs are still running. */
  takeover: boolean;
}

export interface ServingRuntime {
  /** Rebind what listens per local address (TFTP) after the VIP moved. */
  refreshAddresses(): Promise<void>;
  /** Put a notice on the API's event stream (merge conflicts). */
  notify?(n: { Type: "ha"; Action: "conflict"; Key: string; Object: Record<string, unknown> }): void;
  /** Stop everything; closes the store handed over. */
  stop(): Promise<void>;
}

export interface ObserverHooks {
  onRequest: (req: DhcpPacket, now: number) => void;
  /** A reply from another DHCP server; `from` is its source address. */
  onReply: (reply: DhcpPacket, from: string, now: number) => void;
}

export interface VipControl {
  readonly address: string;
  acquire(): Promise<void>;
  release(): Promise<void>;
  held(): boolean;
}

/** Who the partner is; absent until the first node has answered an enrolment. */
export interface PairInfo {
  clusterId: string;
  peerName: string;
  /** Addresses this node dials (slot 1 dials, slot 0 listens), the dedicated peer link first. */
  dialAddresses: string[];
  /** Addresses the partner may be heard on (path names in `ha status`). */
  peerAddresses: string[];
}

export interface HaControllerOptions {
  dataDir: string;
  nodeName: string;
  slot: 0 | 1;
  pair: PairInfo | undefined;
  version: string;
  log: Logger;
  vip: VipControl;
  /** Open this node's store (replica: nothing else uses it until startServing). */
  openStore(): Promise<NodeStore>;
  /** Replace the (closed) store's contents with a snapshot. */
  importSnapshot(snap: StoreSnapshot): Promise<void>;
  startServing(store: NodeStore, hooks: ServingHooks): Promise<ServingRuntime>;
  startObserver(hooks: ObserverHooks): Promise<{ stop(): Promise<void> }>;
  /** Dial the partner at `address`. */
  dial(address: string): Promise<HaConnection>;
  /** The prefs map of a store (PrefsService). */
  readPrefs(store: Store): Record<string, string>;
  /** Replicate the data directory's files (files-sync.ts); default true. */
  replicateFiles?: boolean;
  /** Tick period of the role machine; default 100 ms. */
  tickMs?: number;
  now?: () => number;
}

interface PersistedState {
  term: number;
  /** Highest Seq known to be the same on both nodes. */
  sharedSeq: number;
  hasData: boolean;
}

export interface HaStatus {
  Node: string;
  Slot: number;
  State: HaState;
  Term: number;
  Reason: string;
  Vip: string;
  HoldsVip: boolean;
  Seq: number;
  SharedSeq: number;
  Peer: { Name: string; State: HaState | "unknown"; Term: number; Seq: number; LastHeardMs: number | null; Paths: { Address: string; Up: boolean; AgeMs: number | null; RttMs: number | null }[] };
  LagSeq: number;
  LagBytes: number;
  FilesPendingBytes: number;
  UnackedClients: string[];
  SyncTimeouts: number;
  FailoverSafe: boolean;
  Why: string[];
  Transitions: { At: string; From: HaState; To: HaState; Reason: string }[];
  /** Objects both nodes changed while both served, and whose version was kept (the last 100). */
  Conflicts: (MergeConflict & { At: string })[];
}

export class HaController {
  readonly #o: HaControllerOptions;
  #pair: PairInfo;
  readonly #log: Logger;
  readonly #now: () => number;
  #state: HaState = "joining";
  #reason = "starting";
  #persisted: PersistedState = { term: 0, sharedSeq: 0, hasData: false };
  #persistDirty = false;
  #store: NodeStore | null = null;
  #unsubscribeStore: (() => void) | null = null;
  #serving: ServingRuntime | null = null;
  #front: ReplicatedStore | null = null;
  #feeder: Feeder | null = null;
  #observer: { stop(): Promise<void> } | null = null;
  readonly #conns = new Map<string, HaConnection>();
  readonly #openedAt = new WeakMap<HaConnection, number>();
  readonly #dialing = new Set<string>();
  #feedConn: HaConnection | null = null;
  #applier: { conn: HaConnection; applier: Applier } | null = null;
  /** The connection this follower asked the feed on; frames of the feed on any other are dropped. */
  #followConn: HaConnection | null = null;
  #filesSource: FileSyncSource | null = null;
  #filesTarget: FileSyncTarget | null = null;
  /** The connection the active's file messages come on (the standby answers on it). */
  #filesConn: HaConnection | null = null;
  #peer: (NodeReport & { at: number }) | null = null;
  #peerSeq = 0;
  #hb: HeartbeatBook;
  #tracker: UnackedTracker;
  #prefs: HaPrefs = { ...HA_PREF_DEFAULTS };
  readonly #ledger = new LeaseLedger();
  readonly #policy: HaPoolPolicy;
  #operator: OperatorRequest | undefined;
  #peerSteppedDown = false;
  #syncTimedOut = false;
  #partnerDownAt: number | undefined;
  #startedMs = 0;
  #tickTimer: ReturnType<typeof setInterval> | null = null;
  #hbTimer: ReturnType<typeof setTimeout> | null = null;
  #busy = false;
  #stopped = false;
  #cooldownUntil = 0;
  /** Two serving nodes met: this node's side of the merge (see reconcile.ts). */
  #reconcile: { role: "winner" | "loser"; done: boolean; parts: DivergentEntry[]; nextPart: number; startedAt: number; timer: ReturnType<typeof setTimeout> } | null = null;
  readonly #conflicts: (MergeConflict & { At: string })[] = [];
  readonly #transitions: HaStatus["Transitions"] = [];
  readonly #badFrame: ReturnType<typeof rateLimited>;

  constructor(opts: HaControllerOptions) {
    this.#o = opts;
    this.#pair = opts.pair ?? { clusterId: "", peerName: "", dialAddresses: [], peerAddresses: [] };
    this.#log = opts.log;
    this.#now = opts.now ?? Date.now;
    this.#hb = new HeartbeatBook(this.#pair.peerAddresses, this.#prefs.heartbeatTimeoutMs);
    this.#tracker = new UnackedTracker({ maxAckDelayMs: this.#prefs.maxAckDelayMs });
    this.#badFrame = rateLimited(opts.log, 60_000, 1);
    this.#policy = new HaPoolPolicy({
      slot: opts.slot,
      state: () => this.#state,
      ledger: this.#ledger,
      mcltSeconds: () => this.#prefs.mcltSeconds,
      lastContactMs: () => this.#hb.lastHeard(),
      partnerDownConfirmedMs: () => this.#partnerDownAt,
      paired: () => this.paired,
    });
  }

  get state(): HaState {
    return this.#state;
  }

  get policy(): AllocationPolicy {
    return this.#policy;
  }

  /** Open the replica, start watching DHCP and the timers. Connections are handed in by `accept`. */
  async start(opts: { firstNode?: boolean } = {}): Promise<void> {
    this.#startedMs = this.#now();
    this.#persisted = await this.#readState();
    if (opts.firstNode && !this.#persisted.hasData) {
      // The node that answered the enrolment: its store is the pair's.
      this.#persisted.hasData = true;
      await this.#saveState();
    }
    await this.#openReplica();
    // The heartbeat timeout is read once, here: changing it takes a restart of the node.
    this.#refreshPrefs();
    this.#hb = new HeartbeatBook(this.#pair.peerAddresses, this.#prefs.heartbeatTimeoutMs);
    await this.#startObserver();
    this.#tickTimer = setInterval(() => void this.#tick(), this.#o.tickMs ?? 100);
    this.#scheduleHeartbeat();
    this.#log.info("HA node started", { node: this.#o.nodeName, slot: this.#o.slot, term: this.#persisted.term, seq: this.#store?.seq, peer: this.#pair.peerName });
  }

  /** A connection to the partner on one path (dialled by this node or accepted by the listener). */
  accept(conn: HaConnection, path: string): void {
    if (this.#stopped) {
      conn.close("node stopping");
      return;
    }
    const old = this.#conns.get(path);
    if (old && old !== conn) old.close("replaced by a new connection on the same path");
    this.#conns.set(path, conn);
    this.#openedAt.set(conn, this.#now());
    conn.onMessage((msg, body) => this.#onMessage(conn, path, msg, body));
    conn.onClose((reason) => this.#onClose(conn, path, reason));
    this.#sendHello(conn);
  }

  /** Paired (the first node answered an enrolment): the partner may connect from now on. */
  setPair(pair: PairInfo): void {
    this.#pair = pair;
    this.#log.info("HA paired", { peer: pair.peerName, cluster: pair.clusterId, addresses: pair.peerAddresses.join(",") });
  }

  get peerName(): string {
    return this.#pair.peerName;
  }

  get paired(): boolean {
    return this.#pair.peerName !== "";
  }

  /**
   * An operator request, taken into account at the next tick; one that cannot apply now is refused
   * with the reason (SocleError Conflict) instead of being accepted and then ignored.
   */
  request(op: OperatorRequest): void {
    const serving = isServing(this.#state);
    const heard = this.#peer !== null && !this.#hb.peerSilent(this.#now());
    if (op === "takeover" && serving) throw new SocleError("Conflict", "ha", op, `this node already serves (${this.#state}); to move the active role to the partner, ask this node to step down`);
    if (op === "step-down" && !(serving && heard && this.#peer?.state === "standby" && this.#feeder?.streaming)) {
      throw new SocleError("Conflict", "ha", op, `no caught-up standby to hand over to (partner ${heard ? this.#peer?.state : "not heard"})`);
    }
    if (op === "partner-down" && heard) throw new SocleError("Conflict", "ha", op, `the partner is heard (${this.#peer?.state}): partner-down is only for a partner that is off`);
    this.#operator = op;
  }

  status(): HaStatus {
    const now = this.#now();
    const store = this.#store;
    const seq = store?.seq ?? 0;
    const lag = this.#feeder?.lag() ?? { seq: 0, bytes: 0 };
    const peer = this.#peer;
    const why: string[] = [];
    const serving = isServing(this.#state);
    if (!this.paired) why.push("not paired yet: run `socle ha enrol` on this node, then `socle ha join` on the second one");
    else if (!peer || this.#hb.peerSilent(now)) why.push("the partner is not heard on any path");
    else if (serving) {
      if (!this.#feeder?.streaming) why.push("the standby is not streaming yet (catching up)");
      else if (lag.seq > 0) why.push(`the standby lags by ${lag.seq} changes`);
      if (peer.state !== "standby") why.push(`the partner is ${peer.state}`);
    } else {
      if (!isServing(peer.state)) why.push(`the partner is ${peer.state}, not serving`);
      if (this.#state !== "standby") why.push(`this node is ${this.#state}`);
      if (!peer.streaming) why.push("the active's feed to this node is not live");
      if (seq < this.#peerSeq) why.push(`this node lags by ${this.#peerSeq - seq} changes`);
    }
    const files = this.#filesTarget?.pendingBytes ?? 0;
    if (files > 0) why.push(`${files} bytes of files not yet on the standby`);
    return {
      Node: this.#o.nodeName,
      Slot: this.#o.slot,
      State: this.#state,
      Term: this.#persisted.term,
      Reason: this.#reason,
      Vip: this.#o.vip.address,
      HoldsVip: this.#o.vip.held(),
      Seq: seq,
      SharedSeq: this.#persisted.sharedSeq,
      Peer: {
        Name: this.#pair.peerName,
        State: peer?.state ?? "unknown",
        Term: peer?.term ?? 0,
        Seq: this.#peerSeq,
        LastHeardMs: this.#hb.lastHeard() === undefined ? null : now - this.#hb.lastHeard()!,
        Paths: this.#hb.status(now).map((p) => ({ Address: p.path, Up: p.up, AgeMs: p.ageMs ?? null, RttMs: p.rttMs ?? null })),
      },
      LagSeq: serving ? lag.seq : Math.max(0, this.#peerSeq - seq),
      LagBytes: lag.bytes + files,
      FilesPendingBytes: files,
      UnackedClients: this.#tracker.unacked(now, this.#hb.lastHeard() ?? this.#startedMs).map((u) => u.mac),
      SyncTimeouts: this.#front?.timeouts ?? 0,
      FailoverSafe: why.length === 0,
      Why: why,
      Transitions: [...this.#transitions],
      Conflicts: [...this.#conflicts],
    };
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#tickTimer) clearInterval(this.#tickTimer);
    if (this.#hbTimer) clearTimeout(this.#hbTimer);
    while (this.#busy) await Bun.sleep(10);
    for (const c of this.#conns.values()) c.close("node stopping");
    this.#conns.clear();
    await this.#stopServing(false);
    await this.#observer?.stop().catch(() => {});
    this.#observer = null;
    await this.#o.vip.release().catch((err) => this.#log.warn("releasing the VIP failed", { error: String(err) }));
    if (this.#store) {
      this.#unsubscribeStore?.();
      await this.#store.close().catch(() => {});
      this.#store = null;
    }
    await this.#flushState();
    this.#log.info("HA node stopped", { node: this.#o.nodeName });
  }

  // ---- the role machine -------------------------------------------------------------------------

  async #tick(): Promise<void> {
    if (this.#busy || this.#stopped) return;
    this.#busy = true;
    try {
      const now = this.#now();
      this.#refreshPrefs();
      this.#dropSilentPaths(now);
      this.#front?.refreshMode();
      this.#dialMissing();
      if (this.#persistDirty) await this.#flushState();
      if (now < this.#cooldownUntil) return;
      const silentSince = this.#hb.lastHeard() ?? this.#startedMs;
      const peer = this.#peerView();
      const d = decide(
        this.#state,
        {
          slot: this.#o.slot,
          term: this.#persisted.term,
          hasData: this.#persisted.hasData,
          seq: this.#store?.seq ?? 0,
          tail: !this.#serving && (this.#store?.seq ?? 0) > this.#persisted.sharedSeq,
          prefs: this.#prefs,
          startedMs: this.#startedMs,
          peerLastHeardMs: this.#hb.lastHeard(),
          peer,
          lastActiveReplyMs: this.#tracker.lastReplyAt(),
          lastRequestMs: this.#tracker.lastRequestAt(),
          ...unackedFacts(this.#tracker.unacked(now, silentSince), this.#prefs.maxAckDelayMs),
          caughtUp: this.#caughtUp(),
          needFullSync: false,
          syncTimedOut: this.#syncTimedOut,
          peerSteppedDown: this.#peerSteppedDown,
          reconcileDone: this.#reconcile?.done ?? true,
          operator: this.#operator,
        },
        now,
      );
      const from = this.#state;
      this.#operator = undefined;
      if (d.next === from && d.actions.length === 0) {
        this.#reason = d.reason;
        return;
      }
      this.#log.info(`HA ${from} -> ${d.next}: ${d.reason}`, { term: this.#persisted.term, actions: d.actions.join(",") });
      try {
        // What this node reports while it carries the actions out (a Hello sent meanwhile) is the
        // state it is going to.
        this.#state = d.next;
        await this.#run(d.actions, from, d.next);
        this.#reason = d.reason;
        this.#transitions.push({ At: new Date(now).toISOString(), From: from, To: d.next, Reason: d.reason });
        if (this.#transitions.length > 20) this.#transitions.shift();
        if (d.next !== from) this.#peerSteppedDown = false;
        // Tell the partner at once rather than at the next heartbeat.
        this.#heartbeat();
      } catch (err) {
        this.#log.error(`HA ${from} -> ${d.next} failed; back to standby, next try in 5 s`, { error: err instanceof Error ? err.message : String(err) });
        await this.#recoverToStandby();
        this.#cooldownUntil = this.#now() + 5000;
      }
    } catch (err) {
      this.#log.error("HA tick failed", { error: err instanceof Error ? err.stack ?? err.message : String(err) });
    } finally {
      this.#busy = false;
    }
  }

  async #run(actions: readonly HaAction[], from: HaState, to: HaState): Promise<void> {
    // The loser of two serving nodes reads what it wrote alone before it stops serving (closing
    // the store compacts its journal away).
    const losing = actions.includes("reconcile") && actions.includes("stopWriteSide");
    const divergence = losing ? await this.#divergence() : undefined;
    for (const a of actions) {
      switch (a) {
        case "bumpTerm":
          this.#persisted.term = Math.max(this.#persisted.term, this.#peer?.term ?? 0) + 1;
          await this.#saveState();
          break;
        case "startWriteSide":
          await this.#startServing(from === "standby" || from === "joining");
          break;
        case "stopWriteSide":
          await this.#stopServing(true);
          break;
        case "acquireVip":
          await this.#o.vip.acquire();
          await this.#serving?.refreshAddresses();
          break;
        case "releaseVip":
          await this.#o.vip.release();
          await this.#serving?.refreshAddresses();
          break;
        case "askPeerStepDown":
          this.#primaryConn()?.send({ T: "AskStepDown" }, undefined, { urgent: true });
          break;
        case "handOver":
          for (const c of this.#conns.values()) c.send({ T: "StepDown" }, undefined, { urgent: true });
          break;
        case "confirmPartnerDown":
          this.#partnerDownAt = this.#now();
          break;
        case "reconcile":
          if (losing) this.#sendDivergence(divergence ?? []);
          else this.#awaitDivergence();
          break;
        case "resync":
          this.#sendHelloOnPrimary();
          break;
        case "openDhcp":
        case "closeDhcp":
        case "writesSynced":
        case "writesSolo":
        case "writesRefused":
          // Carried by the other actions: DHCP answers only while serving (startServing), and
          // writes wait for the standby whenever its feed is live (replicated-store.ts).
          break;
      }
    }
  }

  #peerView(): PeerView | undefined {
    const p = this.#peer;
    if (!p) return undefined;
    // Seen from the serving side, "streaming" is what this node's feeder knows, not the report.
    const streaming = isServing(this.#state) ? (this.#feeder?.streaming ?? false) && this.#feedConn !== null : p.streaming;
    return { state: p.state, term: p.term, streaming, hasData: p.hasData, seq: p.seq, tail: p.tail };
  }

  /** Following: the active's feed to this node is live and this store has everything it reported. */
  #caughtUp(): boolean {
    const p = this.#peer;
    if (!p || !isServing(p.state) || !p.streaming || !this.#followConn || !this.#store) return false;
    return this.#persisted.hasData && this.#store.seq >= this.#peerSeq;
  }

  #refreshPrefs(): void {
    const store = this.#store;
    if (!store) return;
    let map: Record<string, string>;
    try {
      map = this.#o.readPrefs(store);
    } catch {
      return;
    }
    const { prefs, errors } = readHaPrefs((name) => map[name]);
    for (const e of errors) this.#badFrame("prefs", `HA prefs: ${e}`);
    if (prefs.maxAckDelayMs !== this.#prefs.maxAckDelayMs) this.#tracker = new UnackedTracker({ maxAckDelayMs: prefs.maxAckDelayMs });
    this.#prefs = prefs;
  }

  // ---- reconciling two serving nodes ------------------------------------------------------------

  /** What this node changed after the last Seq both shared, per object. */
  async #divergence(): Promise<DivergentEntry[]> {
    const store = this.#store;
    if (!store) return [];
    const changes = await this.#history(store, this.#persisted.sharedSeq);
    if (changes === undefined) {
      this.#log.error("HA this node's changes since the fork are no longer in its journal; what it wrote alone cannot be merged and is lost", { fork: this.#persisted.sharedSeq, seq: store.seq });
      return [];
    }
    return [...lastPerObject(changes).values()];
  }

  async #history(store: NodeStore, from: number): Promise<Change[] | undefined> {
    const out: Change[] = [];
    let at = from;
    for (;;) {
      const page = await store.changesSince(at, 1000);
      if (page === undefined) return undefined;
      if (page.length === 0) return out;
      out.push(...page);
      at = page[page.length - 1]!.Seq;
    }
  }

  #sendDivergence(entries: DivergentEntry[]): void {
    const conn = this.#primaryConn();
    this.#startReconcile("loser");
    if (!conn) return;
    this.#log.warn("HA two serving nodes met and the partner wins: sending what this node wrote alone for it to merge, then resyncing from it", { objects: entries.length, fork: this.#persisted.sharedSeq });
    const chunk = 2000;
    let part = 0;
    for (let i = 0; i === 0 || i < entries.length; i += chunk) {
      conn.send({ T: "Divergence", part: part++, last: i + chunk >= entries.length, entries: entries.slice(i, i + chunk) });
    }
  }

  #awaitDivergence(): void {
    // The loser's frames may have started (or even finished) the merge already: keep that one.
    const r = this.#reconcile;
    if (r?.role === "winner" && this.#now() - r.startedAt < MERGE_TIMEOUT_MS) return;
    this.#startReconcile("winner");
    this.#log.warn("HA two serving nodes met and this node wins: merging what the partner wrote alone");
  }

  #startReconcile(role: "winner" | "loser"): void {
    if (this.#reconcile) clearTimeout(this.#reconcile.timer);
    const r = {
      role,
      done: false,
      parts: [] as DivergentEntry[],
      nextPart: 0,
      startedAt: this.#now(),
      // A partner that goes silent mid-merge must not keep this node reconciling.
      timer: setTimeout(() => {
        if (this.#reconcile === r && !r.done) {
          this.#log.warn(`HA merge with the partner did not finish within ${MERGE_TIMEOUT_MS / 1000} s; ${role === "winner" ? "serving with this node's store" : "resyncing from the partner"}`);
          r.done = true;
        }
      }, MERGE_TIMEOUT_MS),
    };
    this.#reconcile = r;
  }

  async #onDivergence(part: number, last: boolean, entries: DivergentEntry[]): Promise<void> {
    let r = this.#reconcile;
    if (!r || r.role !== "winner" || r.done) {
      // The loser decides on its own tick and has stepped back before it sends: this node's tick
      // may never see two serving nodes (by then the partner is reconciling, not serving). Its
      // first frame, arriving while this node serves, starts the merge here.
      if (!this.#serving || part !== 0) return;
      this.#startReconcile("winner");
      this.#log.warn("HA the partner stepped back after both served: merging what it wrote alone");
      r = this.#reconcile!;
    }
    if (part !== r.nextPart) return;
    r.parts.push(...entries);
    r.nextPart++;
    if (!last) return;
    const store = this.#store;
    const front = this.#front;
    let applied = 0;
    const conflicts: MergeConflict[] = [];
    if (store && front) {
      const mine = await this.#history(store, this.#persisted.sharedSeq);
      const plan = planMerge(r.parts, mine === undefined ? undefined : lastPerObject(mine), (t, k) => store.get(t, k));
      for (const w of plan.writes) {
        try {
          if (w.Object === null) {
            if (store.get(w.Type, w.Key)) await front.delete(w.Type, w.Key);
          } else await front.put(w.Type, w.Key, w.Object);
          applied++;
        } catch (err) {
          this.#log.error("HA merge: the partner's version could not be written", { type: w.Type, key: w.Key, error: err instanceof Error ? err.message : String(err) });
        }
      }
      conflicts.push(...plan.conflicts);
    }
    for (const c of conflicts) this.#noteConflict(c);
    this.#log.warn("HA merged what the partner wrote alone", { objects: r.parts.length, applied, conflicts: conflicts.length });
    this.#primaryConn()?.send({ T: "MergeDone", applied, conflicts: conflicts.length });
    clearTimeout(r.timer);
    r.done = true;
  }

  #noteConflict(c: MergeConflict): void {
    const at = new Date(this.#now()).toISOString();
    this.#conflicts.push({ ...c, At: at });
    if (this.#conflicts.length > 100) this.#conflicts.shift();
    this.#log.warn(`HA merge conflict on ${c.ObjectType} "${c.ObjectKey}": kept the ${c.Kept}'s version`, { reason: c.Reason, winnerSeq: c.WinnerSeq, loserSeq: c.LoserSeq });
    this.#serving?.notify?.({ Type: "ha", Action: "conflict", Key: `${c.ObjectType}/${c.ObjectKey}`, Object: { ...c, At: at } });
  }

  // ---- serving and following --------------------------------------------------------------------

  async #startServing(takeover: boolean): Promise<void> {
    if (this.#serving) return;
    const store = this.#store;
    if (!store) throw new Error("no store to serve from");
    this.#dropApplier("this node serves now");
    await this.#observer?.stop();
    this.#observer = null;
    const feeder = new Feeder({ store, log: this.#log.child("feed") });
    this.#feeder = feeder;
    this.#filesTarget?.reset("this node serves now");
    this.#filesTarget = null;
    if (this.#o.replicateFiles !== false) {
      this.#filesSource = new FileSyncSource({ dataDir: this.#o.dataDir, log: this.#log.child("files"), scanIntervalMs: this.#prefs.fileScanIntervalSeconds * 1000 });
    }
    this.#syncTimedOut = false;
    this.#serving = await this.#o.startServing(store, {
      wrapStore: (s) => {
        this.#front = new ReplicatedStore(s, {
          feeder,
          timeoutMs: () => this.#prefs.syncTimeoutMs,
          onMode: (mode, why) => {
            this.#syncTimedOut = mode === "solo";
            this.#log.warn(`HA writes ${mode === "solo" ? "no longer wait for" : "wait again for"} the standby: ${why}`);
          },
        });
        return this.#front;
      },
      policy: this.#policy,
      onForeignReply: () => {},
      takeover,
    });
    // A partner already connected and following gets the feed now.
    const p = this.#peer;
    const conn = this.#primaryConn();
    if (p && conn && !isServing(p.state)) this.#attachFeed(conn, p);
  }

  async #stopServing(reopen: boolean): Promise<void> {
    const serving = this.#serving;
    if (!serving) return;
    this.#serving = null;
    this.#feeder?.detach("this node stopped serving");
    this.#filesSource?.detach("this node stopped serving");
    this.#filesSource = null;
    this.#feedConn = null;
    const acked = this.#feeder?.ackedSeq ?? 0;
    this.#feeder = null;
    this.#front = null;
    const seq = this.#store?.seq ?? 0;
    this.#unsubscribeStore?.();
    this.#unsubscribeStore = null;
    this.#store = null;
    await serving.stop();
    // What this node wrote that the partner never confirmed is a tail: the next Hello says so and
    // the winner sends its whole store.
    if (acked > this.#persisted.sharedSeq) this.#persisted.sharedSeq = acked;
    if (seq > this.#persisted.sharedSeq && this.paired) this.#log.warn("HA this node holds changes the partner never confirmed; they are replaced when it resyncs", { from: this.#persisted.sharedSeq + 1, to: seq });
    await this.#saveState();
    if (!reopen) return;
    await this.#openReplica();
    await this.#startObserver();
    this.#sendHelloOnPrimary();
  }

  async #recoverToStandby(): Promise<void> {
    await this.#stopServing(false).catch(() => {});
    await this.#o.vip.release().catch(() => {});
    if (!this.#store) await this.#openReplica();
    if (!this.#observer) await this.#startObserver().catch((err) => this.#log.error("DHCP observer did not start", { error: String(err) }));
    this.#state = this.#persisted.hasData ? "standby" : "joining";
  }

  async #openReplica(): Promise<void> {
    const store = await this.#o.openStore();
    this.#store = store;
    this.#ledger.seed(leaseEntries(store.list("leases")));
    this.#unsubscribeStore = store.subscribe((c) => this.#onStoreChange(c));
  }

  async #startObserver(): Promise<void> {
    this.#observer = await this.#o.startObserver({
      onRequest: (req, now) => {
        const type = req.options.get(53)?.[0];
        if (type !== 1 && type !== 3) return; // DHCPDISCOVER, DHCPREQUEST
        this.#tracker.noteRequest({ mac: macString(req.chaddr, req.htype, req.hlen), xid: req.xid, secs: req.secs, isIpxe: isIpxe(req), now });
      },
      onReply: (reply, from, now) => {
        // The active's replies name the VIP and come from the partner's own address; a reply
        // from any other server on the segment says nothing about the partner.
        const id = reply.options.get(54);
        if (!id || id.length !== 4 || id.join(".") !== this.#o.vip.address || !this.#pair.peerAddresses.includes(from)) return;
        this.#tracker.noteReply({ mac: macString(reply.chaddr, reply.htype, reply.hlen), xid: reply.xid, now });
      },
    });
  }

  #onStoreChange(c: Change): void {
    // The feeder exists from the moment this node starts serving (seeding and the admin user are
    // written during the start): every change since is this node's own.
    const own = this.#feeder !== null;
    if (c.Type === "leases") {
      const lease = c.Action === "delete" ? undefined : partnerLease(c.Object);
      if (own) this.#ledger.localWrite(c.Key, lease, c.Seq);
      else this.#ledger.fromPartner(c.Key, lease);
    }
    if (!own) {
      // Everything a follower's store holds came from the active.
      this.#persisted.sharedSeq = c.Seq;
      this.#persistDirty = true;
    }
  }

  #attachFeed(conn: HaConnection, peer: NodeReport): void {
    const feeder = this.#feeder;
    if (!feeder) return;
    this.#feedConn = conn;
    const why = !peer.hasData ? "the standby has no copy yet" : peer.tail ? "the standby holds changes this node never had (written alone, never confirmed): they are dropped" : undefined;
    void feeder.attach(conn, peer.seq, { snapshot: why !== undefined, ...(why ? { why } : {}) });
    this.#filesSource?.attach(conn);
  }

  #dropApplier(reason: string): void {
    if (!this.#applier) return;
    this.#log.debug("HA replication from the partner ended", { reason });
    this.#applier = null;
  }

  #applierFor(conn: HaConnection): Applier {
    if (this.#applier?.conn === conn) return this.#applier.applier;
    // The applier of an earlier connection may still be installing a snapshot: this one waits.
    const after = this.#applier?.applier.idle();
    const applier = new Applier({
      ...(after ? { after } : {}),
      store: () => {
        if (!this.#store) throw new Error("the store is closed");
        return this.#store;
      },
      replace: async (snap) => {
        // The role machine waits meanwhile: a promotion must not find the store closed, nor
        // reopen it under the import (which holds the data directory's lock).
        while (this.#busy) await Bun.sleep(5);
        this.#busy = true;
        try {
          const old = this.#store;
          this.#unsubscribeStore?.();
          this.#store = null;
          await old?.close();
          await this.#o.importSnapshot(snap);
          await this.#openReplica();
          this.#persisted.sharedSeq = snap.seq;
          this.#persisted.hasData = true;
          await this.#saveState();
          return this.#store!;
        } catch (err) {
          // The import is all or nothing: reopen whichever store is there now, old or new.
          if (!this.#store) await this.#openReplica().catch((e) => this.#log.error("HA store cannot be reopened after a failed import", { error: String(e) }));
          throw err;
        } finally {
          this.#busy = false;
        }
      },
      ack: (seq) => {
        conn.send({ T: "Ack", seq }, undefined, { urgent: true });
        if (!this.#persisted.hasData && seq >= this.#peerSeq) {
          this.#persisted.hasData = true;
          this.#persistDirty = true;
        }
      },
      fail: (reason) => conn.close(`replication stopped: ${reason}`),
      log: this.#log.child("apply"),
    });
    this.#applier = { conn, applier };
    return applier;
  }

  // ---- connections and messages -------------------------------------------------------------------

  #report(): NodeReport {
    const seq = this.#store?.seq ?? 0;
    const serving = isServing(this.#state);
    return {
      state: this.#state,
      term: this.#persisted.term,
      seq,
      hasData: this.#persisted.hasData,
      streaming: serving ? (this.#feeder?.streaming ?? false) : this.#caughtUp(),
      tail: !serving && seq > this.#persisted.sharedSeq,
    };
  }

  /** Hello on `conn`; a node that follows asks for the feed on one connection at a time. */
  #sendHello(conn: HaConnection): void {
    const follow = !this.#serving && (this.#followConn === null || this.#followConn === conn);
    if (follow) this.#followConn = conn;
    conn.send({ T: "Hello", node: this.#o.nodeName, cluster: this.#pair.clusterId, version: this.#o.version, follow, ...this.#report() }, undefined, { urgent: true });
  }

  #sendHelloOnPrimary(): void {
    const c = this.#primaryConn();
    if (c) this.#sendHello(c);
  }

  /** The connection replication uses: the first configured path that is connected. */
  #primaryConn(): HaConnection | null {
    for (const a of this.#pair.peerAddresses) {
      const c = this.#conns.get(a);
      if (c) return c;
    }
    return this.#conns.values().next().value ?? null;
  }

  #scheduleHeartbeat(): void {
    if (this.#stopped) return;
    this.#hbTimer = setTimeout(() => {
      this.#heartbeat();
      this.#scheduleHeartbeat();
    }, this.#prefs.heartbeatIntervalMs);
  }

  #heartbeat(): void {
    const msg = { T: "Hb", t: this.#now(), ...this.#report() };
    for (const c of this.#conns.values()) c.send(msg, undefined, { urgent: true });
  }

  #dialMissing(): void {
    for (const address of this.#pair.dialAddresses) {
      if (this.#conns.has(address) || this.#dialing.has(address)) continue;
      this.#dialing.add(address);
      this.#o
        .dial(address)
        .then((conn) => this.accept(conn, address))
        .catch((err) => this.#log.debug("HA dial failed", { address, error: err instanceof Error ? err.message : String(err) }))
        .finally(() => {
          // One attempt per address per second at most.
          setTimeout(() => this.#dialing.delete(address), 1000);
        });
    }
  }

  /**
   * A connection whose path has been silent for the heartbeat timeout is closed: TCP would keep a
   * connection over a dead link open for minutes, with the feed stuck on it. Closing it moves the
   * feed to a path that works (the follower asks again on it) and lets the dialler retry.
   */
  #dropSilentPaths(now: number): void {
    for (const [path, conn] of this.#conns) {
      // A new connection gets the timeout to say its first word.
      if (this.#hb.pathUp(path, now) || now - (this.#openedAt.get(conn) ?? now) < this.#prefs.heartbeatTimeoutMs) continue;
      this.#log.info("HA path silent; closing its connection", { path, ms: this.#prefs.heartbeatTimeoutMs });
      conn.close(`no frame for ${this.#prefs.heartbeatTimeoutMs} ms`);
      if (this.#conns.get(path) === conn) this.#conns.delete(path);
    }
  }

  #onClose(conn: HaConnection, path: string, reason: string): void {
    if (this.#conns.get(path) === conn) this.#conns.delete(path);
    this.#log.info("HA connection to the partner closed", { path, reason });
    if (this.#feedConn === conn) {
      this.#feeder?.detach(`connection closed: ${reason}`);
      this.#filesSource?.detach(`connection closed: ${reason}`);
      this.#feedConn = null;
    }
    if (this.#filesConn === conn) {
      this.#filesTarget?.reset(`connection closed: ${reason}`);
      this.#filesConn = null;
    }
    if (this.#applier?.conn === conn) this.#dropApplier(reason);
    if (this.#followConn === conn) {
      this.#followConn = null;
      // Ask for the feed on another path, if one is up.
      if (!this.#serving) this.#sendHelloOnPrimary();
    }
  }

  #onMessage(conn: HaConnection, path: string, raw: HaMessage, body: Uint8Array | undefined): void {
    const now = this.#now();
    this.#hb.heard(path, now);
    if (isFileMessage(raw)) {
      this.#onFileMessage(conn, raw, body);
      return;
    }
    const msg = readPeerMessage(raw);
    if (msg instanceof Error) {
      this.#badFrame(`frame:${path}`, "HA frame from the partner refused; closing the connection", { path, error: msg.message });
      conn.close(`bad frame: ${msg.message}`);
      return;
    }
    switch (msg.T) {
      case "Hello": {
        if (msg.cluster !== this.#pair.clusterId) {
          this.#badFrame(`cluster:${path}`, "HA partner belongs to another pair; closing", { theirs: msg.cluster, ours: this.#pair.clusterId });
          conn.close("another pair");
          return;
        }
        if (msg.version !== this.#o.version) {
          this.#badFrame(`version:${path}`, "HA partner runs another version: both nodes must run the same one; not replicating", { theirs: msg.version, ours: this.#o.version });
          conn.close("another version");
          return;
        }
        this.#notePeer(msg, now);
        // A follower asks for the feed with its Hello; the serving node answers with it.
        if (msg.follow && this.#serving && !isServing(msg.state)) this.#attachFeed(conn, msg);
        return;
      }
      case "Hb":
        this.#notePeer(msg, now);
        return;
      case "Changes":
      case "Snap":
        // A serving node takes no feed; a follower takes it on the connection it asked on.
        if (this.#serving || conn !== this.#followConn) return;
        this.#applierFor(conn).handle(msg);
        return;
      case "Ack":
        if (this.#feedConn === conn && this.#feeder?.onAck(msg.seq)) {
          this.#ledger.acked(msg.seq);
          if (msg.seq > this.#persisted.sharedSeq) {
            this.#persisted.sharedSeq = msg.seq;
            this.#persistDirty = true;
          }
        }
        return;
      case "StepDown":
        this.#peerSteppedDown = true;
        return;
      case "Divergence":
        void this.#onDivergence(msg.part, msg.last, msg.entries);
        return;
      case "MergeDone":
        if (this.#reconcile?.role === "loser" && !this.#reconcile.done) {
          this.#log.info("HA the partner merged what this node wrote alone", { applied: msg.applied, conflicts: msg.conflicts });
          clearTimeout(this.#reconcile.timer);
          this.#reconcile.done = true;
        }
        return;
      case "AskStepDown":
        if (isServing(this.#state)) this.#operator = "step-down";
        return;
    }
  }

  #onFileMessage(conn: HaConnection, raw: HaMessage, body: Uint8Array | undefined): void {
    if (this.#serving || this.#o.replicateFiles === false) return; // a serving node takes no files
    if (this.#filesConn !== conn) {
      this.#filesTarget?.reset("the active's files now come on another connection");
      this.#filesTarget = new FileSyncTarget({
        dataDir: this.#o.dataDir,
        log: this.#log.child("files"),
        send: (msg, b) => void conn.send(msg, b),
      });
      this.#filesConn = conn;
    }
    this.#filesTarget?.handle(raw, body);
  }

  #notePeer(r: NodeReport, now: number): void {
    this.#peer = { ...r, at: now };
    this.#peerSeq = r.seq;
  }

  // ---- persisted state ---------------------------------------------------------------------------

  async #readState(): Promise<PersistedState> {
    const file = join(haPaths(this.#o.dataDir).dir, "state.json");
    try {
      const v = JSON.parse(await readFile(file, "utf8")) as Partial<PersistedState>;
      const n = (x: unknown) => (typeof x === "number" && Number.isSafeInteger(x) && x >= 0 ? x : 0);
      return { term: n(v.term), sharedSeq: n(v.sharedSeq), hasData: v.hasData === true };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") this.#log.warn("HA state.json unreadable; starting from term 0 and asking for a full sync", { file, error: String(err) });
      return { term: 0, sharedSeq: 0, hasData: false };
    }
  }

  async #saveState(): Promise<void> {
    this.#persistDirty = false;
    const file = join(haPaths(this.#o.dataDir).dir, "state.json");
    await writeFileAtomic(file, `${JSON.stringify(this.#persisted)}\n`, 0o600);
  }

  async #flushState(): Promise<void> {
    if (!this.#persistDirty) return;
    await this.#saveState().catch((err) => this.#log.warn("HA state.json not written", { error: String(err) }));
  }
}

/** The unanswered clients for the role machine: their MACs, and when the newest began to wait. */
function unackedFacts(list: readonly UnackedClient[], maxAckDelayMs: number): { unacked: string[]; newestUnackedWaitMs?: number } {
  if (list.length === 0) return { unacked: [] };
  return { unacked: list.map((u) => u.mac), newestUnackedWaitMs: Math.max(...list.map((u) => u.atMs)) - maxAckDelayMs };
}

function partnerLease(o: ModelObject): PartnerLease | undefined {
  if (o.State !== "ACK" || typeof o.Token !== "string" || typeof o.ExpireTime !== "string") return undefined;
  const expireMs = Date.parse(o.ExpireTime);
  return Number.isNaN(expireMs) ? undefined : { mac: o.Token, expireMs };
}

function* leaseEntries(list: readonly ModelObject[]): Iterable<[string, PartnerLease]> {
  for (const o of list) {
    const l = partnerLease(o);
    if (l && typeof o.Addr === "string") yield [o.Addr, l];
  }
}

/** iPXE says so in its user class (77) or with its encapsulated options (175). */
function isIpxe(req: DhcpPacket): boolean {
  return req.options.has(175) || req.options.hasUserClass("iPXE");
}
