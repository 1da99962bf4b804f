// Socle's series, read at scrape time from what each service already counts. The services are
// described here only by the shape of their plain counters: the composition root (main.ts) hands
// over the readers, so this room imports no service. A reader that answers undefined means that
// service is not running on this node (disabled, or its port could not be bound): its series then
// have no samples rather than zeros that would look like an idle service.
//
// Labels are bounded by construction: DHCP message types and drop reasons are names the code
// defines, subnets and job states are objects an operator made, HA paths the partner's addresses.
// No series is per MAC, per machine or per client address.

import { PlainHistogram, SYNC_BUCKETS } from "./histogram.ts";
import { byLabel, single, type MetricsRegistry, type Sample } from "./registry.ts";

export interface DhcpCounts {
  /** Datagrams read from the DHCP sockets, whatever they held. */
  received: number;
  /** Requests handed to the handler, by option 53 ("DHCPDISCOVER"; "none" without it). */
  requestsByType: Readonly<Record<string, number>>;
  /** Replies sent, by option 53. */
  repliesByType: Readonly<Record<string, number>>;
  /** Malformed datagrams dropped, by reason ("bad-cookie", "short-packet"...). */
  droppedByReason: Readonly<Record<string, number>>;
  ignored: number;
  unconfirmed: number;
  handlerErrors: number;
  sendFailures: number;
  foreignReplies: number;
  inFlight: number;
}

export interface PoolUse {
  subnet: string;
  /** Addresses in the dynamic range. */
  addresses: number;
  /** Addresses of the range bound by a lease now. */
  leased: number;
  /** Reservations inside the subnet. */
  reserved: number;
}

export interface TftpCounts {
  active: number;
  requests: number;
  completed: number;
  failed: number;
  refused: number;
  probes: number;
  bytesSent: number;
  retransmits: number;
  dropped: number;
}

export interface HttpCounts {
  /** Answers by status class ("2xx"...). */
  responses: Readonly<Record<string, number>>;
  /** Body bytes the answers declared (Content-Length of GET answers). */
  bytes: number;
  /** Answers that failed inside the server (5xx). */
  errors: number;
}

export interface RenderCounts {
  renders: number;
  /** Failed renders by kind ("missing-param", "deadline"...). */
  failed: Readonly<Record<string, number>>;
  /** Time spent rendering, in seconds (queueing for a worker included). */
  seconds: number;
}

export interface StoreCounts {
  seq: number;
  journalEntries: number;
  journalBytes: number;
}

/** The store's disk syncs, filled from its onSync callback (FileStoreOptions). */
export class StoreSyncs {
  readonly latency = new PlainHistogram(SYNC_BUCKETS);
  writes = 0;
  bytes = 0;

  /** One durable journal write (O_DSYNC, the sync included): its duration, and the changes and bytes it made durable. */
  observe(seconds: number, entries: number, bytes: number): void {
    this.latency.observe(seconds);
    this.writes += entries;
    this.bytes += bytes;
  }
}

export interface TimelineCounts {
  events: number;
  knownMacs: number;
  unknownMacs: number;
  evictions: number;
  unattributed: number;
}

export interface WebhookCounts {
  delivered: number;
  retrying: number;
  dead: number;
  seconds: number;
  queued: number;
}

export interface SocleSources {
  dhcp?: () => DhcpCounts | undefined;
  pools?: () => readonly PoolUse[];
  tftp?: () => TftpCounts | undefined;
  http?: () => HttpCounts | undefined;
  renders?: () => RenderCounts | undefined;
  store?: () => StoreCounts;
  storeSyncs?: StoreSyncs;
  /** Jobs by State; counted over every job, so read at most once per CACHE_MS. */
  jobs?: () => Readonly<Record<string, number>>;
  /** The boot timeline's counts; absent when it is off. */
  timeline?: () => TimelineCounts;
  /** The webhook sender's attempts and queue. */
  webhooks?: () => WebhookCounts;
  /** The HA status (GET /api/v3/ha's body); absent when this node runs alone. */
  ha?: () => Readonly<Record<string, unknown>>;
  now?: () => number;
}

/** How long the counts that walk every job or lease are reused. */
export const CACHE_MS = 5_000;

