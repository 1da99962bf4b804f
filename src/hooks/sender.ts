// The webhook sender: turns the store's change feed into signed POSTs. It runs on the serving node
// only (main.ts starts it with the rest of startSocle, which an HA pair runs on the active alone).
//
// - Each change whose "<type>.<action>" matches a hook's Events is queued for that hook (at most
//   `queueLimit`; beyond that the change is logged dead, "queue full"). Bodies are
//   {Type, Action, Key, Seq, Time, Object}, the object redacted as the event stream shows it to a
//   reader without getSecure (no Secret, Secure params as the marker).
// - At most `perHook` attempts in flight per hook and `total` overall, so a slow receiver holds at
//   most its own share. Changes of one object go out in Seq order: a change waits while an earlier
//   one of the same object is in flight or waiting to be retried.
// - Network errors, timeouts, 408, 429 and 5xx are retried after backoff.ts's delays until the
//   hook's MaxAttempts; other 4xx and every 3xx (redirects are not followed) are dead at once, as
//   is an address the policy refuses. Every attempt is a line in the hook's delivery log.
// - The position of each hook (positions.ts) is the Seq below which nothing is left to do; a
//   restart replays from it through changesSince, so delivery is at least once and a repeat
//   carries the same Socle-Delivery id. Queues live in memory only: a failover of an HA pair
//   replays from the new active's positions file, which is not replicated (duplicates, or changes
//   the old active had queued and the new one never saw as pending, are possible there).
// - A hook deleted or disabled stops at once: its queue is dropped and its attempts aborted.

