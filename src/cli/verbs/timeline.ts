// The boot timeline: `machines timeline <id|name> [--follow]` and `doctor <mac|machine>`.
//
// Following: the stream's timeline records are notices, which the server does not replay after a
// reconnect, but the timeline itself is held by the server: each time the stream is (re)opened the
// timeline is read again and the events not printed yet are printed, so a lost connection loses
// nothing the server still holds. Events are printed once each, in Seq order (the recorder numbers
// them in the order it records them).

import YAML from "yaml";
import { keyPath, type ApiClient } from "../api-client.ts";
import { CliError } from "../cli-error.ts";
import type { VerbContext } from "../context.ts";
import { watchEvents } from "../event-stream.ts";
import { abortOnInterrupt } from "../interrupt.ts";
import { machineKey, parseMachineRef } from "../machine-ref.ts";
import { printable } from "../printable.ts";
import {
  asTimeline,
  asTimelineEvent,
  doctorStatus,
  doctorText,
  eventHeader,
  eventRow,
  macsOf,
  timelineText,
  type Timeline,
  type TimelineEvent,
} from "../timeline-view.ts";
import { boolFlag, parseVerbArgs } from "../verb-args.ts";
import type { VerbSpec } from "../verb-spec.ts";

export const MACHINE_TIMELINE: VerbSpec = {
  path: ["machines", "timeline"],
  synopsis: "<id|name>",
  flags: [{ name: "follow", short: "f", kind: "bool" }],
  summary: "the machine's DHCP, TFTP and HTTP steps with their times, and what went wrong",
  notes: [
    "-o table: the events (time from the first one, kind, summary), then the diagnoses with the Seqs of their evidence.",
    "--follow: then each new event as it happens, until Ctrl-C (exit 0); -o json prints each as one line.",
    "The timeline is kept in the server's memory: it starts empty when the server starts.",
  ],
  run: machineTimeline,
};

export const DOCTOR: VerbSpec = {
  path: ["doctor"],
  synopsis: "<mac|machine>",
  flags: [],
  summary: "why a machine does not boot, in plain words, with the evidence",
  notes: [
    "mac: aa:bb:cc:dd:ee:ff, AA-BB-..., aabb.ccdd.eeff or aabbccddeeff (machines the server does not know too);",
    "machine: its Uuid or its name (Name:<name> when the name looks like a MAC).",
    "-o table: the diagnoses in words, then the events they cite. Exit status 1 when a diagnosis is an error.",
  ],
  run: doctor,
};

async function machineTimeline(ctx: VerbContext, args: string[]): Promise<number> {
  const { pos, flags } = parseVerbArgs(args, MACHINE_TIMELINE, { min: 1, max: 1 });
  const path = keyPath("machines", machineKey(pos[0] as string), "timeline");
  const api = ctx.api();
  const raw = await api.request("GET", path);
  const t = asTimeline(raw, `GET ${path}`);
  if (ctx.config.output === "table") ctx.io.out(timelineText(t));
  else ctx.print(raw);
  if (!boolFlag(flags.get("follow"))) return 0;
  await follow(ctx, api, path, t);
  return 0;
}

async function doctor(ctx: VerbContext, args: string[]): Promise<number> {
  const { pos } = parseVerbArgs(args, DOCTOR, { min: 1, max: 1 });
  const ref = parseMachineRef(pos[0] as string);
  const api = ctx.api();
  const path = ref.kind === "mac" ? "timeline" : keyPath("machines", ref.key, "timeline");
  const query = ref.kind === "mac" ? new URLSearchParams({ mac: ref.mac }) : undefined;
  const raw = await api.request("GET", path, query ? { query } : {});
  const t = asTimeline(raw, `GET ${api.url(path, query)}`);
  if (ctx.config.output === "table") ctx.io.out(doctorText(t));
  else ctx.print(raw);
  return doctorStatus(t);
}

/** Prints the timeline's new events until Ctrl-C; `t` is what was printed already. */
async function follow(ctx: VerbContext, api: ApiClient, path: string, t: Timeline): Promise<void> {
  const macs = macsOf(t);
  // No MAC, no key to filter on: the stream would carry every client's records.
  if (macs.length === 0) throw new CliError("the machine has no hardware address (HardwareAddrs is empty): there is no timeline to follow");
  let last = Math.max(-1, ...t.Events.map((e) => e.Seq));
  let t0 = t.Events.length > 0 ? Date.parse((t.Events[0] as TimelineEvent).Time) : NaN;
  let header = t.Events.length > 0;
  const print = (e: TimelineEvent) => {
    if (e.Seq <= last) return;
    last = e.Seq;
    switch (ctx.config.output) {
      case "json":
        return ctx.io.out(JSON.stringify(e));
      case "yaml":
        return ctx.io.out(`---\n${YAML.stringify(e).trimEnd()}`);
      case "table":
        if (Number.isNaN(t0)) t0 = Date.parse(e.Time);
        if (!header) ctx.io.out(eventHeader());
        header = true;
        return ctx.io.out(eventRow(e, t0));
    }
  };

  const ac = new AbortController();
  const release = abortOnInterrupt(ac);
  // Live events wait here while the timeline is read again, then go after what that read held.
  let held: TimelineEvent[] | undefined;
  let failure: unknown;
  let dropped = false;
  const refill = async () => {
    held = [];
    try {
      const now = asTimeline(await api.request("GET", path), `GET ${path}`);
      for (const e of now.Events) print(e);
    } catch (e) {
      failure = e;
      ac.abort();
    }
    for (const e of held.sort((a, b) => a.Seq - b.Seq)) print(e);
    held = undefined;
  };
  try {
    await watchEvents(api, {
      query: { types: ["timeline"], actions: ["record"], keys: macs },
      signal: ac.signal,
      onOpen() {
        if (dropped) ctx.io.err("machines timeline: reconnected");
        dropped = false;
        void refill();
      },
      onMessage(m) {
        if (m.Type !== "timeline" || !macs.includes(m.Key) || ac.signal.aborted) return;
        const e = asTimelineEvent(m.Object);
        if (!e) return;
        if (held) held.push(e);
        else print(e);
      },
      onDrop(d) {
        dropped = true;
        ctx.io.err(`machines timeline: connection lost (${printable(d.reason)}); reconnecting in ${d.retryMs / 1000}s`);
      },
    });
  } finally {
    release();
  }
  if (failure !== undefined) throw failure;
}
