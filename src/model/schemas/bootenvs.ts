// Boot environments: what a machine boots (kernel, initrds, boot parameters) and the files
// rendered for it (Templates: each either references a Template object by ID or is inline).

import { z } from "zod";
import { defineModel } from "../define.ts";
import type { ModelObject } from "../object.ts";
import { quote } from "../validate.ts";
import { ARCHES } from "./machines.ts";
import { checkTemplateList, templateRefs, zName, zNameList, zText } from "./fields.ts";

/** A path below the boot environment's tree: no ".." segment may climb out of it. */
const zRelPath = (what: string) =>
  z.string().check((ctx) => {
    if (ctx.value.split("/").includes("..")) {
      ctx.issues.push({ code: "custom", message: `${what} ${quote(ctx.value)} must not contain ".." segments`, input: ctx.value });
    }
  });

const zOS = () =>
  z.strictObject({
    Name: z.string().default(""),
    Family: z.string().default(""),
    Version: z.string().default(""),
    IsoFile: zRelPath("ISO file").default(""),
    IsoSha256: z
      .string()
      .check((ctx) => {
        if (ctx.value !== "" && !/^[0-9a-fA-F]{64}$/.test(ctx.value)) {
          ctx.issues.push({ code: "custom", message: `invalid SHA-256 ${quote(ctx.value)}: expected 64 hex digits`, input: ctx.value });
        }
      })
      .overwrite((v) => (/^[0-9a-fA-F]{64}$/.test(v) ? v.toLowerCase() : v))
      .default(""),
    IsoUrl: z
      .string()
      .check((ctx) => {
        if (ctx.value !== "" && !/^(https?|ftp):\/\/[^\s/]+/.test(ctx.value)) {
          ctx.issues.push({ code: "custom", message: `invalid ISO URL ${quote(ctx.value)}: expected http://, https:// or ftp://`, input: ctx.value });
        }
      })
      .default(""),
  });

export const zBootTemplate = () =>
  z.strictObject({
    Name: zName(),
    Path: z.string().min(1).describe("Where the rendered file is served; itself a template"),
    ID: zName().optional().describe("A Template object to render (exactly one of ID and Contents)"),
    Contents: z.string().optional().describe("Inline template text (exactly one of ID and Contents)"),
  });

const zLoaders = () =>
  z.record(z.string(), z.string()).check((ctx) => {
    for (const k of Object.keys(ctx.value)) {
      if (!(ARCHES as readonly string[]).includes(k)) {
        ctx.issues.push({ code: "custom", message: `unknown architecture ${quote(k)}; known: ${ARCHES.join(", ")}`, input: k, path: [k] });
      }
    }
  });

function checkBootEnv(obj: ModelObject): string[] {
  const out = checkTemplateList(obj);
  if (Array.isArray(obj.RequiredParams) && Array.isArray(obj.OptionalParams)) {
    obj.OptionalParams.forEach((p, i) => {
      if ((obj.RequiredParams as unknown[]).includes(p)) out.push(`OptionalParams[${i}]: ${quote(p)} is also in RequiredParams`);
    });
  }
  return out;
}

export const bootenvs = defineModel({
  prefix: "bootenvs",
  key: "Name",
  shape: {
    Name: zName(),
    Description: zText().default(""),
    OS: zOS().default(() => ({ Name: "", Family: "", Version: "", IsoFile: "", IsoSha256: "", IsoUrl: "" })),
    Kernel: zRelPath("kernel path").default(""),
    Initrds: z.array(zRelPath("initrd path")).default(() => []),
    BootParams: zText().default("").describe("Kernel command line; an Eta template"),
    Templates: z.array(zBootTemplate()).default(() => []),
    RequiredParams: zNameList("parameter").default(() => []),
    OptionalParams: zNameList("parameter").default(() => []),
    OnlyUnknown: z.boolean().default(false).describe("Only for machines not yet known (discovery)"),
    Loaders: zLoaders().default(() => ({})).describe("Boot loader file per architecture"),
  },
  indexes: {
    OnlyUnknown: { unique: false, kind: "boolean" },
  },
  check: checkBootEnv,
  references: templateRefs,
});
