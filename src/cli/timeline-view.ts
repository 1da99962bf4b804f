// The boot timeline as the API answers it (GET machines/<id>/timeline, GET timeline?mac=) and as
// people read it: events with their time from the first one, and diagnoses in plain sentences with
// the events that prove them. Everything shown here came from the provisioning network (summaries
// hold vendor classes, file names, host names), so it goes through printable().

import { CliError } from "./cli-error.ts";
import { printable, printableCut } from "./printable.ts";

// The answer's shape is the server's own (timeline/event-view.ts, diagnose.ts): types only.
import type { Diagnosis } from "../timeline/diagnose.ts";
import type { TimelineEvent, TimelineView as Timeline } from "../timeline/event-view.ts";
export type { Diagnosis, Timeline, TimelineEvent };

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

/** A TimelineEvent from untyped JSON, or undefined when it lacks what is printed. */
export function asTimelineEvent(v: unknown): TimelineEvent | undefined {
  if (!isRecord(v) || typeof v.Seq !== "number" || typeof v.Time !== "string") return undefined;
  return {
    Seq: v.Seq,
    Time: v.Time,
    Mac: typeof v.Mac === "string" ? v.Mac : "",
    Kind: typeof v.Kind === "string" ? v.Kind : "",
    Summary: typeof v.Summary === "string" ? v.Summary : "",
    Detail: isRecord(v.Detail) ? (v.Detail as TimelineEvent["Detail"]) : {},
  };
}

/** The API's answer checked for the fields the CLI relies on (a wrong server is an error, not a crash). */
export function asTimeline(v: unknown, where: string): Timeline {
  if (!isRecord(v) || typeof v.Mac !== "string" || !Array.isArray(v.Events) || !Array.isArray(v.Diagnoses)) {
    throw new CliError(`${where}: the answer is not a timeline (expected Mac, Events and Diagnoses)`);
  }
  const events = v.Events.map(asTimelineEvent).filter((e): e is TimelineEvent => e !== undefined);
  const diagnoses = v.Diagnoses.filter(isRecord).map(
    (d): Diagnosis => ({
      Code: String(d.Code ?? ""),
      Severity: d.Severity === "error" || d.Severity === "warning" ? d.Severity : "info",
      Message: String(d.Message ?? ""),
      ...(typeof d.Fix === "string" && d.Fix !== "" ? { Fix: d.Fix } : {}),
      Evidence: Array.isArray(d.Evidence) ? d.Evidence.filter((n): n is number => typeof n === "number") : [],
    }),
  );
  const macs = Array.isArray(v.Macs) ? v.Macs.filter((m): m is string => typeof m === "string") : [];
  return {
    Mac: v.Mac,
    ...(macs.length > 1 ? { Macs: macs } : {}),
    ...(typeof v.Machine === "string" ? { Machine: v.Machine } : {}),
    ...(typeof v.Name === "string" ? { Name: v.Name } : {}),
    Events: events,
    Diagnoses: diagnoses,
  };
}

/** "+12.345s" from `t0` (ms); "?" when the time does not parse. */
export function relativeTime(time: string, t0: number): string {
  const t = Date.parse(time);
  if (Number.isNaN(t) || Number.isNaN(t0)) return "?";
  const d = (t - t0) / 1000;
  return `${d < 0 ? "-" : "+"}${Math.abs(d).toFixed(3)}s`;
}

/** Fixed widths, so that rows printed later (--follow) line up with the first ones. */
const SEQ_W = 8;
const TIME_W = 11;
/** The longest kind is dhcp-foreign. */
const KIND_W = 12;

export function eventHeader(): string {
  return ["SEQ".padEnd(SEQ_W), "TIME".padEnd(TIME_W), "KIND".padEnd(KIND_W), "SUMMARY"].join("  ");
}

export function eventRow(e: TimelineEvent, t0: number): string {
  return [String(e.Seq).padEnd(SEQ_W), relativeTime(e.Time, t0).padEnd(TIME_W), printable(e.Kind).padEnd(KIND_W), printableCut(e.Summary, 160)]
    .join("  ")
    .trimEnd();
}

/** The MACs whose records make up the timeline. */
export function macsOf(t: Timeline): string[] {
  return t.Macs ?? (t.Mac === "" ? [] : [t.Mac]);
}

