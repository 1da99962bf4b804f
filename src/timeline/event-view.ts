// Timeline rows as the API shows them: one plain summary line per event plus its fields.

import {
  ANSWERED,
  type Namer,
  DHCP_OUTCOME_NAMES,
  Foreign,
  HTTP_OUTCOME_NAMES,
  HttpMethod,
  JOB_OUTCOME_NAMES,
  KIND_NAMES,
  Kind,
  REGISTER_OUTCOME_NAMES,
  TFTP_OUTCOME_NAMES,
} from "./kinds.ts";
import { macToString } from "./mac.ts";
import type { Diagnosis } from "./diagnose.ts";
import type { Timeline, TimelineRow } from "./recorder.ts";

export interface TimelineEvent {
  Seq: number;
  Time: string;
  Mac: string;
  Kind: string;
  Summary: string;
  Detail: Record<string, string | number | boolean>;
}

/** A MAC's (or a machine's) timeline as the API answers it. */
export interface TimelineView {
  Mac: string;
  /** Every MAC of a machine that has more than one (Mac is the first). */
  Macs?: string[];
  Machine?: string;
  Name?: string;
  Events: TimelineEvent[];
  Diagnoses: Diagnosis[];
}


/** The recorder and the names its rows are described with: what the API serves a timeline from. */
export interface TimelineService {
  recorder: Timeline;
  names: Namer;
}

/**
 * A row as the API shows it. `hideMachine`: a registration's or job's machine identity (Uuid,
 * name, task) left out, for a caller who may read the MAC's timeline but not that machine.
 */
export function describeRow(r: TimelineRow, names: Namer, hideMachine = false): TimelineEvent {
  const d: Record<string, string | number | boolean> = {};
  let summary: string;
  switch (r.kind) {
    case Kind.Dhcp: {
      const type = names.messageType(r.type);
      d.Type = type;
      d.Outcome = DHCP_OUTCOME_NAMES[r.outcome] ?? String(r.outcome);
      d.Port = r.n;
      if (r.arch >= 0) d.Arch = r.arch;
      if (r.a) d.VendorClass = r.a;
      if (r.b) d.UserClass = r.b;
      if (r.c) d.Relay = r.c;
      const answered = ANSWERED.has(r.outcome);
      if (answered && r.addr) d.Address = r.addr;
      if (answered && r.text) d.BootFile = r.text;
      if (!answered && r.text) d.Reason = r.text;
      const who = [r.arch >= 0 ? `arch ${r.arch} (${names.arch(r.arch)})` : "", r.b || (r.a ? r.a.split(":")[0]! : ""), r.c ? `via ${r.c}` : "", r.n === 4011 ? "port 4011" : ""].filter(Boolean).join(" ");
      const answer = answered
        ? `${d.Outcome}${r.addr && r.addr !== "0.0.0.0" ? ` ${r.addr}` : ""}${r.text ? ` file ${r.text}` : ""}`
        : `${d.Outcome}${r.text ? ` (${r.text})` : ""}`;
      summary = `${type.replace(/^DHCP/, "")}${who ? ` ${who}` : ""} -> ${answer}`;
      break;
    }
    case Kind.DhcpDrop:
      d.Reason = r.a;
      d.Error = r.text;
      d.From = r.addr;
      if (r.c) d.Interface = r.c;
      summary = `packet dropped (${r.a}): ${r.text}`;
      break;
    case Kind.DhcpForeign: {
      const type = names.messageType(r.type);
      d.Type = type;
      d.ServerId = r.a;
      d.From = r.b;
      if (r.addr) d.Address = r.addr;
      if (r.text) d.BootFile = r.text;
      if (r.c) d.Interface = r.c;
      d.Partner = r.outcome === Foreign.Partner;
      summary = `${type} from ${d.Partner ? "the HA partner" : "another DHCP server"} ${r.a || r.b}${r.addr && r.addr !== "0.0.0.0" ? ` offering ${r.addr}` : ""}${r.text ? ` file ${r.text}` : ""}`;
      break;
    }
    case Kind.Tftp:
      d.Outcome = TFTP_OUTCOME_NAMES[r.outcome] ?? String(r.outcome);
      d.Path = r.text;
      d.Client = r.addr;
      d.Bytes = r.n;
      if (r.note) d.Reason = r.note;
      summary = `TFTP ${r.text} ${d.Outcome}${r.n ? ` (${r.n} bytes)` : ""}${r.note && r.outcome !== 1 ? `: ${r.note}` : ""}`;
      break;
    case Kind.Http: {
      const method = r.type === HttpMethod.Head ? "HEAD" : r.type === HttpMethod.Get ? "GET" : "request";
      d.Method = method;
      d.Outcome = HTTP_OUTCOME_NAMES[r.outcome] ?? String(r.outcome);
      d.Status = r.n;
      d.Path = r.text;
      d.Client = r.addr;
      if (r.note) d.Error = r.note;
      summary = `HTTP ${method} ${r.text} ${r.n}${r.outcome !== 1 ? ` ${d.Outcome}` : ""}${r.note ? `: ${r.note}` : ""}`;
      break;
    }
    case Kind.Register:
      d.Outcome = REGISTER_OUTCOME_NAMES[r.outcome] ?? String(r.outcome);
      if (!hideMachine) {
        if (r.addr) d.Machine = r.addr;
        if (r.text) d.Name = r.text;
      }
      summary = `${d.Outcome}${r.text && !hideMachine ? ` as ${r.text}` : ""}`;
      break;
    case Kind.Job:
      d.Outcome = JOB_OUTCOME_NAMES[r.outcome] ?? String(r.outcome);
      if (!hideMachine) {
        d.Job = r.addr;
        d.Task = r.text;
        if (r.a) d.Stage = r.a;
        if (r.b) d.Workflow = r.b;
      }
      summary = hideMachine ? String(d.Outcome) : `${d.Outcome}: ${r.text}${r.a ? ` (stage ${r.a})` : ""}`;
      break;
    default:
      summary = `event of kind ${r.kind}`;
  }
  return { Seq: r.seq, Time: new Date(r.at).toISOString(), Mac: macToString(r.mac), Kind: KIND_NAMES[r.kind] ?? String(r.kind), Summary: summary, Detail: d };
}
