// The HA pair's timers and bounds, read from the replicated prefs (plain strings) as numbers.
//
// Why the defaults are so much shorter than Kea's (heartbeat-delay 10 s, max-response-delay 60 s,
// max-ack-delay 10 s, max-unacked-clients 10, which is why a Kea pair fails over in about a
// minute): Socle heartbeats on every path it has (peer link and LAN), and takes over only when all
// of them are silent AND the active's DHCP replies are no longer seen on the LAN AND a client has
// gone unanswered (or nothing at all is asking). Each extra condition is what a cut peer link would
// not satisfy, so the bounds can be tight: kill -9 of the active is noticed in about 1.25 s.
//
// haMclt is the "maximum client lead time" of the ISC failover draft (and MS DHCP failover): how far
// a node may extend a lease beyond what its partner knows. It bounds every lease granted while the
// pair is not synced, and how long a node waits before touching the partner's half after the
// operator confirms the partner is down.

import type { PrefDef } from "./pref-def.ts";
import { quote } from "./validate.ts";

export interface HaPrefs {
  /** Hb frame period on every connected path. */
  heartbeatIntervalMs: number;
  /** A path is down after this long without any frame; "peer silent" = every path down. */
  heartbeatTimeoutMs: number;
  /** How long a client may go unanswered before it counts as unacked (two transmissions this far apart, or its `secs`). */
  maxAckDelayMs: number;
  /** Unacked clients needed for a takeover; 0 = the silence of every path suffices (Kea's meaning). */
  maxUnackedClients: number;
  /** Silence after which a standby that saw no DHCP request at all takes over; 0 = never. */
  idleTakeoverMs: number;
  /** How long a write (a lease before its DHCPACK) waits for the partner's ack before going solo. */
  syncTimeoutMs: number;
  /** Maximum client lead time, seconds. */
  mcltSeconds: number;
  /** Gratuitous ARPs sent when the VIP is taken. */
  garpCount: number;
  /** Period of the full file manifest scan, seconds. */
  fileScanIntervalSeconds: number;
  /** Move the active back to slot 0 when it returns (false: leave it where it is). */
  autoFailback: boolean;
}

interface NumberRow {
  pref: string;
  field: Exclude<keyof HaPrefs, "autoFailback">;
  default: number;
  min: number;
  max: number;
  unit: string;
  description: string;
}

const NUMBER_ROWS: readonly NumberRow[] = [
  { pref: "haHeartbeatInterval", field: "heartbeatIntervalMs", default: 250, min: 50, max: 10_000, unit: "ms", description: "HA: milliseconds between heartbeats on every path to the partner" },
  {
    pref: "haHeartbeatTimeout",
    field: "heartbeatTimeoutMs",
    default: 1000,
    min: 200,
    max: 60_000,
    unit: "ms",
    description: "HA: milliseconds without any frame after which a path to the partner is down (at least twice haHeartbeatInterval); the partner is silent when every path is down",
  },
  {
    pref: "haMaxAckDelay",
    field: "maxAckDelayMs",
    default: 1000,
    min: 0,
    max: 60_000,
    unit: "ms",
    description: "HA: milliseconds a DHCP client may go unanswered by the active before the standby counts it as unacked (its retransmissions, or its secs field; iPXE's secs is decoded as a transmission counter)",
  },
  {
    pref: "haMaxUnackedClients",
    field: "maxUnackedClients",
    default: 1,
    min: 0,
    max: 1000,
    unit: "clients",
    description: "HA: unacked DHCP clients the standby must see, with the partner silent on every path and no reply from it on the LAN, before it takes over (0: the silence alone suffices)",
  },
  {
    pref: "haIdleTakeover",
    field: "idleTakeoverMs",
    default: 3000,
    min: 0,
    max: 600_000,
    unit: "ms",
    description: "HA: milliseconds of partner silence after which the standby takes over when it saw no DHCP request at all (relayed-only sites, API-only failover); 0: never",
  },
  {
    pref: "haSyncTimeout",
    field: "syncTimeoutMs",
    default: 500,
    min: 50,
    max: 10_000,
    unit: "ms",
    description: "HA: milliseconds a write (a lease before its DHCPACK) waits for the partner's ack; then the write is refused and the active goes on alone (active-solo)",
  },
  {
    pref: "haMclt",
    field: "mcltSeconds",
    default: 300,
    min: 60,
    max: 86_400,
    unit: "s",
    description: "HA: maximum client lead time in seconds: while the pair is not synced, no lease ends more than this beyond what the partner knows, and fresh leases last at most this long",
  },
  { pref: "haGarpCount", field: "garpCount", default: 3, min: 1, max: 10, unit: "", description: "HA: gratuitous ARPs sent when a node takes the virtual IP" },
  {
    pref: "haFileScanInterval",
    field: "fileScanIntervalSeconds",
    default: 30,
    min: 5,
    max: 3600,
    unit: "s",
    description: "HA: seconds between full scans of the replicated file areas (catches what inotify missed)",
  },
];