/** What the timeline is of: "machine web1 (<uuid>), MAC aa:..." or "MAC aa:... (no machine has it)". */
export function subject(t: Timeline): string {
  const mac = t.Macs ? `MACs ${t.Macs.map(printable).join(", ")}` : `MAC ${printable(t.Mac)}`;
  if (t.Machine === undefined) return `${mac} (no machine has it)`;
  const name = t.Name ? `${printable(t.Name)} (${printable(t.Machine)})` : printable(t.Machine);
  return `machine ${name}, ${mac}`;
}

const SEVERITY_ORDER = { error: 0, warning: 1, info: 2 } as const;

/** Errors first, then warnings, then the rest; the server's order within each. */
export function sortedDiagnoses(ds: readonly Diagnosis[]): Diagnosis[] {
  return ds.map((d, i) => ({ d, i })).sort((a, b) => SEVERITY_ORDER[a.d.Severity] - SEVERITY_ORDER[b.d.Severity] || a.i - b.i).map((x) => x.d);
}

/** Diagnoses as indented paragraphs (a sentence is not cut to fit a column). */
export function diagnosisLines(ds: readonly Diagnosis[]): string[] {
  const out: string[] = [];
  for (const d of sortedDiagnoses(ds)) {
    out.push(`${d.Severity.toUpperCase().padEnd(7)}  ${printable(d.Message)}${d.Code ? ` [${printable(d.Code)}]` : ""}`);
    if (d.Fix) out.push(`         fix: ${printable(d.Fix)}`);
    if (d.Evidence.length > 0) out.push(`         evidence: ${d.Evidence.map((n) => `#${n}`).join(" ")}`);
  }
  return out;
}

/** `machines timeline -o table`: the events, then the diagnoses. */
export function timelineText(t: Timeline): string {
  const t0 = t.Events.length > 0 ? Date.parse((t.Events[0] as TimelineEvent).Time) : NaN;
  const lines = [`Boot timeline of ${subject(t)}: ${t.Events.length} event${t.Events.length === 1 ? "" : "s"}`];
  if (t.Events.length > 0) lines.push(`times from ${printable((t.Events[0] as TimelineEvent).Time)}`, "", eventHeader(), ...t.Events.map((e) => eventRow(e, t0)));
  lines.push("");
  if (t.Diagnoses.length === 0) lines.push("Diagnoses: none");
  else lines.push("Diagnoses:", ...diagnosisLines(t.Diagnoses));
  return lines.join("\n");
}

/**
 * `doctor -o table`: the verdict first, in words, then each diagnosis, then the events it names
 * (all events when there is no diagnosis to point at some).
 */
export function doctorText(t: Timeline): string {
  const errors = t.Diagnoses.filter((d) => d.Severity === "error").length;
  const warnings = t.Diagnoses.filter((d) => d.Severity === "warning").length;
  const lines: string[] = [];
  if (t.Events.length === 0 && t.Diagnoses.length === 0) {
    lines.push(`${subject(t)}: no boot traffic recorded. The server has seen no DHCP, TFTP or HTTP request from this address since it started (the timeline is kept in memory).`);
    return lines.join("\n");
  }
  if (errors > 0) lines.push(`${subject(t)}: ${count(errors, "problem")} that stop${errors === 1 ? "s" : ""} it booting${warnings ? `, ${count(warnings, "warning")}` : ""}.`);
  else if (warnings > 0) lines.push(`${subject(t)}: no problem that stops it booting; ${count(warnings, "warning")}.`);
  else lines.push(`${subject(t)}: no problem found in ${count(t.Events.length, "event")}.`);
  if (t.Diagnoses.length > 0) lines.push("", ...diagnosisLines(t.Diagnoses));
  const cited = new Set(t.Diagnoses.flatMap((d) => d.Evidence));
  const shown = cited.size > 0 ? t.Events.filter((e) => cited.has(e.Seq)) : t.Events;
  if (shown.length > 0) {
    const t0 = Date.parse((t.Events[0] as TimelineEvent).Time);
    lines.push("", cited.size > 0 ? "Evidence:" : "Events:", eventHeader(), ...shown.map((e) => eventRow(e, t0)));
    const missing = [...cited].filter((n) => !t.Events.some((e) => e.Seq === n));
    if (missing.length > 0) lines.push(`(no longer held: ${missing.map((n) => `#${n}`).join(" ")})`);
  }
  return lines.join("\n");
}

const count = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

/** Exit status of `doctor`: 1 when a diagnosis is an error. */
export function doctorStatus(t: Timeline): number {
  return t.Diagnoses.some((d) => d.Severity === "error") ? 1 : 0;
}
