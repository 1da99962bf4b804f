// Reading a BootEnv object's template list and loader overrides.

import type { ModelObject } from "../model/object.ts";

export interface EnvTemplate {
  Name: string;
  Path: string;
  ID?: string;
  Contents?: string;
}

export function templatesOf(env: ModelObject): EnvTemplate[] {
  return Array.isArray(env.Templates) ? (env.Templates as EnvTemplate[]) : [];
}

/** The env's iPXE script: the template named "ipxe", else the first whose Path ends in ".ipxe". */
export function ipxeTemplateOf(env: ModelObject): EnvTemplate | undefined {
  const list = templatesOf(env);
  return list.find((t) => t.Name === "ipxe") ?? list.find((t) => t.Path.trim().endsWith(".ipxe"));
}

/** The env's GRUB config (arm64 UEFI, grub-dispatch.ts): the template named "grub". */
export function grubTemplateOf(env: ModelObject): EnvTemplate | undefined {
  return templatesOf(env).find((t) => t.Name === "grub");
}

export function registryName(env: ModelObject, t: EnvTemplate): string {
  return t.ID ?? `${String(env.Name)}/${t.Name}`;
}

export function loadersOf(env: ModelObject | undefined): Record<string, string> {
  const l = env?.Loaders;
  return typeof l === "object" && l !== null ? (l as Record<string, string>) : {};
}