const FAILBACK_PREF = "haAutoFailback";

export const HA_PREF_DEFAULTS: Readonly<HaPrefs> = Object.freeze({
  ...(Object.fromEntries(NUMBER_ROWS.map((r) => [r.field, r.default])) as Omit<HaPrefs, "autoFailback">),
  autoFailback: false,
});

function numberProblem(row: NumberRow, value: string): string | undefined {
  if (/^[0-9]{1,16}$/.test(value)) {
    const n = Number(value);
    if (n >= row.min && n <= row.max) return undefined;
  }
  const unit = row.unit ? ` (${row.unit})` : "";
  return `invalid ${row.pref} ${quote(value)}: expected a whole number from ${row.min} to ${row.max}${unit}`;
}

function boolProblem(value: string): string | undefined {
  return value === "true" || value === "false" ? undefined : `invalid ${FAILBACK_PREF} ${quote(value)}: expected "true" or "false"`;
}

/** The HA rows in the shape of model/prefs.ts PREFS, for the composition root to add there. */
export const HA_PREFS: Readonly<Record<string, PrefDef>> = Object.freeze({
  ...Object.fromEntries(
    NUMBER_ROWS.map((row): [string, PrefDef] => [
      row.pref,
      { default: String(row.default), description: row.description, check: (v: string) => numberProblem(row, v) },
    ]),
  ),
  [FAILBACK_PREF]: {
    default: "false",
    description: "HA: move the active role back to the first node (slot 0) once it has returned and caught up; false leaves the active where it is",
    check: boolProblem,
  },
});

/**
 * Problems between prefs that are each valid alone, over the full (merged) prefs map. A heartbeat
 * timeout shorter than two intervals declares a path down after one late frame.
 */
export function haPrefCrossProblems(prefs: HaPrefs): string[] {
  const out: string[] = [];
  if (prefs.heartbeatTimeoutMs < 2 * prefs.heartbeatIntervalMs) {
    out.push(
      `haHeartbeatTimeout ${quote(String(prefs.heartbeatTimeoutMs))} is shorter than twice haHeartbeatInterval ${quote(String(prefs.heartbeatIntervalMs))}: one late heartbeat would declare the path down`,
    );
  }
  if (prefs.idleTakeoverMs !== 0 && prefs.idleTakeoverMs < prefs.heartbeatTimeoutMs) {
    out.push(
      `haIdleTakeover ${quote(String(prefs.idleTakeoverMs))} is shorter than haHeartbeatTimeout ${quote(String(prefs.heartbeatTimeoutMs))}: the partner is not even silent by then`,
    );
  }
  return out;
}

/**
 * The HA prefs as numbers. `get` returns the stored string of a pref, or undefined when it is not
 * set (the default applies). An invalid value falls back to its default and is listed in `errors`;
 * a failed cross-check resets the three timers it involves to their defaults (`crossCheck: false`:
 * the values as they are, for validatePrefs to refuse the update instead).
 */
export function readHaPrefs(get: (name: string) => string | undefined, opts: { crossCheck?: boolean } = {}): { prefs: HaPrefs; errors: string[] } {
  const errors: string[] = [];
  const prefs: HaPrefs = { ...HA_PREF_DEFAULTS };
  for (const row of NUMBER_ROWS) {
    const v = get(row.pref);
    if (v === undefined) continue;
    const problem = numberProblem(row, v);
    if (problem) errors.push(`${problem}; using the default ${row.default}`);
    else prefs[row.field] = Number(v);
  }
  const fb = get(FAILBACK_PREF);
  if (fb !== undefined) {
    const problem = boolProblem(fb);
    if (problem) errors.push(`${problem}; using the default false`);
    else prefs.autoFailback = fb === "true";
  }
  const cross = opts.crossCheck === false ? [] : haPrefCrossProblems(prefs);
  if (cross.length > 0) {
    // The three timers are reset together: resetting one alone could break the other check.
    errors.push(...cross.map((c) => `${c}; using the defaults of haHeartbeatInterval, haHeartbeatTimeout and haIdleTakeover`));
    prefs.heartbeatIntervalMs = HA_PREF_DEFAULTS.heartbeatIntervalMs;
    prefs.heartbeatTimeoutMs = HA_PREF_DEFAULTS.heartbeatTimeoutMs;
    prefs.idleTakeoverMs = HA_PREF_DEFAULTS.idleTakeoverMs;
  }
  return { prefs, errors };
}
