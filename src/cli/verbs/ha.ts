// The HA pair: `ha status`, `ha enrol`, `ha takeover`, `ha step-down`, `ha partner-down --confirm`
// against the API (routes-ha.ts), and `ha join`, which runs on the second node itself, with its
// server stopped, and talks to no API: it dials the first node's HA port (haJoin, provided by
// src/main.ts over src/ha/enrol.ts).
//
// The enrolment secret never goes on a command line: argv is readable by every user of the host
// (ps, /proc/<pid>/cmdline) and stays in the shell history. `ha join` reads it from standard
// input (the first line) or SOCLE_HA_ENROL_SECRET, and refuses --secret saying so.

import { readdirSync, statSync } from "node:fs";
import { hostname, networkInterfaces } from "node:os";
import { isIPv4 } from "node:net";
import { ConfigError } from "../../config/config-error.ts";
import { parseIPv4OrEmpty, parseNodeName, parsePort } from "../../config/values.ts";
import { CliError, UsageError } from "../cli-error.ts";
import type { VerbContext } from "../context.ts";
import { boolFlag, parseVerbArgs } from "../verb-args.ts";
import { usageOf, type VerbSpec } from "../verb-spec.ts";
import { DATA_DIR_FLAG, dataDirOf } from "./local.ts";

export const HA_SECRET_ENV = "SOCLE_HA_ENROL_SECRET";
const DEFAULT_HA_PORT = 8094;
const PIN_RE = /^sha256\/\/[A-Za-z0-9+/]{43}=$/;

const STATUS: VerbSpec = {
  path: ["ha", "status"],
  synopsis: "",
  flags: [],
  summary: "this node's HA state, partner, paths, lag and whether a failover is safe",
  notes: ["-o table: the fields that matter, for people; -o json or yaml: the whole status."],
  run: haStatus,
};

const ENROL: VerbSpec = {
  path: ["ha", "enrol"],
  synopsis: "",
  flags: [],
  summary: "a one-time secret and the command with which a second node joins this one",
  notes: ["The secret is valid 15 minutes, for one join. -o table prints it with the command to run on the second node."],
  run: haEnrol,
};

const TAKEOVER: VerbSpec = {
  path: ["ha", "takeover"],
  synopsis: "",
  flags: [],
  summary: "planned switchover: the partner drains, hands over, and this node becomes active",
  run: (ctx, args) => {
    parseVerbArgs(args, TAKEOVER, { min: 0, max: 0 });
    return operatorRequest(ctx, "takeover");
  },
};

const STEP_DOWN: VerbSpec = {
  path: ["ha", "step-down"],
  synopsis: "",
  flags: [],
  summary: "this node hands the active role to its partner",
  run: (ctx, args) => {
    parseVerbArgs(args, STEP_DOWN, { min: 0, max: 0 });
    return operatorRequest(ctx, "step-down");
  },
};

const PARTNER_DOWN_WHY =
  "it lets this node hand out addresses from the partner's half of every pool once MCLT (pref haMclt) has passed; if the partner is in fact still answering clients, two clients can get the same address";

const PARTNER_DOWN: VerbSpec = {
  path: ["ha", "partner-down"],
  synopsis: "",
  flags: [{ name: "confirm", kind: "bool" }],
  summary: "vouch that the partner is down (powered off or stopped); needs --confirm",
  notes: [`Only when the partner is really down: ${PARTNER_DOWN_WHY}.`],
  run: haPartnerDown,
};

const JOIN: VerbSpec = {
  path: ["ha", "join"],
  synopsis: "<address>",
  flags: [
    { name: "ca-pin", kind: "value", placeholder: "sha256//..." },
    { name: "port", kind: "value", placeholder: "N" },
    { name: "node-name", kind: "value", placeholder: "N" },
    { name: "lan-address", kind: "value", placeholder: "A" },
    DATA_DIR_FLAG,
  ],
  summary: "on the second node, server stopped: join the first node (secret on stdin)",
  notes: [
    `address: the first node's address; --port: its HA port (default ${DEFAULT_HA_PORT}); --ca-pin: the pin socle ha enrol printed.`,
    `The enrolment secret: the first line of standard input, or ${HA_SECRET_ENV}; never on the command line.`,
    "--node-name: default the host name; --lan-address: this node's LAN address the first node may reach it on",
    "(default the first non-loopback IPv4 address). --data-dir must be empty or absent: the first node's store replaces it.",
  ],
  local: true,
  run: haJoin,
};