export function registerSocleMetrics(reg: MetricsRegistry, src: SocleSources): void {
  const now = src.now ?? Date.now;
  const dhcp = (f: (d: DhcpCounts) => Sample[]) => () => {
    const d = src.dhcp?.();
    return d ? f(d) : [];
  };
  const dhcpCounter = (name: string, help: string, pick: (d: DhcpCounts) => number) =>
    reg.add({ name, help, type: "counter", read: dhcp((d) => [{ value: pick(d) }]) });

  dhcpCounter("socle_dhcp_datagrams_received_total", "Datagrams read from the DHCP sockets", (d) => d.received);
  reg.add({ name: "socle_dhcp_requests_total", help: "DHCP requests handed to the handler, by message type (option 53)", type: "counter", labelNames: ["type"], read: dhcp((d) => byLabel("type", d.requestsByType)) });
  reg.add({ name: "socle_dhcp_replies_total", help: "DHCP replies sent, by message type", type: "counter", labelNames: ["type"], read: dhcp((d) => byLabel("type", d.repliesByType)) });
  reg.add({ name: "socle_dhcp_dropped_total", help: "Malformed DHCP datagrams dropped, by reason", type: "counter", labelNames: ["reason"], read: dhcp((d) => byLabel("reason", d.droppedByReason)) });
  dhcpCounter("socle_dhcp_ignored_total", "DHCP requests answered with nothing (not ours, unknown machine ignored, pool exhausted)", (d) => d.ignored);
  dhcpCounter("socle_dhcp_unconfirmed_total", "DHCP leases not confirmed durable in time (no reply sent; the client retries)", (d) => d.unconfirmed);
  dhcpCounter("socle_dhcp_handler_errors_total", "DHCP requests the handler failed on", (d) => d.handlerErrors);
  dhcpCounter("socle_dhcp_send_failures_total", "DHCP replies the kernel refused to send", (d) => d.sendFailures);
  dhcpCounter("socle_dhcp_foreign_replies_total", "DHCP replies seen from other servers (a rogue server, or the HA partner)", (d) => d.foreignReplies);
  reg.add({ name: "socle_dhcp_in_flight", help: "DHCP requests being answered now", type: "gauge", read: dhcp((d) => [{ value: d.inFlight }]) });

  const pools = cached(CACHE_MS, now, () => src.pools?.() ?? []);
  const pool = (name: string, help: string, pick: (p: PoolUse) => number) =>
    reg.add({ name, help, type: "gauge", labelNames: ["subnet"], read: () => pools().map((p) => ({ labels: { subnet: p.subnet }, value: pick(p) })) });
  pool("socle_dhcp_pool_addresses", "Addresses in the subnet's dynamic range", (p) => p.addresses);
  pool("socle_dhcp_pool_leased", "Addresses of the dynamic range bound by a lease now (declined ones until their hold ends)", (p) => p.leased);
  pool("socle_dhcp_pool_reserved", "Reservations inside the subnet", (p) => p.reserved);

  const tftp = (name: string, help: string, type: "counter" | "gauge", pick: (t: TftpCounts) => number) =>
    reg.add({
      name,
      help,
      type,
      read: () => {
        const t = src.tftp?.();
        return t ? [{ value: pick(t) }] : [];
      },
    });
  tftp("socle_tftp_requests_total", "TFTP read requests received", "counter", (t) => t.requests);
  tftp("socle_tftp_transfers_completed_total", "TFTP transfers completed", "counter", (t) => t.completed);
  tftp("socle_tftp_transfers_failed_total", "TFTP transfers aborted (timeout, client error)", "counter", (t) => t.failed);
  tftp("socle_tftp_refused_total", "TFTP requests answered with an ERROR (missing file, refused path, write request, busy)", "counter", (t) => t.refused);
  tftp("socle_tftp_probes_total", "TFTP size probes abandoned after the OACK, as UEFI firmware does before the real transfer", "counter", (t) => t.probes);
  tftp("socle_tftp_sent_bytes_total", "TFTP data bytes sent", "counter", (t) => t.bytesSent);
  tftp("socle_tftp_retransmits_total", "TFTP blocks sent again", "counter", (t) => t.retransmits);
  tftp("socle_tftp_dropped_total", "TFTP datagrams dropped (malformed, or for no transfer)", "counter", (t) => t.dropped);
  tftp("socle_tftp_transfers_active", "TFTP transfers running now", "gauge", (t) => t.active);

  const http = (f: (h: HttpCounts) => Sample[]) => () => {
    const h = src.http?.();
    return h ? f(h) : [];
  };
  reg.add({ name: "socle_http_responses_total", help: "Answers of the HTTP boot file server, by status class", type: "counter", labelNames: ["code"], read: http((h) => byLabel("code", h.responses)) });
  reg.add({ name: "socle_http_response_bytes_total", help: "Body bytes the HTTP boot file server's GET answers declared (Content-Length)", type: "counter", read: http((h) => [{ value: h.bytes }]) });
  reg.add({ name: "socle_http_errors_total", help: "HTTP boot file server answers that failed inside the server (5xx)", type: "counter", read: http((h) => [{ value: h.errors }]) });

  const renders = (f: (r: RenderCounts) => Sample[]) => () => {
    const r = src.renders?.();
    return r ? f(r) : [];
  };
  reg.add({ name: "socle_renders_total", help: "Template renders of boot files and previews", type: "counter", read: renders((r) => [{ value: r.renders }]) });
  reg.add({ name: "socle_render_errors_total", help: "Template renders that failed, by kind", type: "counter", labelNames: ["kind"], read: renders((r) => byLabel("kind", r.failed)) });
  reg.add({ name: "socle_render_seconds_total", help: "Time spent on template renders, in seconds", type: "counter", read: renders((r) => [{ value: r.seconds }]) });

  const store = (name: string, help: string, pick: (s: StoreCounts) => number) => reg.add({ name, help, type: "gauge", read: () => single(src.store ? pick(src.store()) : undefined) });
  store("socle_store_seq", "Sequence number of the store's last committed change", (s) => s.seq);
  store("socle_store_journal_entries", "Changes in the journal since the last snapshot", (s) => s.journalEntries);
  store("socle_store_journal_bytes", "Bytes of the journal since the last snapshot", (s) => s.journalBytes);
  const syncs = src.storeSyncs;
  reg.add({ name: "socle_store_writes_total", help: "Changes the store made durable", type: "counter", read: () => single(syncs?.writes) });
  reg.add({ name: "socle_store_written_bytes_total", help: "Journal bytes the store wrote", type: "counter", read: () => single(syncs?.bytes) });
  reg.add({ name: "socle_store_fsync_seconds", help: "Duration of one durable journal write (O_DSYNC: the write and its sync; one per group of writes), in seconds", type: "histogram", read: () => syncs?.latency.samples() ?? [] });

  const jobs = cached(CACHE_MS, now, () => src.jobs?.());
  reg.add({
    name: "socle_jobs",
    help: `Jobs by state (counted at most every ${CACHE_MS / 1000} s)`,
    type: "gauge",
    labelNames: ["state"],
    read: () => {
      const j = jobs();
      return j ? byLabel("state", j) : [];
    },
  });

  const timeline = (f: (t: TimelineCounts) => Sample[]) => () => {
    const t = src.timeline?.();
    return t ? f(t) : [];
  };
  reg.add({ name: "socle_timeline_events_total", help: "Boot timeline events recorded (DHCP, TFTP, HTTP, registrations, jobs)", type: "counter", read: timeline((t) => [{ value: t.events }]) });
  reg.add({
    name: "socle_timeline_macs",
    help: "MACs the boot timeline keeps events for, by pool (registered machines, other)",
    type: "gauge",
    labelNames: ["pool"],
    read: timeline((t) => [
      { labels: { pool: "registered" }, value: t.knownMacs },
      { labels: { pool: "other" }, value: t.unknownMacs },
    ]),
  });
  reg.add({ name: "socle_timeline_evictions_total", help: "MACs whose events were dropped to make room for another MAC's", type: "counter", read: timeline((t) => [{ value: t.evictions }]) });
  reg.add({ name: "socle_timeline_unattributed_total", help: "TFTP and HTTP requests from an address no MAC is known for (not in any timeline)", type: "counter", read: timeline((t) => [{ value: t.unattributed }]) });

  const hooks = (f: (w: WebhookCounts) => Sample[]) => () => {
    const w = src.webhooks?.();
    return w ? f(w) : [];
  };
  reg.add({
    name: "socle_webhook_attempts_total",
    help: "Webhook delivery attempts by outcome (delivered; retrying: failed, tried again later; dead: given up)",
    type: "counter",
    labelNames: ["outcome"],
    read: hooks((w) => [
      { labels: { outcome: "delivered" }, value: w.delivered },
      { labels: { outcome: "retrying" }, value: w.retrying },
      { labels: { outcome: "dead" }, value: w.dead },
    ]),
  });
  reg.add({ name: "socle_webhook_attempt_seconds_total", help: "Time spent on webhook delivery attempts, in seconds", type: "counter", read: hooks((w) => [{ value: w.seconds }]) });
  reg.add({ name: "socle_webhook_queued", help: "Webhook deliveries waiting (queued or backing off)", type: "gauge", read: hooks((w) => [{ value: w.queued }]) });

  registerHa(reg, src.ha);
}

