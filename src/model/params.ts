// Parameter resolution, in DRP's order: the machine's own Params, then its Profiles in order
// (each profile's own Params before its sub-profiles', depth-first), then the Params of the
// machine's current Stage and that stage's Profiles, then the `global` profile, then each Param's
// schema default. The first layer that sets a name wins, and the result says
// which layer that was, so a rendered file can be explained.

import { invalid } from "./errors.ts";
import { checkJsonSchema } from "./json-schema.ts";
import type { ModelObject } from "./object.ts";
import { isEnvelope, type ParamOwner } from "./secure-params.ts";
import { quote } from "./validate.ts";

export interface Resolved {
  value: unknown;
  /** "machine", "profile:<name>", "stage:<name>", "global" or "default". */
  source: string;
}

/**
 * The value resolution returns for a value stored on `owner` (a layer that sets it and wins):
 * renders open sealed values (secure-params.ts), API views show them or the marker. Defaults
 * (the Param's Schema) are not stored on an owner and are returned as they are.
 */
export type ParamReveal = (value: unknown, name: string, owner: ParamOwner) => unknown;

export interface ResolveOptions {
  machine?: ModelObject;
  /** Resolve for a profile on its own (the `/profiles/{name}/params` aggregate view). */
  profile?: ModelObject;
  getProfile(name: string): ModelObject | undefined;
  /** The machine's current Stage (machine.Stage): its Params and Profiles come after the machine's profiles. */
  getStage?(name: string): ModelObject | undefined;
  getParam(name: string): ModelObject | undefined;
  global: ModelObject | undefined;
  /** Every Param object, so that defaults of params no layer sets are included too. */
  params?: Iterable<ModelObject>;
  /** Applied to each value that wins; without it values are returned as stored (sealed ones sealed). */
  reveal?: ParamReveal;
}

