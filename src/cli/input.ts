// Object arguments of create/update/patch: a JSON or YAML string, `@file`, a file path, or `-`
// for standard input. Text that starts with { or [ is JSON (strictly, so its errors stay precise);
// everything else is YAML.

import { existsSync, readFileSync } from "node:fs";
import YAML from "yaml";
import { CliError } from "./cli-error.ts";

export interface InputSources {
  readStdin: () => Promise<string>;
  readFile?: (path: string) => string;
  fileExists?: (path: string) => boolean;
}

/** Text of an argument and a label for messages ("standard input", `file "x.yaml"`, "argument"). */
export async function readArgText(arg: string, src: InputSources): Promise<{ text: string; label: string }> {
  const readFile = src.readFile ?? ((p: string) => readFileSync(p, "utf8"));
  const exists = src.fileExists ?? existsSync;
  if (arg === "-") return { text: await src.readStdin(), label: "standard input" };
  const path = arg.startsWith("@") ? arg.slice(1) : looksInline(arg) ? undefined : exists(arg) ? arg : undefined;
  if (path === undefined) return { text: arg, label: "argument" };
  try {
    return { text: readFile(path), label: `file "${path}"` };
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new CliError(`cannot read file "${path}": ${code === "ENOENT" ? "no such file" : (e as Error).message}`);
  }
}

function looksInline(arg: string): boolean {
  const t = arg.trimStart();
  return t.startsWith("{") || t.startsWith("[") || arg.includes("\n");
}

export function parseDocument(text: string, label: string): unknown {
  const t = text.trim();
  if (t === "") throw new CliError(`cannot parse ${label}: it is empty`);
  if (t.startsWith("{") || t.startsWith("[")) {
    try {
      return JSON.parse(t);
    } catch (e) {
      // No YAML fallback here: flow-style YAML would read '{"Name": }' as {Name: null} and hide
      // the typo. Block-style YAML (Name: x) is the YAML way in.
      throw new CliError(`cannot parse ${label} as JSON: ${(e as Error).message}`);
    }
  }
  try {
    return YAML.parse(t);
  } catch (e) {
    throw new CliError(`cannot parse ${label} as YAML: ${(e as Error).message.split("\n")[0]}`);
  }
}

/** An object for create/update. */
export async function readObjectArg(arg: string, src: InputSources): Promise<Record<string, unknown>> {
  const { text, label } = await readArgText(arg, src);
  const v = parseDocument(text, label);
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    const hint = label === "argument" && typeof v === "string" ? " (and no such file)" : "";
    throw new CliError(`${describe(arg, label)} is not an object${hint}: expected JSON {...} or YAML fields`);
  }
  return v as Record<string, unknown>;
}

/** An RFC 6902 patch: an array of operations. */
export async function readPatchArg(arg: string, src: InputSources): Promise<unknown[]> {
  const { text, label } = await readArgText(arg, src);
  const v = parseDocument(text, label);
  if (!Array.isArray(v)) {
    throw new CliError(`${describe(arg, label)} is not a JSON Patch: expected an array like [{"op":"replace","path":"/Name","value":"n2"}]`);
  }
  return v;
}

function describe(arg: string, label: string): string {
  if (label !== "argument") return label;
  const s = arg.length > 60 ? arg.slice(0, 59) + "…" : arg;
  return `argument ${JSON.stringify(s)}`;
}