function registerHa(reg: MetricsRegistry, status: SocleSources["ha"]): void {
  const ha = (f: (s: Readonly<Record<string, unknown>>) => Sample[], pairedOnly = false) => () => {
    const s = status?.();
    if (!s || (pairedOnly && !paired(s))) return [];
    return f(s);
  };
  const num = (v: unknown): Sample[] => (typeof v === "number" && Number.isFinite(v) ? [{ value: v }] : []);
  const bool = (v: unknown): Sample[] => (typeof v === "boolean" ? [{ value: v ? 1 : 0 }] : []);
  const peer = (s: Readonly<Record<string, unknown>>) => (typeof s.Peer === "object" && s.Peer !== null ? (s.Peer as Record<string, unknown>) : {});

  reg.add({ name: "socle_ha_state", help: "This node's HA state (1 for the state it is in)", type: "gauge", labelNames: ["state"], read: ha((s) => (typeof s.State === "string" ? [{ labels: { state: s.State }, value: 1 }] : [])) });
  reg.add({ name: "socle_ha_term", help: "The pair's term: one more at every takeover", type: "gauge", read: ha((s) => num(s.Term)) });
  reg.add({ name: "socle_ha_holds_vip", help: "1 when this node holds the virtual IP", type: "gauge", read: ha((s) => bool(s.HoldsVip)) });
  reg.add({ name: "socle_ha_failover_safe", help: "1 when a failover now would lose nothing (GET /api/v3/ha says why not)", type: "gauge", read: ha((s) => bool(s.FailoverSafe)) });
  reg.add({ name: "socle_ha_lag_changes", help: "Changes the standby has not applied yet", type: "gauge", read: ha((s) => num(s.LagSeq), true) });
  reg.add({ name: "socle_ha_lag_bytes", help: "Bytes of changes and files the standby has not received yet", type: "gauge", read: ha((s) => num(s.LagBytes), true) });
  reg.add({ name: "socle_ha_files_pending_bytes", help: "Bytes of files not yet on the standby", type: "gauge", read: ha((s) => num(s.FilesPendingBytes), true) });
  reg.add({
    name: "socle_ha_peer_last_heard_seconds",
    help: "Seconds since the partner was last heard on any path",
    type: "gauge",
    read: ha((s) => {
      const ms = peer(s).LastHeardMs;
      return typeof ms === "number" ? [{ value: ms / 1000 }] : [];
    }, true),
  });
  reg.add({
    name: "socle_ha_path_up",
    help: "1 when the path to the partner's address is up",
    type: "gauge",
    labelNames: ["address"],
    read: ha((s) => {
      const paths = peer(s).Paths;
      if (!Array.isArray(paths)) return [];
      return paths
        .filter((p): p is { Address: string; Up: boolean } => typeof p?.Address === "string" && typeof p?.Up === "boolean")
        .map((p) => ({ labels: { address: p.Address }, value: p.Up ? 1 : 0 }));
    }, true),
  });
  reg.add({ name: "socle_ha_unacked_clients", help: "DHCP clients whose lease the partner has not confirmed", type: "gauge", read: ha((s) => (Array.isArray(s.UnackedClients) ? [{ value: s.UnackedClients.length }] : [])) });
  reg.add({ name: "socle_ha_sync_timeouts_total", help: "Writes the partner did not confirm in time, since this node began serving", type: "counter", read: ha((s) => num(s.SyncTimeouts)) });
}

/** A pair member that has a partner (enrolled): the lag and path series mean something. */
function paired(s: Readonly<Record<string, unknown>>): boolean {
  const p = s.Peer as { Name?: unknown } | undefined;
  return typeof p?.Name === "string" && p.Name !== "";
}

/** `fn`'s answer, reused for `ms`. */
export function cached<T>(ms: number, now: () => number, fn: () => T): () => T {
  let at = -Infinity;
  let value: T;
  return () => {
    const t = now();
    if (t - at >= ms || t < at) {
      value = fn();
      at = t;
    }
    return value;
  };
}
