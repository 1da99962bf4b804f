// Machines: one per physical (or virtual) box, keyed by a UUID the server generates.

import { z } from "zod";
import { defineModel } from "../define.ts";
import type { Reference } from "../model-def.ts";
import type { ModelObject } from "../object.ts";
import { quote } from "../validate.ts";
import { checkUuid } from "../validate.ts";
import { checkedString, randomSecret, uniqueList, zIPv4OrEmpty, zMac, zName, zNameList, zNameOrEmpty, zParams, zText, zUuid } from "./fields.ts";

/** Architectures Socle knows loaders for, in Go's GOARCH spelling (as DRP). */
export const ARCHES = ["amd64", "arm64", "386", "arm", "ppc64le", "s390x", "riscv64"] as const;

/** Kernel/uname spellings people type, mapped to the canonical name. */
const ARCH_ALIASES: Record<string, string> = { x86_64: "amd64", aarch64: "arm64", i386: "386", i686: "386", armhf: "arm", armv7l: "arm" };

export function normalizeArch(v: string): string {
  const lower = v.toLowerCase();
  return ARCH_ALIASES[lower] ?? lower;
}

const zArch = () =>
  z
    .string()
    .check((ctx) => {
      if (!(ARCHES as readonly string[]).includes(normalizeArch(ctx.value))) {
        ctx.issues.push({ code: "custom", message: `unknown architecture ${quote(ctx.value)}; known: ${ARCHES.join(", ")}`, input: ctx.value });
      }
    })
    .overwrite(normalizeArch)
    .default("amd64")
    .describe(`One of ${ARCHES.join(", ")} (x86_64 and aarch64 are accepted as aliases)`);

export const machines = defineModel({
  prefix: "machines",
  key: "Uuid",
  shape: {
    Uuid: zUuid().describe("Key; generated when absent"),
    Name: zName(),
    Description: zText().default(""),
    Address: zIPv4OrEmpty().default("").describe('IPv4 address, or "" when unknown'),
    HardwareAddrs: uniqueList(zMac(), "hardware address").default(() => []),
    Arch: zArch(),
    BootEnv: zNameOrEmpty().default("").describe('Boot environment; "" applies the defaultBootEnv pref'),
    Profiles: zNameList("profile").default(() => []),
    Params: zParams().default(() => ({})),
    Workflow: zNameOrEmpty().default("").describe("Setting it expands its stages into Tasks and starts from the first (src/jobs/expand.ts)"),
    Stage: zNameOrEmpty().default("").describe("The current stage; read-only while a Workflow is set"),
    Tasks: z.array(z.string()).default(() => []).describe('The expanded workflow: "stage:<name>", "bootenv:<name>" and task names'),
    CurrentTask: z.number().int().min(-1).default(-1).describe("Index in Tasks of the last entry handed out; -1 = none yet"),
    CurrentJob: checkedString(checkUuid, true).default("").describe("The machine's latest job"),
    Runnable: z.boolean().default(true).describe("false: no job is handed out (a failed job, or a boot environment change not yet booted)"),
    PendingBootEnv: zNameOrEmpty().default("").describe('Set by the server when BootEnv changes: the machine is not Runnable until its agent reports from this boot environment ("" = none)'),
    WorkflowComplete: z.boolean().default(false),
    Context: zText().default("").describe('Where its jobs run: "" = the agent on the machine'),
    Secret: z.string().min(16).describe("Random secret of the machine (never returned by the API)"),
  },
  indexes: {
    Name: { unique: true, kind: "string" },
    Address: { unique: true, kind: "ip" },
    HardwareAddrs: { unique: true, kind: "list", element: "mac" },
    Arch: { unique: false, kind: "string" },
    BootEnv: { unique: false, kind: "string" },
    Profiles: { unique: false, kind: "list" },
    Workflow: { unique: false, kind: "string" },
    Stage: { unique: false, kind: "string" },
    Runnable: { unique: false, kind: "boolean" },
    WorkflowComplete: { unique: false, kind: "boolean" },
  },
  secretFields: ["Secret"],
  generated: { Uuid: () => crypto.randomUUID(), Secret: randomSecret },
  references: (obj: ModelObject): Reference[] => {
    const refs: Reference[] = [];
    if (typeof obj.BootEnv === "string" && obj.BootEnv !== "") refs.push({ type: "bootenvs", key: obj.BootEnv, field: "BootEnv" });
    if (Array.isArray(obj.Profiles)) {
      obj.Profiles.forEach((p, i) => typeof p === "string" && refs.push({ type: "profiles", key: p, field: `Profiles[${i}]` }));
    }
    if (typeof obj.Workflow === "string" && obj.Workflow !== "") refs.push({ type: "workflows", key: obj.Workflow, field: "Workflow" });
    if (typeof obj.Stage === "string" && obj.Stage !== "") refs.push({ type: "stages", key: obj.Stage, field: "Stage" });
    return refs;
  },
});
