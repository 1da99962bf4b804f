import { describe, expect, test } from "bun:test";
import { MetricsRegistry } from "./registry.ts";
import { CACHE_MS, StoreSyncs, cached, registerSocleMetrics, type DhcpCounts, type HttpCounts, type RenderCounts, type SocleSources, type TftpCounts } from "./socle-metrics.ts";
import { registerProcessMetrics } from "./process-metrics.ts";
import { parseExposition, promtoolCheck } from "./test-util.ts";

const DHCP: DhcpCounts = {
  received: 12,
  requestsByType: { DHCPDISCOVER: 5, DHCPREQUEST: 4, none: 1 },
  repliesByType: { DHCPOFFER: 5, DHCPACK: 3, DHCPNAK: 1 },
  droppedByReason: { "bad-cookie": 2 },
  ignored: 1,
  unconfirmed: 2,
  handlerErrors: 3,
  sendFailures: 4,
  foreignReplies: 6,
  inFlight: 7,
};
const TFTP: TftpCounts = { active: 1, requests: 10, completed: 7, failed: 1, refused: 2, probes: 3, bytesSent: 123456, retransmits: 4, dropped: 5 };
const HTTP: HttpCounts = { responses: { "2xx": 9, "4xx": 2 }, bytes: 4096, errors: 0 };
const RENDERS: RenderCounts = { renders: 8, failed: { "missing-param": 2, deadline: 1 }, seconds: 0.25 };
const HA_PAIRED = {
  State: "active",
  Term: 3,
  HoldsVip: true,
  FailoverSafe: false,
  Peer: { Name: "node-b", State: "standby", LastHeardMs: 1500, Paths: [{ Address: "192.0.2.2", Up: true }, { Address: "198.51.100.3", Up: false }] },
  LagSeq: 17,
  LagBytes: 2048,
  FilesPendingBytes: 1024,
  UnackedClients: ["52:54:00:00:00:01", "52:54:00:00:00:02"],
  SyncTimeouts: 1,
};

function setup(extra: Partial<SocleSources> = {}) {
  const reg = new MetricsRegistry();
  const syncs = new StoreSyncs();
  const sources: SocleSources = {
    dhcp: () => DHCP,
    pools: () => [{ subnet: "lab", addresses: 100, leased: 40, reserved: 3 }],
    tftp: () => TFTP,
    http: () => HTTP,
    renders: () => RENDERS,
    store: () => ({ seq: 99, journalEntries: 12, journalBytes: 3456 }),
    storeSyncs: syncs,
    jobs: () => ({ running: 2, finished: 5 }),
    ha: () => HA_PAIRED,
    timeline: () => ({ events: 321, knownMacs: 4, unknownMacs: 9, evictions: 2, unattributed: 5 }),
    webhooks: () => ({ delivered: 10, retrying: 3, dead: 1, seconds: 1.5, queued: 4 }),
    ...extra,
  };
  registerSocleMetrics(reg, sources);
  return { reg, syncs };
}

/** The labels a series may carry: bounded things only, never a client. */
const ALLOWED_LABELS = new Set(["type", "reason", "subnet", "code", "kind", "state", "address", "version", "pool", "outcome"]);

