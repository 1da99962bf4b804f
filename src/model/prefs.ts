// Server preferences (DRP "prefs"): a flat string map changed through the API.

import { invalid } from "./errors.ts";
import { checkName, quote } from "./validate.ts";
import { HA_PREFS, haPrefCrossProblems, readHaPrefs } from "./ha-prefs.ts";

import type { PrefDef } from "./pref-def.ts";
export type { PrefDef } from "./pref-def.ts";

const name = (v: string) => {
  const r = checkName(v);
  return r.ok ? undefined : r.error;
};

const nameOrEmpty = (v: string) => (v === "" ? undefined : name(v));

const bool = (v: string) => (v === "true" || v === "false" ? undefined : `invalid boolean ${quote(v)}: expected "true" or "false"`);

/** A whole number from `min` to `max`, named `what` in the message. */
const wholeNumber = (what: string, min: number, max: number) => (v: string) =>
  /^[0-9]{1,16}$/.test(v) && Number(v) >= min && Number(v) <= max ? undefined : `invalid ${what} ${quote(v)}: expected a whole number from ${min} to ${max}`;

/** Whole seconds, 1..maxTokenTtl-ish: a zero token lifetime would lock everyone out. */
const seconds = (v: string) =>
  /^[1-9][0-9]{0,9}$/.test(v) && Number(v) <= 0xffffffff ? undefined : `invalid duration ${quote(v)}: expected whole seconds from 1 to 4294967295`;

export const PREFS: Record<string, PrefDef> = {
  defaultBootEnv: {
    default: "local",
    description: "Boot environment of a known machine whose BootEnv is empty",
    check: name,
  },
  unknownBootEnv: {
    default: "ignore",
    description: 'Boot environment for machines Socle does not know ("ignore": their iPXE script sends them to the local disk and nothing is recorded; "discovery": they boot discovery and register)',
    check: name,
  },
  defaultWorkflow: {
    default: "",
    description: 'Workflow given to a machine when discovery registers it ("" = none)',
    check: nameOrEmpty,
  },
  defaultStage: {
    default: "",
    description: 'Stage given to a machine when discovery registers it and defaultWorkflow is "" ("" = none)',
    check: nameOrEmpty,
  },
  unknownTokenTimeout: {
    default: "600",
    description: "Lifetime in seconds of the token given to an unknown machine to register itself",
    check: seconds,
  },
  knownTokenTimeout: {
    default: "3600",
    description: "Lifetime in seconds of the token given to a known machine",
    check: seconds,
  },
  agentTokenTimeout: {
    default: "2592000",
    description:
      "Lifetime in seconds of the token an agent keeps (traded for the installer's short-lived one at its first start, from the machine's own address); the agent renews it at half its lifetime, so only a machine off for longer loses it (socle machines revoke ends it at once). Not bounded by maxTokenTtl",
    check: seconds,
  },
  userTokenTimeout: {
    default: "3600",
    description: "Default lifetime in seconds of a user's API token",
    check: seconds,
  },
  uiSessionTimeout: {
    default: "28800",
    description: "Lifetime in seconds of a web UI login (its session cookie and the token in it); never more than maxTokenTtl",
    check: seconds,
  },
  maxTokenTtl: {
    default: "86400",
    description: "Longest lifetime in seconds of any token issued (except the installed agent's, agentTokenTimeout)",
    check: seconds,
  },
  jobLogMaxBytes: {
    default: String(16 * 1024 * 1024),
    description: "Largest log a job keeps, in bytes: output beyond it is dropped (one line in the log says so, and the agent's upload is answered 413)",
    check: wholeNumber("size", 1024, 2 ** 40),
  },
  jobLogRetention: {
    default: "30",
    description: 'Days the log of a finished or failed job is kept after it ended; then the log file is removed and the job marked Archived ("0": kept for ever)',
    check: wholeNumber("number of days", 0, 36_500),
  },
  jobRetention: {
    default: "180",
    description: 'Days an Archived job (its log removed by jobLogRetention) is kept after it ended; then it is deleted, unless it is its machine\'s current job ("0": kept for ever)',
    check: wholeNumber("number of days", 0, 36_500),
  },
  bindMachineFiles: {
    default: "true",
    description:
      'Serve the files rendered for a known machine (its kickstart, Ignition, iPXE script: they carry its token, password hashes and Secure params) only to requests from that machine: its Address or an active DHCP lease of one of its MACs; anyone else gets "not found". "false" serves them to any address (a lab where machines reach Socle through NAT)',
    check: bool,
  },
  // The HA pair's timers and bounds (ha-prefs.ts), replicated like every pref.
  ...HA_PREFS,
};

/**
 * The boot environment a machine boots: its own BootEnv, else the defaultBootEnv pref; for no
 * machine (an unknown one) the unknownBootEnv pref. The one place this rule is written.
 */
export function bootEnvOf(machine: { BootEnv?: unknown } | undefined, prefs: { defaultBootEnv: string; unknownBootEnv: string }): string {
  if (!machine) return prefs.unknownBootEnv;
  return (typeof machine.BootEnv === "string" ? machine.BootEnv : "") || prefs.defaultBootEnv;
}

const TIMEOUTS = ["unknownTokenTimeout", "knownTokenTimeout", "userTokenTimeout"];

export function defaultPrefs(): Record<string, string> {
  return Object.fromEntries(Object.entries(PREFS).map(([k, d]) => [k, d.default]));
}

/**
 * Validate a prefs update (some or all prefs). Returns the given entries, unchanged, when every
 * one is valid; otherwise throws ValidationError listing every problem (nothing is applied).
 * `current` (default: the defaults) is what the update lands on, for checks across prefs.
 */
export function validatePrefs(input: unknown, current: Record<string, string> = defaultPrefs()): Record<string, string> {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw invalid("prefs", "", `expected a JSON object of string values, got ${quote(input)}`);
  }
  const out: Record<string, string> = {};
  const problems: string[] = [];
  const unknown: string[] = [];
  for (const [k, v] of Object.entries(input)) {
    const def = Object.hasOwn(PREFS, k) ? PREFS[k] : undefined;
    if (!def) {
      unknown.push(k);
      continue;
    }
    if (typeof v !== "string") {
      problems.push(`${k}: expected a string, got ${quote(v)}`);
      continue;
    }
    const err = def.check(v);
    if (err) problems.push(`${k}: ${err}`);
    else out[k] = v;
  }
  if (unknown.length > 0) {
    problems.unshift(`unknown pref${unknown.length > 1 ? "s" : ""} ${unknown.map((u) => quote(u)).join(", ")}; known: ${Object.keys(PREFS).join(", ")}`);
  }
  if (problems.length === 0) {
    const merged = { ...defaultPrefs(), ...current, ...out };
    const max = Number(merged.maxTokenTtl);
    for (const t of TIMEOUTS) {
      if (Number(merged[t]) > max) problems.push(`${t}: ${quote(merged[t])} is longer than maxTokenTtl ${quote(merged.maxTokenTtl)}`);
    }
    problems.push(...haPrefCrossProblems(readHaPrefs((k) => merged[k], { crossCheck: false }).prefs));
  }
  if (problems.length > 0) {
    const firstBad = unknown[0] ?? Object.keys(input).find((k) => !Object.hasOwn(out, k)) ?? "";
    throw invalid("prefs", firstBad, problems);
  }
  return out;
}