export const HA_VERBS: readonly VerbSpec[] = [STATUS, ENROL, TAKEOVER, STEP_DOWN, PARTNER_DOWN, JOIN];

async function haStatus(ctx: VerbContext, args: string[]): Promise<number> {
  parseVerbArgs(args, STATUS, { min: 0, max: 0 });
  const status = (await ctx.api().request("GET", "ha")) as Record<string, unknown>;
  if (ctx.config.output === "table") ctx.io.out(statusText(status));
  else ctx.print(status);
  return 0;
}

async function haEnrol(ctx: VerbContext, args: string[]): Promise<number> {
  parseVerbArgs(args, ENROL, { min: 0, max: 0 });
  const e = (await ctx.api().request("POST", "ha/enrolment")) as Record<string, unknown>;
  if (ctx.config.output !== "table") {
    ctx.print(e);
    return 0;
  }
  ctx.io.out(
    [
      `Enrolment secret:  ${str(e.Secret)}`,
      `Valid until:       ${str(e.ExpiresAt)} (one join)`,
      `CA pin:            ${str(e.CaPin)}`,
      `VIP:               ${str(e.Vip)}`,
      "",
      "On the second node, with its server stopped and its data dir empty or absent, run:",
      `  ${str(e.Join)}`,
      `and give it the secret on standard input (or in ${HA_SECRET_ENV}), never on its command line.`,
    ].join("\n"),
  );
  return 0;
}

/** POST ha/<op>: the node answers 202 with its status as it is now, before the request is applied. */
async function operatorRequest(ctx: VerbContext, op: string, body?: unknown): Promise<number> {
  const status = (await ctx.api().request("POST", `ha/${op}`, body === undefined ? {} : { body })) as Record<string, unknown>;
  if (ctx.config.output === "table") {
    ctx.io.out(`${op} requested; the node applies it within a moment (socle ha status -o table shows it). Now:`);
    ctx.io.out(statusText(status));
  } else ctx.print(status);
  return 0;
}

async function haPartnerDown(ctx: VerbContext, args: string[]): Promise<number> {
  const { flags } = parseVerbArgs(args, PARTNER_DOWN, { min: 0, max: 0 });
  if (!boolFlag(flags.get("confirm"))) {
    throw new UsageError(`partner-down needs --confirm: ${PARTNER_DOWN_WHY}\nusage: ${usageOf(PARTNER_DOWN)}`);
  }
  return operatorRequest(ctx, "partner-down", { Confirm: true });
}

// ---- ha join ----------------------------------------------------------------------------------

