// `events watch`: the API's event stream, printed as it arrives. json is one compact object per
// line (jq reads them one by one), yaml one document per event, table one row per event under a
// header printed once. It runs until Ctrl-C (exit 0), --count events, or a refusal (exit 1); the
// stream is reopened after each loss, resuming after the last event seen (event-stream.ts says
// what the server can and cannot replay).

import YAML from "yaml";
import type { OutputFormat } from "../../config/client-config.ts";
import { CliError, UsageError } from "../cli-error.ts";
import type { VerbContext } from "../context.ts";
import { watchEvents, type StreamMessage } from "../event-stream.ts";
import { abortOnInterrupt } from "../interrupt.ts";
import { printable, printableCut } from "../printable.ts";
import { boolFlag, countFlag, parseVerbArgs } from "../verb-args.ts";
import { CLI_TYPES } from "../types.ts";
import { usageOf, type VerbSpec } from "../verb-spec.ts";

/** Event types that are not object types: prefs changes, ISO progress, HA conflicts, boot timeline records. */
const NOTICE_TYPES = ["prefs", "isos", "ha", "timeline"];

/** Exit status of --fail-on-gap when the server says events were missed. */
export const GAP_EXIT = 3;

const WATCH: VerbSpec = {
  path: ["events", "watch"],
  synopsis: "",
  flags: [
    { name: "type", kind: "value", placeholder: "T", choices: [...CLI_TYPES.map((t) => t.name), ...NOTICE_TYPES] },
    { name: "action", kind: "value", placeholder: "A", choices: ["create", "update", "delete", "progress", "conflict", "record"] },
    { name: "key", kind: "value", placeholder: "K" },
    { name: "since", kind: "value", placeholder: "SEQ" },
    { name: "count", kind: "value", placeholder: "N" },
    { name: "fail-on-gap", kind: "bool" },
  ],
  summary: "print events as they happen, until Ctrl-C or --count events",
  notes: [
    "--type, --action, --key: comma lists (machines,leases); --since SEQ: first the changes after SEQ the server still holds.",
    "Lost connections are reopened after the server's retry delay, resuming after the last event seen.",
    `When the server says changes were missed (it no longer holds them): a warning on stderr, or exit ${GAP_EXIT} with --fail-on-gap.`,
    "Notices (ISO progress, boot timeline records, HA conflicts) are not replayed after a reconnect.",
    "-o json: one object per line; -o yaml: one document per event; -o table: time, type, action, key, summary.",
  ],
  run: eventsWatch,
};

export const EVENT_VERBS: readonly VerbSpec[] = [WATCH];

const list = (raw: string | undefined) => (raw === undefined ? undefined : raw.split(",").map((s) => s.trim()).filter(Boolean));

async function eventsWatch(ctx: VerbContext, args: string[]): Promise<number> {
  const usage = usageOf(WATCH);
  const { flags } = parseVerbArgs(args, WATCH, { min: 0, max: 0 });
  const since = countFlag(flags.get("since"), usage);
  const count = countFlag(flags.get("count"), usage);
  if (count === 0) throw new UsageError(`--count: invalid number "0" (expected 1 or more)\nusage: ${usage}`);
  const failOnGap = boolFlag(flags.get("fail-on-gap"));
  const types = list(flags.get("type")?.raw);
  const actions = list(flags.get("action")?.raw);
  const keys = list(flags.get("key")?.raw);
  const print = eventPrinter(ctx, ctx.config.output);

  const ac = new AbortController();
  const release = abortOnInterrupt(ac);
  let seen = 0;
  let gap: string | undefined;
  let dropped = false;
  try {
    await watchEvents(ctx.api(), {
      query: { types, actions, keys, since },
      signal: ac.signal,
      onOpen() {
        if (dropped) ctx.io.err("events watch: reconnected");
        dropped = false;
      },
      onMessage(m) {
        if (ac.signal.aborted) return;
        print(m);
        if (count !== undefined && ++seen >= count) ac.abort();
      },
      onGap(from) {
        const what = `the server no longer holds every change after event ${from ?? "?"}: some were missed`;
        if (!failOnGap) {
          ctx.io.err(`events watch: warning: ${what}`);
          return;
        }
        gap = what;
        ac.abort();
      },
      onDrop(d) {
        dropped = true;
        const after = d.lastEventId === "" ? "" : `, resuming after event ${d.lastEventId}`;
        ctx.io.err(`events watch: connection lost (${printable(d.reason)}); reconnecting in ${d.retryMs / 1000}s${after}`);
      },
      onWarning(line) {
        ctx.io.err(`events watch: ${line}`);
      },
    });
  } finally {
    release();
  }
  if (gap !== undefined) throw new CliError(gap, GAP_EXIT);
  return 0;
}

/** Prints one event in the chosen format; the table's header comes before the first call. */
export function eventPrinter(ctx: VerbContext, format: OutputFormat): (m: StreamMessage) => void {
  if (format === "json") return (m) => ctx.io.out(JSON.stringify(m));
  if (format === "yaml") return (m) => ctx.io.out(`---\n${YAML.stringify(m).trimEnd()}`);
  ctx.io.out(tableRow(["TIME", "TYPE", "ACTION", "KEY", "SUMMARY"]));
  return (m) => ctx.io.out(tableRow([m.Time, m.Type, m.Action, m.Key, eventSummary(m)].map((c) => printable(c))));
}

/** Fixed widths, so that rows printed one at a time line up: an ISO time, a Uuid. */
const WIDTHS = [24, 12, 8, 36];

function tableRow(cells: string[]): string {
  return cells
    .map((c, i) => (i < WIDTHS.length ? c.padEnd(WIDTHS[i] as number) : c))
    .join("  ")
    .trimEnd();
}

/** Fields worth a glance, in this order, when an object has them. */
const GLANCE = ["Name", "Address", "Addr", "State", "BootEnv", "Stage", "Task", "Available", "Error"];

/** One line about the event's object: a timeline record's own summary, else a few fields. */
export function eventSummary(m: StreamMessage): string {
  const o = m.Object;
  if (m.Type === "timeline" && typeof o.Summary === "string") return printableCut(`${String(o.Kind ?? "")}: ${o.Summary}`, 120);
  if (m.Type === "isos" && m.Action === "progress") {
    const env = typeof o.BootEnv === "string" && o.BootEnv !== "" ? ` ${o.BootEnv}` : "";
    return printableCut(`${String(o.State ?? "")}${env} ${String(o.Bytes ?? 0)}/${String(o.TotalBytes ?? 0)} bytes`, 120);
  }
  const parts: string[] = [];
  for (const f of GLANCE) {
    const v = o[f];
    if (v === undefined || v === null || v === "" || typeof v === "object") continue;
    if (f === "Name" && v === m.Key) continue;
    parts.push(`${f}=${String(v)}`);
  }
  return printableCut(parts.join(" "), 120);
}
