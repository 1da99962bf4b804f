// What a machine token may write on its own Machine object. Its claim (machineClaims: get,
// update, patch on its own Uuid) says which object; this says which fields. Operators decide what
// a machine is and so what it boots and which parameters it resolves: Name, Address,
// HardwareAddrs, BootEnv, Profiles, Workflow, Secret and the rest. A machine only reports facts
// about itself. Were it otherwise, a machine could add a profile that holds a BMC password and
// read it back through ?aggregate=true, or add a MAC or change its BootEnv and take what another
// machine boots.
//
// The rule compares the object before and after the write, field by field, and names every field
// that changed outside the allowlist. It holds however the write is spelled: a PUT, any JSON Patch
// (a move, copy or replace of the root "", ~1 escapes, test ops), the /params routes or a
// registration.

import type { ModelObject } from "../model/object.ts";
import type { Principal } from "../auth/claims.ts";
import { SocleError } from "../model/errors.ts";
import { jsonEqual } from "../model/json-schema.ts";
import { SERVER_SET_FIELDS } from "../model/schemas/fields.ts";
import type { WriteGuard } from "./objects.ts";

/** Params a machine writes about itself: the inventory (registration, the agent). */
export const MACHINE_WRITABLE_PARAMS: ReadonlySet<string> = new Set(["inventory"]);

// No top-level field is a machine's to write. Its progress through a workflow is its jobs' State
// (PATCH /jobs/<id>, with the machine's token); CurrentTask and CurrentJob move only with the
// scheduler, so a machine cannot skip a task of its own workflow.

const IGNORED: ReadonlySet<string> = new Set<string>(SERVER_SET_FIELDS);

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Every field that differs between `before` and `after` and that a machine may not write. */
export function forbiddenMachineChanges(before: ModelObject, after: ModelObject): string[] {
  const out: string[] = [];
  const fields = new Set([...Object.keys(before), ...Object.keys(after)]);
  for (const f of [...fields].sort()) {
    if (IGNORED.has(f)) continue;
    const a = Object.hasOwn(before, f) ? before[f] : undefined;
    const b = Object.hasOwn(after, f) ? after[f] : undefined;
    if (jsonEqual(a, b)) continue;
    if (f === "Params" && isRecord(a) && isRecord(b)) {
      const names = new Set([...Object.keys(a), ...Object.keys(b)]);
      for (const n of [...names].sort()) {
        if (MACHINE_WRITABLE_PARAMS.has(n)) continue;
        const x = Object.hasOwn(a, n) ? a[n] : undefined;
        const y = Object.hasOwn(b, n) ? b[n] : undefined;
        if (!jsonEqual(x, y)) out.push(`Params.${n}`);
      }
      continue;
    }
    out.push(f);
  }
  return out;
}

/** What a machine token may write, for messages. */
export function machineAllowlist(): string {
  return [...MACHINE_WRITABLE_PARAMS].map((n) => `Params.${n}`).join(", ");
}

/** Refuse (403, naming each field) a machine's write that changes more than its allowlist. */
export function assertMachineWrite(p: Principal, before: ModelObject, after: ModelObject): void {
  if (p.kind !== "machine") return;
  const bad = forbiddenMachineChanges(before, after);
  if (bad.length === 0) return;
  const key = typeof before.Uuid === "string" ? before.Uuid : (p.machine ?? "");
  throw new SocleError("Forbidden", "machines", key, `machine "${p.name}" may not change ${bad.join(", ")}: a machine token writes only ${machineAllowlist()}`);
}

/**
 * The guard for writes by `p` to an object of type `prefix`: the field rule for a machine token
 * writing a Machine, none otherwise.
 */
export function machineWriteGuard(p: Principal, prefix = "machines"): WriteGuard | undefined {
  if (p.kind !== "machine" || prefix !== "machines") return undefined;
  return (next, current) => assertMachineWrite(p, current, next);
}