describe("Socle's series", () => {
  test("each value is the underlying counter's", async () => {
    const { reg, syncs } = setup();
    syncs.observe(0.0004, 3, 900);
    syncs.observe(0.02, 1, 300);
    const e = parseExposition(await reg.text());
    expect(e.value("socle_dhcp_datagrams_received_total")).toBe(12);
    expect(e.value("socle_timeline_events_total")).toBe(321);
    expect(e.value("socle_timeline_macs", { pool: "registered" })).toBe(4);
    expect(e.value("socle_timeline_macs", { pool: "other" })).toBe(9);
    expect(e.value("socle_timeline_evictions_total")).toBe(2);
    expect(e.value("socle_timeline_unattributed_total")).toBe(5);
    expect(e.value("socle_webhook_attempts_total", { outcome: "retrying" })).toBe(3);
    expect(e.value("socle_webhook_attempts_total", { outcome: "dead" })).toBe(1);
    expect(e.value("socle_webhook_attempt_seconds_total")).toBe(1.5);
    expect(e.value("socle_webhook_queued")).toBe(4);
    expect(e.value("socle_dhcp_requests_total", { type: "DHCPDISCOVER" })).toBe(5);
    expect(e.value("socle_dhcp_requests_total", { type: "none" })).toBe(1);
    expect(e.value("socle_dhcp_replies_total", { type: "DHCPNAK" })).toBe(1);
    expect(e.value("socle_dhcp_dropped_total", { reason: "bad-cookie" })).toBe(2);
    expect(e.value("socle_dhcp_ignored_total")).toBe(1);
    expect(e.value("socle_dhcp_unconfirmed_total")).toBe(2);
    expect(e.value("socle_dhcp_handler_errors_total")).toBe(3);
    expect(e.value("socle_dhcp_send_failures_total")).toBe(4);
    expect(e.value("socle_dhcp_foreign_replies_total")).toBe(6);
    expect(e.value("socle_dhcp_in_flight")).toBe(7);
    expect(e.value("socle_dhcp_pool_addresses", { subnet: "lab" })).toBe(100);
    expect(e.value("socle_dhcp_pool_leased", { subnet: "lab" })).toBe(40);
    expect(e.value("socle_dhcp_pool_reserved", { subnet: "lab" })).toBe(3);
    expect(e.value("socle_tftp_requests_total")).toBe(10);
    expect(e.value("socle_tftp_transfers_completed_total")).toBe(7);
    expect(e.value("socle_tftp_transfers_failed_total")).toBe(1);
    expect(e.value("socle_tftp_refused_total")).toBe(2);
    expect(e.value("socle_tftp_probes_total")).toBe(3);
    expect(e.value("socle_tftp_sent_bytes_total")).toBe(123456);
    expect(e.value("socle_tftp_retransmits_total")).toBe(4);
    expect(e.value("socle_tftp_dropped_total")).toBe(5);
    expect(e.value("socle_tftp_transfers_active")).toBe(1);
    expect(e.value("socle_http_responses_total", { code: "2xx" })).toBe(9);
    expect(e.value("socle_http_responses_total", { code: "4xx" })).toBe(2);
    expect(e.value("socle_http_response_bytes_total")).toBe(4096);
    expect(e.value("socle_http_errors_total")).toBe(0);
    expect(e.value("socle_renders_total")).toBe(8);
    expect(e.value("socle_render_errors_total", { kind: "missing-param" })).toBe(2);
    expect(e.value("socle_render_seconds_total")).toBe(0.25);
    expect(e.value("socle_store_seq")).toBe(99);
    expect(e.value("socle_store_journal_entries")).toBe(12);
    expect(e.value("socle_store_journal_bytes")).toBe(3456);
    expect(e.value("socle_store_writes_total")).toBe(4);
    expect(e.value("socle_store_written_bytes_total")).toBe(1200);
    expect(e.value("socle_store_fsync_seconds_bucket", { le: "0.0005" })).toBe(1);
    expect(e.value("socle_store_fsync_seconds_bucket", { le: "0.025" })).toBe(2);
    expect(e.value("socle_store_fsync_seconds_count")).toBe(2);
    expect(e.value("socle_jobs", { state: "running" })).toBe(2);
    expect(e.value("socle_jobs", { state: "finished" })).toBe(5);
    expect(e.value("socle_ha_state", { state: "active" })).toBe(1);
    expect(e.value("socle_ha_term")).toBe(3);
    expect(e.value("socle_ha_holds_vip")).toBe(1);
    expect(e.value("socle_ha_failover_safe")).toBe(0);
    expect(e.value("socle_ha_lag_changes")).toBe(17);
    expect(e.value("socle_ha_lag_bytes")).toBe(2048);
    expect(e.value("socle_ha_files_pending_bytes")).toBe(1024);
    expect(e.value("socle_ha_peer_last_heard_seconds")).toBe(1.5);
    expect(e.value("socle_ha_path_up", { address: "192.0.2.2" })).toBe(1);
    expect(e.value("socle_ha_path_up", { address: "198.51.100.3" })).toBe(0);
    expect(e.value("socle_ha_unacked_clients")).toBe(2);
    expect(e.value("socle_ha_sync_timeouts_total")).toBe(1);
  });

  test("no series is per MAC or per client: every label is a bounded one, and no value names a MAC", async () => {
    const { reg } = setup();
    registerProcessMetrics(reg, { version: "1.2.3" }).stop();
    for (const def of reg.definitions.values()) for (const l of def.labelNames ?? []) expect(ALLOWED_LABELS.has(l)).toBe(true);
    const text = await reg.text();
    expect(text).not.toMatch(/([0-9a-f]{2}:){5}[0-9a-f]{2}/i);
    expect(text).not.toMatch(/[{,](mac|uuid|machine|client|remote)="/i);
  });

  test("the whole exposition parses and passes promtool", async () => {
    const { reg, syncs } = setup();
    const proc = registerProcessMetrics(reg, { version: "1.2.3" });
    syncs.observe(0.001, 1, 10);
    await Bun.sleep(30);
    proc.rotate();
    const text = await reg.text();
    proc.stop();
    const e = parseExposition(text);
    expect(e.types.get("socle_store_fsync_seconds")).toBe("histogram");
    expect(e.types.get("socle_event_loop_delay_seconds")).toBe("summary");
    expect(e.value("socle_build_info", { version: "1.2.3" })).toBe(1);
    expect(e.value("socle_event_loop_delay_seconds_count")).toBeGreaterThan(0);
    expect(e.value("socle_event_loop_delay_seconds", { quantile: "0.99" })).toBeGreaterThanOrEqual(0);
    const check = promtoolCheck(text);
    if (!check) console.log("promtool not installed (Debian package prometheus): skipping promtool check metrics");
    else expect(check).toEqual({ code: 0, output: "" });
  });

  test("a service that is not running has no samples, not zeros", async () => {
    const { reg } = setup({ dhcp: () => undefined, tftp: () => undefined, http: () => undefined, renders: () => undefined, ha: undefined, pools: () => [] });
    const e = parseExposition(await reg.text());
    for (const prefix of ["socle_dhcp_", "socle_tftp_", "socle_http_", "socle_render", "socle_ha_"]) {
      expect(e.samples.filter((s) => s.name.startsWith(prefix))).toEqual([]);
      expect([...e.types.keys()].some((n) => n.startsWith(prefix))).toBe(true);
    }
  });

  test("an HA node that is not paired yet has state, term and VIP but no lag or path series", async () => {
    const { reg } = setup({ ha: () => ({ ...HA_PAIRED, State: "active-solo", Peer: { Name: "", State: "unknown", LastHeardMs: null, Paths: [] } }) });
    const e = parseExposition(await reg.text());
    expect(e.value("socle_ha_state", { state: "active-solo" })).toBe(1);
    expect(e.value("socle_ha_term")).toBe(3);
    expect(e.value("socle_ha_holds_vip")).toBe(1);
    for (const n of ["socle_ha_lag_changes", "socle_ha_lag_bytes", "socle_ha_files_pending_bytes", "socle_ha_peer_last_heard_seconds", "socle_ha_path_up"]) {
      expect(e.samples.filter((s) => s.name === n)).toEqual([]);
    }
  });

  test("jobs and pools are counted at most once per CACHE_MS", async () => {
    let t = 1_000_000;
    let jobReads = 0;
    let poolReads = 0;
    const { reg } = setup({
      now: () => t,
      jobs: () => {
        jobReads++;
        return { running: jobReads };
      },
      pools: () => {
        poolReads++;
        return [];
      },
    });
    await reg.text();
    await reg.text();
    expect([jobReads, poolReads]).toEqual([1, 1]);
    t += CACHE_MS - 1;
    expect(parseExposition(await reg.text()).value("socle_jobs", { state: "running" })).toBe(1);
    t += 1;
    expect(parseExposition(await reg.text()).value("socle_jobs", { state: "running" })).toBe(2);
    expect(poolReads).toBe(2);
  });
});

test("cached() reads again when the clock goes backwards", () => {
  let t = 100;
  let n = 0;
  const f = cached(10, () => t, () => ++n);
  expect([f(), f()]).toEqual([1, 1]);
  t = 50;
  expect(f()).toBe(2);
});