async function haJoin(ctx: VerbContext, args: string[]): Promise<number> {
  const usage = usageOf(JOIN);
  const end = args.indexOf("--");
  const secretFlag = (end < 0 ? args : args.slice(0, end)).find((a) => a === "--secret" || a.startsWith("--secret="));
  if (secretFlag !== undefined) {
    throw new UsageError(
      `--secret is refused: a secret on the command line is readable by every user of this host (ps, /proc) and stays in the shell history; give it on standard input (first line) or in ${HA_SECRET_ENV}\nusage: ${usage}`,
    );
  }
  const { pos, flags } = parseVerbArgs(args, JOIN, { min: 0, max: Infinity });
  // Not parseVerbArgs's "unexpected argument": that would echo what may be the secret.
  if (pos.length !== 1) {
    throw new UsageError(
      `${pos.length === 0 ? "missing the first node's address" : `ha join takes one argument, the first node's address, got ${pos.length}`}; the enrolment secret is read from standard input or ${HA_SECRET_ENV}, never from the command line\nusage: ${usage}`,
    );
  }
  const host = pos[0] as string;
  if (host.trim() === "" || /\s/.test(host)) throw new UsageError(`invalid address ${JSON.stringify(host)} (expected the first node's IP address or host name)\nusage: ${usage}`);
  const value = (name: string) => flags.get(name);
  const pinSetting = value("ca-pin");
  if (pinSetting === undefined || pinSetting.raw === "") throw new UsageError(`--ca-pin is required: the pin socle ha enrol printed on the first node (sha256//...)\nusage: ${usage}`);
  if (!PIN_RE.test(pinSetting.raw)) throw new UsageError(`--ca-pin: invalid pin ${JSON.stringify(pinSetting.raw.slice(0, 80))} (expected sha256// and 44 base64 characters, as socle ha enrol prints it)\nusage: ${usage}`);
  const portSetting = value("port");
  const port = asUsage(() => (portSetting ? parsePort("--port", portSetting.raw) : DEFAULT_HA_PORT), usage);
  if (port === 0) throw new UsageError(`--port: invalid port "0" (expected 1-65535)\nusage: ${usage}`);
  const nameSetting = value("node-name");
  const nodeName = asUsage(() => (nameSetting ? parseNodeName("--node-name", nameSetting.raw) : defaultNodeName()), usage);
  const lanSetting = value("lan-address");
  const lanAddress = asUsage(() => (lanSetting ? parseIPv4OrEmpty("--lan-address", lanSetting.raw) : ""), usage) || defaultLanAddress();
  const dataDir = dataDirOf(ctx, flags);
  checkEmptyDataDir(dataDir, value("data-dir") ? "--data-dir" : ctx.env.SOCLE_DATA_DIR ? "SOCLE_DATA_DIR" : "the default data dir");
  if (!ctx.haJoin) throw new CliError("ha join is not available in this build of socle");

  const secret = await readSecret(ctx);
  const joined = await ctx.haJoin({ host, port, caPin: pinSetting.raw, secret, nodeName, lanAddress, dataDir }).catch((e: unknown) => {
    throw new CliError(e instanceof Error ? e.message : String(e));
  });
  ctx.io.out(
    [
      `Joined the HA pair of ${joined.peerName} as node ${nodeName} (slot ${joined.slot}); VIP ${joined.vip}.`,
      `${dataDir} holds this node's pair certificate (ha/); its store comes from ${joined.peerName} when the server starts.`,
      "Next, start the server on this node with the same HA flags as the first node (--ha-port, --ha-interface):",
      `  socle serve --data-dir ${dataDir} --ha-vip ${joined.vip}`,
      "It comes up as the standby; socle ha status -o table on either node shows when a failover is safe.",
    ].join("\n"),
  );
  return 0;
}

/** The secret: SOCLE_HA_ENROL_SECRET, else the first line of standard input. */
async function readSecret(ctx: VerbContext): Promise<string> {
  const fromEnv = ctx.env[HA_SECRET_ENV];
  if (fromEnv !== undefined && fromEnv.trim() !== "") return fromEnv.trim();
  ctx.io.err(`Reading the enrolment secret from standard input (first line; at a terminal, end with Enter and Ctrl-D)`);
  const text = await ctx.input.readStdin();
  const line = (text.split(/\r?\n/)[0] ?? "").trim();
  if (line === "") throw new CliError(`no enrolment secret: standard input was empty and ${HA_SECRET_ENV} is not set (socle ha enrol on the first node prints one)`);
  return line;
}

/** A joining node's store is replaced by the first node's: refuse a data dir that holds anything. */
function checkEmptyDataDir(dir: string, source: string): void {
  let entries: string[];
  try {
    if (!statSync(dir).isDirectory()) throw new CliError(`data dir "${dir}" (${source}) is not a directory`);
    entries = readdirSync(dir);
  } catch (e) {
    if (e instanceof CliError) throw e;
    if ((e as { code?: string }).code === "ENOENT") return;
    throw new CliError(`cannot read data dir "${dir}" (${source}): ${(e as Error).message}`);
  }
  if (entries.length === 0) return;
  const shown = entries.sort().slice(0, 5).join(", ") + (entries.length > 5 ? ", ..." : "");
  throw new CliError(
    `data dir "${dir}" (${source}) is not empty (it holds ${shown}): a joining node's store is replaced by the first node's; give an empty or new directory with --data-dir, or move this one aside`,
  );
}

