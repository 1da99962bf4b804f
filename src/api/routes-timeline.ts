// The boot timeline over the API: a machine's (or any MAC's) DHCP, TFTP and HTTP steps with the
// diagnoses drawn from them, and the live records on the event stream for streams that ask.
//
//   GET /api/v3/machines/<id>/timeline     a registered machine, all its MACs
//   GET /api/v3/timeline?mac=<mac>         any MAC, unknown ones too
//   GET /api/v3/timeline                   the newest events across MACs (?since=<seq>&limit=<n>)

import type { Hono } from "hono";
import type { ApiDeps } from "./deps.ts";
import { type ApiEnv, may, principalOf, requireClaim, visibleObject } from "./access.ts";
import { json } from "./http-util.ts";
import { SocleError, badRequest } from "../model/errors.ts";
import type { ModelObject } from "../model/object.ts";
import { quote } from "../model/validate.ts";
import { describeRow, type TimelineService, type TimelineView } from "../timeline/event-view.ts";
import { diagnose, type DiagnoseFacts } from "../timeline/diagnose.ts";
import { macFromString, macToString } from "../timeline/mac.ts";
import type { TimelineRow } from "../timeline/recorder.ts";
import type { EventHub } from "./events.ts";
import { missingBootFiles } from "./boot-file-status.ts";

const MAX_LIMIT = 8192;

export function timelineRoutes(app: Hono<ApiEnv>, deps: ApiDeps): void {
  const off = () => new SocleError("NotFound", "timeline", "", "the boot timeline is off on this server (--timeline-macs 0)");

  const leasesOf = (macs: readonly string[]) => {
    const set = new Set(macs);
    return deps.store
      .list("leases")
      .filter((l) => typeof l.Token === "string" && set.has(l.Token.toLowerCase()))
      .map((l) => ({ Addr: String(l.Addr), State: String(l.State ?? ""), ExpireTime: String(l.ExpireTime ?? "") }));
  };

  const factsFor = async (macs: readonly string[], machine: ModelObject | undefined): Promise<DiagnoseFacts> => {
    const facts: DiagnoseFacts = { now: Date.now(), leases: leasesOf(macs) };
    if (machine) {
      facts.machine = {
        Uuid: String(machine.Uuid ?? ""),
        Name: String(machine.Name ?? ""),
        Address: String(machine.Address ?? ""),
        Arch: String(machine.Arch ?? ""),
        BootEnv: String(machine.BootEnv ?? ""),
      };
      const env = facts.machine.BootEnv ? deps.store.get("bootenvs", facts.machine.BootEnv) : undefined;
      if (env) {
        const files = deps.bootFiles;
        const missing = files ? await missingBootFiles(env, (p) => files.exists(p)) : [];
        const stored = Array.isArray(env.Errors) ? env.Errors.map(String) : [];
        facts.bootEnv = { Name: String(env.Name), Available: env.Available !== false && missing.length === 0, Problems: [...stored, ...missing] };
      }
    }
    return facts;
  };

  /**
   * `machine`: the MACs' machine when the caller may see it; a registration's or job's machine
   * identity is only shown then.
   */
  const view = async (macs: readonly number[], machine: ModelObject | undefined, hideMachine: boolean): Promise<TimelineView> => {
    const tl = deps.timeline;
    if (!tl) throw off();
    const rows: TimelineRow[] = macs.flatMap((m) => tl.recorder.of(m)).sort((a, b) => a.seq - b.seq);
    const strings = macs.map(macToString);
    const out: TimelineView = {
      Mac: strings[0] ?? "",
      Events: rows.map((r) => describeRow(r, tl.names, hideMachine)),
      Diagnoses: diagnose(rows, await factsFor(strings, machine), tl.names),
    };
    if (strings.length > 1) out.Macs = strings;
    if (machine) {
      out.Machine = String(machine.Uuid);
      out.Name = String(machine.Name ?? "");
    }
    return out;
  };

  app.get("/api/v3/machines/:id/timeline", async (c) => {
    const machine = visibleObject(c, deps.objects, "machines", c.req.param("id"));
    const uuid = String(machine.Uuid);
    requireClaim(c, "timeline", "get", uuid);
    const macs = (Array.isArray(machine.HardwareAddrs) ? machine.HardwareAddrs : []).map((m) => macFromString(String(m))).filter((m): m is number => m !== undefined);
    return json(await view(macs, machine, false));
  });

  app.get("/api/v3/timeline", async (c) => {
    const raw = c.req.query("mac");
    if (raw !== undefined) {
      const mac = macFromString(raw);
      if (mac === undefined) throw badRequest("timeline", "", `mac: ${quote(raw.slice(0, 64))} is not a MAC address (aa:bb:cc:dd:ee:ff)`);
      const key = macToString(mac);
      requireClaim(c, "timeline", "get", key);
      const machine = deps.store.list("machines").find((m) => Array.isArray(m.HardwareAddrs) && m.HardwareAddrs.includes(key));
      // A machine the caller may not see is not named (nor its params), as for any other read.
      const visible = machine && requireMachineVisible(c, deps, machine) ? machine : undefined;
      return json(await view([mac], visible, visible === undefined));
    }
    requireClaim(c, "timeline", "list");
    const tl = deps.timeline;
    if (!tl) throw off();
    const since = numberParam(c.req.query("since"), "since", 0);
    const limit = numberParam(c.req.query("limit"), "limit", 1000);
    if (limit < 1 || limit > MAX_LIMIT) throw badRequest("timeline", "", `limit: ${limit} is not between 1 and ${MAX_LIMIT}`);
    // Across MACs, machine identities only for a caller who may read every machine.
    const hide = !may(principalOf(c), "machines", "get", "*");
    return json({ LastSeq: tl.recorder.lastSeq, Events: tl.recorder.since(since, limit).map((r) => describeRow(r, tl.names, hide)), Stats: tl.recorder.stats() });
  });
}

function requireMachineVisible(c: Parameters<typeof requireClaim>[0], deps: ApiDeps, machine: ModelObject): boolean {
  try {
    visibleObject(c, deps.objects, "machines", String(machine.Uuid));
    return true;
  } catch {
    return false;
  }
}

function numberParam(raw: string | undefined, name: string, dflt: number): number {
  if (raw === undefined || raw === "") return dflt;
  if (!/^\d{1,15}$/.test(raw)) throw badRequest("timeline", "", `${name}: ${quote(raw.slice(0, 64))} is not a non-negative integer`);
  return Number(raw);
}

/**
 * Puts new timeline records on the event stream every `everyMs`, only while a stream asked for
 * type=timeline: the DHCP fast path only ever writes its row.
 */
export function publishTimeline(events: EventHub, tl: TimelineService, everyMs = 250): () => void {
  let last = tl.recorder.lastSeq;
  const timer = setInterval(() => {
    if (!events.wants("timeline")) {
      last = tl.recorder.lastSeq;
      return;
    }
    // Streams are filtered by the timeline claim on the MAC only: no machine identities in them.
    for (const r of tl.recorder.since(last, 2000)) {
      const e = describeRow(r, tl.names, true);
      events.notify({ Type: "timeline", Action: "record", Key: e.Mac, Object: e as unknown as Record<string, unknown> });
    }
    last = tl.recorder.lastSeq;
  }, everyMs);
  return () => clearInterval(timer);
}