import { mkdir, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "../log/logger.ts";
import { SocleError, conflict, notFound } from "../model/errors.ts";
import { eventMatches } from "../model/event-patterns.ts";
import type { Change, ModelObject } from "../model/object.ts";
import { isEnvelope, type ParamCipher } from "../model/secure-params.ts";
import type { Store } from "../store/store.ts";
import type { AddressPolicy } from "./address-policy.ts";
import { DEFAULT_BACKOFF_BASE_MS, DEFAULT_BACKOFF_CAP_MS, retryAfterMs, retryDelayMs } from "./backoff.ts";
import { DEFAULT_LOG_KEEP, DeliveryLog, type DeliveryEntry, type DeliveryState } from "./delivery-log.ts";
import { readPositions, readSpool, writePositions, writeSpool, type HookPositions } from "./positions.ts";
import { webhookSignature } from "./signature.ts";
import { postPinned, type PostResult } from "./transport.ts";

export interface WebhookTuning {
  /** First retry delay; doubles per attempt (tests shorten it). */
  backoffBaseMs: number;
  backoffCapMs: number;
  perHook: number;
  total: number;
  queueLimit: number;
  /** Delivery log entries kept per hook. */
  logKeep: number;
  /** Extra CA certificates for https receivers (tests); the system store otherwise. */
  ca?: string;
}

export const DEFAULT_TUNING: WebhookTuning = {
  backoffBaseMs: DEFAULT_BACKOFF_BASE_MS,
  backoffCapMs: DEFAULT_BACKOFF_CAP_MS,
  perHook: 4,
  total: 16,
  queueLimit: 10_000,
  logKeep: DEFAULT_LOG_KEEP,
};

export interface WebhookSenderOptions {
  store: Store;
  /** The store's changes after a Seq (ReplicaStore.changesSince): the replay at start. */
  changesSince: (seq: number, limit: number) => Promise<Change[] | undefined>;
  dataDir: string;
  cipher: ParamCipher;
  /** The object as the event stream shows it to a reader without getSecure. */
  redact: (type: string, obj: ModelObject) => ModelObject;
  policy: AddressPolicy;
  log: Logger;
  version: string;
  tuning?: Partial<WebhookTuning>;
}

/** What the API needs for webhooks (api/routes-webhooks.ts): sealing, the SSRF rules, the sender. */
export interface WebhookDeps {
  cipher: ParamCipher;
  policy: AddressPolicy;
  /** The sender; absent on a node that does not send (its delivery routes answer 503). */
  control?: WebhookControl;
}

/** What the API asks of the sender (api/routes-webhooks.ts). */
export interface WebhookControl {
  deliveries(name: string, limit: number): Promise<DeliveryEntry[]>;
  redeliver(name: string, id: string): Promise<{ Id: string; Queued: true }>;
  ping(name: string): Promise<DeliveryEntry>;
}

interface Item {
  id: string;
  seq: number;
  change: Change;
  /** "<type>/<key>": changes of one object go out in order. */
  object: string;
  attempt: number;
  notBefore: number;
  state: "queued" | "inflight" | "waiting";
  body?: string;
  /**
   * Not counted in the hook's position: queued again by the API (redelivery), or read back from
   * the spool (its change may be gone from the store's journal).
   */
  redelivery: boolean;
  spooled: boolean;
}

interface Hook {
  name: string;
  queue: Item[];
  /** Ids in the queue. */
  ids: Set<string>;
  inflight: number;
  abort: AbortController;
  log: DeliveryLog;
  /** Highest Seq this hook has looked at. */
  fed: number;
}

/** The Secret of a webhook object, opened; throws SocleError when it does not open. */
export function openWebhookSecret(cipher: ParamCipher, hook: ModelObject): string {
  const name = String(hook.Name);
  if (!isEnvelope(hook.Secret)) throw new SocleError("Unavailable", "webhooks", name, `webhook "${name}" has no sealed Secret`);
  const v = cipher.open({ type: "webhooks", key: name }, "Secret", hook.Secret);
  if (typeof v !== "string") throw new SocleError("Unavailable", "webhooks", name, `webhook "${name}": the sealed Secret is not a string`);
  return v;
}

const enabled = (o: ModelObject | undefined): o is ModelObject => o !== undefined && o.Enabled !== false;

export class WebhookSender implements WebhookControl {
  private readonly t: WebhookTuning;
  private readonly dir: string;
  private readonly hooks = new Map<string, Hook>();
  private total = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private timerAt = Infinity;
  private stopped = false;
  private unsubscribe: (() => void) | undefined;
  private replaying = true;
  private buffered: Change[] = [];
  private saveTimer: ReturnType<typeof setTimeout> | undefined;
  private saving: Promise<void> = Promise.resolve();
  private readonly running = new Set<Promise<void>>();
  /** Attempts by how they ended, and their total time: what GET /metrics reports. */
  private readonly counts = { delivered: 0, retrying: 0, dead: 0, seconds: 0 };

  constructor(private readonly o: WebhookSenderOptions) {
    this.t = { ...DEFAULT_TUNING, ...o.tuning };
    this.dir = join(o.dataDir, "webhooks");
  }

  async start(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const saved = await readPositions(this.dir);
    const spool = saved.spooled.size > 0 ? await readSpool(this.dir) : new Map<number, Change>();
    const tip = this.o.store.seq;
    this.unsubscribe = this.o.store.subscribe((c) => {
      if (this.replaying) this.buffered.push(c);
      else this.feed(c, true);
    });
    for (const obj of this.o.store.list("webhooks")) {
      if (!enabled(obj)) continue;
      const name = String(obj.Name);
      const h = this.addHook(name, Math.min(saved.hooks.get(name) ?? tip, tip));
      for (const seq of [...new Set(saved.spooled.get(name) ?? [])].sort((a, b) => a - b)) {
        const c = spool.get(seq);
        if (c && seq <= tip) this.enqueue(h, { ...this.item(name, c, false), spooled: true });
      }
    }
    // Logs of webhooks deleted while this node was not sending.
    for (const f of await readdir(this.dir)) {
      const name = f.endsWith(".jsonl") ? f.slice(0, -".jsonl".length) : undefined;
      if (name !== undefined && !this.o.store.get("webhooks", name)) await rm(join(this.dir, f), { force: true });
    }
    let at = Math.min(tip, ...[...this.hooks.values()].map((h) => h.fed));
    while (at < tip && !this.stopped) {
      const page = await this.o.changesSince(at, 1000);
      if (page === undefined) {
        this.o.log.warn("webhooks: the changes since the last delivered one are no longer held; those are not delivered", { from: at, to: tip });
        for (const h of this.hooks.values()) h.fed = Math.max(h.fed, tip);
        break;
      }
      if (page.length === 0) break;
      for (const c of page) if (c.Seq <= tip) this.feed(c, false);
      at = page[page.length - 1]!.Seq;
    }
    this.replaying = false;
    for (const c of this.buffered) if (c.Seq > tip) this.feed(c, true);
    this.buffered = [];
    this.savePositions();
    this.pump();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    if (this.timer) clearTimeout(this.timer);
    for (const h of this.hooks.values()) h.abort.abort();
    await Promise.allSettled([...this.running]);
    if (this.saveTimer) clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
    await this.saving;
    // Every pending delivery's change goes to the spool: the store compacts its journal as it
    // closes, so the next start could not read them back (positions.ts).
    const changes = new Map<number, Change>();
    const p: HookPositions = { hooks: new Map(), spooled: new Map() };
    for (const h of this.hooks.values()) {
      p.hooks.set(h.name, h.fed);
      p.spooled.set(h.name, h.queue.map((it) => it.seq));
      // As it would be sent: redacted (no password hashes, token secrets or Secure values on disk
      // twice, nor kept past a password change).
      for (const it of h.queue) changes.set(it.seq, { ...it.change, Object: this.o.redact(it.change.Type, it.change.Object) });
    }
    try {
      await writeSpool(this.dir, [...changes.values()].sort((a, b) => a.Seq - b.Seq));
      await writePositions(this.dir, p);
    } catch (err) {
      this.o.log.error("webhooks: cannot save the pending deliveries; they are replayed from the store's journal where it still has them", { error: String(err) });
    }
  }

  // ---- the API's side ---------------------------------------------------------------------------

  async deliveries(name: string, limit: number): Promise<DeliveryEntry[]> {
    this.existing(name);
    return this.logOf(name).newest(limit);
  }

  async redeliver(name: string, id: string): Promise<{ Id: string; Queued: true }> {
    const hookObj = this.existing(name);
    const m = /^(.*)-(\d+)$/.exec(id);
    if (!m || m[1] !== name) throw notFound("webhooks", `${name}: delivery ${JSON.stringify(id)}`);
    const seq = Number(m[2]);
    const entries = await this.logOf(name).newest(this.t.logKeep);
    const last = entries.find((e) => e.Id === id);
    if (!last) throw notFound("webhooks", `${name}: delivery ${JSON.stringify(id)}`);
    const hook = this.hooks.get(name);
    if (!enabled(hookObj) || !hook) throw conflict("webhooks", name, `webhook "${name}" is disabled; enable it to redeliver`);
    if (last.State === "retrying" || hook.ids.has(id)) throw conflict("webhooks", name, `delivery ${JSON.stringify(id)} is queued already`);
    const page = await this.o.changesSince(seq - 1, 1);
    const change = page?.[0];
    if (!change || change.Seq !== seq) throw conflict("webhooks", name, `the change of delivery ${JSON.stringify(id)} (Seq ${seq}) is no longer held by the store`);
    if (hook.queue.length >= this.t.queueLimit) throw new SocleError("TooManyRequests", "webhooks", name, `webhook "${name}" has ${hook.queue.length} deliveries queued; retry in 60 s`);
    this.enqueue(hook, this.item(name, change, true));
    this.pump();
    return { Id: id, Queued: true };
  }

  async ping(name: string): Promise<DeliveryEntry> {
    const obj = this.existing(name);
    if (!enabled(obj)) throw conflict("webhooks", name, `webhook "${name}" is disabled; enable it to ping it`);
    const seq = this.o.store.seq;
    const change: Change = { Seq: seq, Time: new Date().toISOString(), Type: "webhooks", Action: "update", Key: name, Object: { Ping: true, Webhook: name } };
    const item: Item = { ...this.item(name, change, true), id: `${name}-ping-${Date.now()}` };
    item.body = JSON.stringify({ Type: "webhooks", Action: "ping", Key: name, Seq: seq, Time: change.Time, Object: change.Object });
    const hook = this.hooks.get(name) ?? { name, queue: [], ids: new Set<string>(), inflight: 0, abort: new AbortController(), log: this.logOf(name), fed: seq };
    item.attempt = 1;
    const result = await this.post(obj, item, hook.abort.signal, "webhooks.ping");
    const outcome = this.classify(result, 1, 1);
    const entry = this.entry(item, "webhooks.ping", result, outcome.state);
    await hook.log.append(entry);
    return entry;
  }

  // ---- the feed ---------------------------------------------------------------------------------

  private existing(name: string): ModelObject {
    const obj = this.o.store.get("webhooks", name);
    if (!obj) throw notFound("webhooks", name);
    return obj;
  }

  private logOf(name: string): DeliveryLog {
    return this.hooks.get(name)?.log ?? new DeliveryLog(DeliveryLog.pathOf(this.dir, name), this.t.logKeep);
  }

  private addHook(name: string, fed: number): Hook {
    const h: Hook = { name, queue: [], ids: new Set(), inflight: 0, abort: new AbortController(), log: new DeliveryLog(DeliveryLog.pathOf(this.dir, name), this.t.logKeep), fed };
    this.hooks.set(name, h);
    return h;
  }

  private dropHook(name: string): Hook | undefined {
    const h = this.hooks.get(name);
    if (!h) return undefined;
    h.abort.abort();
    this.hooks.delete(name);
    return h;
  }

  private feed(c: Change, live: boolean): void {
    if (live && c.Type === "webhooks") this.configChanged(c);
    for (const h of this.hooks.values()) {
      if (c.Seq <= h.fed) continue;
      h.fed = c.Seq;
      const obj = this.o.store.get("webhooks", h.name);
      const events = Array.isArray(obj?.Events) ? (obj.Events as string[]) : [];
      if (!eventMatches(events, c.Type, c.Action) || h.ids.has(`${h.name}-${c.Seq}`)) continue;
      if (h.queue.length >= this.t.queueLimit) {
        const item = this.item(h.name, c, false);
        this.counts.dead++;
        void h.log.append({ Id: item.id, Event: `${c.Type}.${c.Action}`, Attempt: 0, Time: new Date().toISOString(), Error: "queue full", Ms: 0, State: "dead" });
        this.o.log.warn("webhook delivery dropped: queue full", { webhook: h.name, id: item.id, queued: h.queue.length });
        continue;
      }
      this.enqueue(h, this.item(h.name, c, false));
    }
    if (live) {
      this.savePositions();
      this.pump();
    }
  }

  private configChanged(c: Change): void {
    const name = c.Key;
    if (c.Action === "delete") {
      const h = this.dropHook(name);
      void (h?.log ?? this.logOf(name)).remove().catch(() => {});
      return;
    }
    const on = enabled(c.Object);
    const h = this.hooks.get(name);
    // A new or re-enabled hook starts with the changes after this one; a disabled one stops now.
    if (on && !h) this.addHook(name, c.Seq - 1);
    if (!on && h) {
      this.dropHook(name);
      this.o.log.info("webhook disabled: its queue is dropped", { webhook: name, dropped: h.queue.length });
    }
  }

  private item(name: string, change: Change, redelivery: boolean): Item {
    return { id: `${name}-${change.Seq}`, seq: change.Seq, change, object: `${change.Type}/${change.Key}`, attempt: 0, notBefore: 0, state: "queued", redelivery, spooled: false };
  }

  private enqueue(h: Hook, it: Item): void {
    h.queue.push(it);
    h.ids.add(it.id);
  }

  // ---- attempts ---------------------------------------------------------------------------------

  private pump(): void {
    if (this.stopped || this.replaying) return;
    const now = Date.now();
    let wake = Infinity;
    const hooks = [...this.hooks.values()];
    let progress = true;
    while (progress && this.total < this.t.total) {
      progress = false;
      for (const h of hooks) {
        if (this.total >= this.t.total) break;
        if (h.inflight >= this.t.perHook) continue;
        const busy = new Set<string>();
        for (const it of h.queue) {
          if (busy.has(it.object)) continue;
          busy.add(it.object);
          if (it.state !== "queued" && it.state !== "waiting") continue;
          if (it.notBefore > now) {
            wake = Math.min(wake, it.notBefore);
            continue;
          }
          this.launch(h, it);
          progress = true;
          break;
        }
      }
    }
    this.wakeAt(wake);
  }

  private wakeAt(at: number): void {
    if (at === Infinity || at >= this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.pump();
    }, Math.max(0, at - Date.now()));
  }

  private launch(h: Hook, it: Item): void {
    it.state = "inflight";
    it.attempt++;
    h.inflight++;
    this.total++;
    const run = this.attempt(h, it).finally(() => {
      h.inflight--;
      this.total--;
      this.running.delete(run);
      this.pump();
    });
    this.running.add(run);
  }

  /** Attempts so far by outcome (delivered, retrying: failed and to be tried again, dead), their seconds, and what is queued. */
  stats(): { delivered: number; retrying: number; dead: number; seconds: number; queued: number } {
    let queued = 0;
    for (const h of this.hooks.values()) queued += h.queue.length;
    return { ...this.counts, queued };
  }

  private async attempt(h: Hook, it: Item): Promise<void> {
    const obj = this.o.store.get("webhooks", h.name);
    if (!enabled(obj) || this.hooks.get(h.name) !== h) return;
    const event = `${it.change.Type}.${it.change.Action}`;
    const result = await this.post(obj, it, h.abort.signal, event);
    if (!result.ok && result.aborted) return; // deleted, disabled or stopping: nothing to record
    const max = typeof obj.MaxAttempts === "number" ? obj.MaxAttempts : 8;
    const outcome = this.classify(result, it.attempt, max);
    this.counts[outcome.state]++;
    this.counts.seconds += result.ms / 1000;
    await h.log.append(this.entry(it, event, result, outcome.state)).catch((err: unknown) => this.o.log.error("webhooks: cannot write the delivery log", { webhook: h.name, error: String(err) }));
    if (outcome.state === "retrying") {
      it.state = "waiting";
      it.notBefore = Date.now() + (outcome.retryAfterMs ?? retryDelayMs(it.attempt, { baseMs: this.t.backoffBaseMs, capMs: this.t.backoffCapMs }));
      return;
    }
    if (outcome.state === "dead") this.o.log.warn("webhook delivery dead", { webhook: h.name, id: it.id, attempts: it.attempt, ...("status" in result ? { status: result.status } : { error: result.error }) });
    const at = h.queue.indexOf(it);
    if (at >= 0) h.queue.splice(at, 1);
    h.ids.delete(it.id);
    this.savePositions();
  }

  /** One POST of `it` to the hook's URL, its address checked first. */
  private async post(obj: ModelObject, it: Item, signal: AbortSignal, event: string): Promise<PostResult | { ok: false; error: string; timeout: false; aborted: false; ms: number; final: true }> {
    const name = String(obj.Name);
    const url = new URL(String(obj.Url));
    let address: string;
    let secret: string;
    try {
      secret = openWebhookSecret(this.o.cipher, obj);
      address = await this.o.policy.resolve(url);
    } catch (err) {
      // A refused address or a Secret that does not open will not change by waiting: dead now.
      // A name that does not resolve (DNS down, NXDOMAIN) may resolve later: retried.
      if (err instanceof SocleError) return { ok: false, error: err.messages.join("; "), timeout: false, aborted: false, ms: 0, final: true };
      const msg = (err as Error).message;
      if (msg.startsWith("refused:")) return { ok: false, error: msg, timeout: false, aborted: false, ms: 0, final: true };
      return { ok: false, error: `cannot resolve ${url.hostname}: ${msg}`, timeout: false, aborted: false, ms: 0 };
    }
    const c = it.change;
    it.body ??= JSON.stringify({ Type: c.Type, Action: c.Action, Key: c.Key, Seq: c.Seq, Time: c.Time, Object: this.o.redact(c.Type, c.Object) });
    const ts = Math.floor(Date.now() / 1000);
    const timeoutSeconds = typeof obj.TimeoutSeconds === "number" ? obj.TimeoutSeconds : 10;
    return postPinned({
      url,
      address,
      body: it.body,
      timeoutMs: timeoutSeconds * 1000,
      signal,
      ...(this.t.ca !== undefined ? { ca: this.t.ca } : {}),
      headers: {
        "Content-Type": "application/json",
        "User-Agent": `Socle/${this.o.version}`,
        "Socle-Webhook": name,
        "Socle-Event": event,
        "Socle-Delivery": it.id,
        "Socle-Timestamp": String(ts),
        "Socle-Signature": webhookSignature(secret, ts, it.id, it.body),
      },
    });
  }

  /** What one result means for the delivery. */
  private classify(r: PostResult | { ok: false; final: true }, attempt: number, max: number): { state: DeliveryState; retryAfterMs?: number } {
    const again = (retryAfter?: number): { state: DeliveryState; retryAfterMs?: number } =>
      attempt < max ? { state: "retrying", ...(retryAfter !== undefined ? { retryAfterMs: retryAfter } : {}) } : { state: "dead" };
    if (!r.ok) return "final" in r ? { state: "dead" } : again();
    if (r.status >= 200 && r.status < 300) return { state: "delivered" };
    if (r.status === 408 || r.status === 429 || r.status >= 500) {
      const after = r.status === 429 || r.status === 503 ? retryAfterMs(r.retryAfter, this.t.backoffCapMs) : undefined;
      return again(after);
    }
    return { state: "dead" };
  }

  private entry(it: Item, event: string, r: PostResult | { ok: false; error: string; ms: number }, state: DeliveryState): DeliveryEntry {
    const base = { Id: it.id, Event: event, Attempt: it.attempt, Time: new Date().toISOString() };
    return r.ok ? { ...base, Status: r.status, Ms: r.ms, State: state } : { ...base, Error: r.error, Ms: r.ms, State: state };
  }

  // ---- positions --------------------------------------------------------------------------------

  private positions(): HookPositions {
    const out: HookPositions = { hooks: new Map(), spooled: new Map() };
    for (const h of this.hooks.values()) {
      let pos = h.fed;
      for (const it of h.queue) if (!it.redelivery && !it.spooled && it.seq - 1 < pos) pos = it.seq - 1;
      out.hooks.set(h.name, pos);
      out.spooled.set(h.name, h.queue.filter((it) => it.spooled).map((it) => it.seq));
    }
    return out;
  }

  private savePositions(): void {
    if (this.saveTimer || this.stopped) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = undefined;
      const snapshot = this.positions();
      this.saving = this.saving
        .then(() => writePositions(this.dir, snapshot))
        .catch((err: unknown) => this.o.log.error("webhooks: cannot save positions", { error: String(err) }));
    }, 200);
  }
}