function defaultNodeName(): string {
  const name = hostname().split(".")[0] ?? "";
  try {
    return parseNodeName("host name", name);
  } catch {
    throw new CliError(`the host name ${JSON.stringify(name)} is not a usable node name; give one with --node-name`);
  }
}

/** The first non-loopback IPv4 address of this host, in the order the kernel lists interfaces. */
export function defaultLanAddress(ifaces = networkInterfaces()): string {
  for (const list of Object.values(ifaces)) {
    for (const a of list ?? []) if (a.family === "IPv4" && !a.internal && isIPv4(a.address)) return a.address;
  }
  throw new CliError("this host has no IPv4 address besides loopback; give the one the first node can reach with --lan-address");
}

function asUsage<T>(f: () => T, usage: string): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(`${e.message}\nusage: ${usage}`);
    throw e;
  }
}

// ---- the human view of the status ---------------------------------------------------------------

const str = (v: unknown): string => (v === undefined || v === null ? "" : String(v));
const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);

/** Milliseconds as people read an age: "120 ms", "4.2 s", "3 min", "2 h". */
export function formatAge(ms: number | undefined | null): string {
  if (ms === undefined || ms === null) return "never";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min`;
  return `${Math.round(ms / 3_600_000)} h`;
}

/** The status fields that matter during an incident, as aligned lines. */
export function statusText(s: Record<string, unknown>): string {
  const peer = (s.Peer && typeof s.Peer === "object" ? s.Peer : {}) as Record<string, unknown>;
  const paths = Array.isArray(peer.Paths) ? (peer.Paths as Record<string, unknown>[]) : [];
  const why = Array.isArray(s.Why) ? (s.Why as unknown[]).map(str) : [];
  const unacked = Array.isArray(s.UnackedClients) ? (s.UnackedClients as unknown[]).map(str) : [];
  const rows: [string, string][] = [
    ["Node", `${str(s.Node)} (slot ${str(s.Slot)})`],
    ["State", `${str(s.State)}, term ${str(s.Term)}${str(s.Reason) ? ` (${str(s.Reason)})` : ""}`],
    ["VIP", `${str(s.Vip)}, ${s.HoldsVip === true ? "held by this node" : "not held by this node"}`],
    ["Peer", `${str(peer.Name) || "?"}: ${str(peer.State) || "unknown"}, term ${str(peer.Term)}, last heard ${peer.LastHeardMs === null || peer.LastHeardMs === undefined ? "never" : `${formatAge(num(peer.LastHeardMs))} ago`}`],
    ...paths.map((p): [string, string] => [
      "  path",
      `${str(p.Address)} ${p.Up === true ? "up" : "down"}, last frame ${p.AgeMs === null || p.AgeMs === undefined ? "never" : `${formatAge(num(p.AgeMs))} ago`}${num(p.RttMs) !== undefined ? `, rtt ${formatAge(num(p.RttMs))}` : ""}`,
    ]),
    ["Lag", `${str(s.LagSeq)} changes, ${str(s.LagBytes)} bytes (files pending ${str(s.FilesPendingBytes)} bytes)`],
    ["Seq", `${str(s.Seq)} (shared with the partner: ${str(s.SharedSeq)})`],
    ["Unacked clients", unacked.length === 0 ? "none" : `${unacked.length}: ${unacked.slice(0, 8).join(", ")}${unacked.length > 8 ? ", ..." : ""}`],
    ["Sync timeouts", str(s.SyncTimeouts)],
    ["Failover safe", s.FailoverSafe === true ? "yes" : `no${why.length ? `: ${why.join("; ")}` : ""}`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join("\n");
}