export interface Resolution {
  values: Map<string, Resolved>;
  /** Cycles and missing profiles met on the way, e.g. `profile cycle: a -> b -> a`. */
  problems: string[];
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function defaultOf(param: ModelObject | undefined): { has: boolean; value?: unknown } {
  const schema = param?.Schema;
  return isRecord(schema) && Object.hasOwn(schema, "default") ? { has: true, value: schema.default } : { has: false };
}

/** Resolve with a list of the problems met (cycles, missing profiles) instead of throwing. */
export function resolveParamsDetailed(opts: ResolveOptions): Resolution {
  const values = new Map<string, Resolved>();
  const problems: string[] = [];
  const done = new Set<string>();

  // Only a value that wins is revealed: a sealed value shadowed by a closer layer is never opened.
  const take = (params: unknown, source: string, owner: ParamOwner) => {
    if (!isRecord(params)) return;
    for (const [k, v] of Object.entries(params)) {
      if (!values.has(k)) values.set(k, { value: opts.reveal ? opts.reveal(v, k, owner) : v, source });
    }
  };

  // Depth-first over profiles; `stack` holds the current path so a cycle is seen (and reported)
  // the first time it closes. A profile reached twice without a cycle (a diamond) adds nothing new.
  const visit = (name: string, stack: string[], from: string) => {
    if (stack.includes(name)) {
      problems.push(`profile cycle: ${[...stack.slice(stack.indexOf(name)), name].join(" -> ")}`);
      return;
    }
    if (done.has(name)) return;
    const p = opts.getProfile(name);
    if (!p) {
      problems.push(`${from}: profile ${quote(name)} not found`);
      return;
    }
    done.add(name);
    take(p.Params, name === "global" ? "global" : `profile:${name}`, { type: "profiles", key: name });
    const subs = Array.isArray(p.Profiles) ? p.Profiles : [];
    for (const s of subs) if (typeof s === "string") visit(s, [...stack, name], `profile ${quote(name)}`);
  };

  const visitList = (owner: ModelObject, from: string) => {
    const list = Array.isArray(owner.Profiles) ? owner.Profiles : [];
    for (const s of list) if (typeof s === "string") visit(s, [], from);
  };

  if (opts.machine) {
    take(opts.machine.Params, "machine", { type: "machines", key: String(opts.machine.Uuid ?? "") });
    visitList(opts.machine, `machine ${quote(opts.machine.Name ?? opts.machine.Uuid)}`);
    const stageName = typeof opts.machine.Stage === "string" ? opts.machine.Stage : "";
    const stage = stageName && opts.getStage ? opts.getStage(stageName) : undefined;
    if (stage) {
      take(stage.Params, `stage:${stageName}`, { type: "stages", key: stageName });
      visitList(stage, `stage ${quote(stageName)}`);
    }
  }
  if (opts.profile && typeof opts.profile.Name === "string") {
    // The profile itself may be unsaved (a preview): take it as given, not from the store.
    const name = opts.profile.Name;
    done.add(name);
    take(opts.profile.Params, name === "global" ? "global" : `profile:${name}`, { type: "profiles", key: name });
    const subs = Array.isArray(opts.profile.Profiles) ? opts.profile.Profiles : [];
    for (const s of subs) if (typeof s === "string") visit(s, [name], `profile ${quote(name)}`);
  }
  if (opts.global && !done.has("global")) {
    done.add("global");
    take(opts.global.Params, "global", { type: "profiles", key: "global" });
    const subs = Array.isArray(opts.global.Profiles) ? opts.global.Profiles : [];
    for (const s of subs) if (typeof s === "string") visit(s, ["global"], 'profile "global"');
  }

  // Defaults last: every Param given whose name no layer set.
  const fill = (name: string, param: ModelObject | undefined) => {
    if (values.has(name)) return;
    const d = defaultOf(param);
    if (d.has) values.set(name, { value: structuredClone(d.value), source: "default" });
  };
  for (const p of opts.params ?? []) if (typeof p.Name === "string") fill(p.Name, p);
  return { values, problems };
}

/**
 * Resolve the parameters of a machine (or of a profile alone). A profile cycle is an error:
 * it throws ValidationError naming the cycle. Missing profiles are skipped here (the object's
 * Available/Errors already report dangling references); resolveParamsDetailed lists them.
 */
export function resolveParams(opts: ResolveOptions): Map<string, Resolved> {
  const r = resolveParamsDetailed(opts);
  const cycles = r.problems.filter((p) => p.startsWith("profile cycle"));
  if (cycles.length > 0) {
    const who = opts.machine ? { model: "machines", key: String(opts.machine.Uuid ?? "") } : { model: "profiles", key: String(opts.profile?.Name ?? "") };
    throw invalid(who.model, who.key, cycles);
  }
  return r.values;
}

/**
 * The value of `name`, or a ValidationError naming the parameter and the object that lacks it:
 * a template never renders with a silently empty value.
 */
export function lookupParam(resolved: Map<string, Resolved>, name: string, objDesc: string): unknown {
  const r = resolved.get(name);
  if (r === undefined) {
    throw invalid("params", name, `parameter ${quote(name)} is not set for ${objDesc} (looked in the object, its profiles, its stage, the global profile and the Param's default)`);
  }
  return r.value;
}

/**
 * Check parameter values against their Param schemas. Params without a Param object are free-form.
 * Sealed values (secure-params.ts) are skipped: each was checked in clear when it was sealed, and
 * a write keeps one only when it is the stored value, so a message never quotes a secret that
 * the writer did not send itself.
 */
export function validateParamValues(params: Record<string, unknown>, getParam: (name: string) => ModelObject | undefined): string[] {
  const out: string[] = [];
  for (const [name, value] of Object.entries(params)) {
    if (isEnvelope(value)) continue;
    const p = getParam(name);
    if (p && isRecord(p.Schema)) out.push(...checkJsonSchema(p.Schema, value, `Params.${name}`));
  }
  return out;
}

/** The cycle `name` would close through its sub-profiles (for rejecting a profile update), if any. */
export function profileCycle(profile: ModelObject, getProfile: (name: string) => ModelObject | undefined): string | undefined {
  const r = resolveParamsDetailed({ profile, getProfile, getParam: () => undefined, global: undefined });
  return r.problems.find((p) => p.startsWith("profile cycle"));
}
