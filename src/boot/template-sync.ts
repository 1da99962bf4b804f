// Keeps the render pool's template registry in step with the stored objects: every Template by
// its ID, and every inline template (Contents) of a boot environment as "<env>/<template name>".
// A template that does not compile is registered all the same, so that an include of it fails
// saying why, and logged.

import type { Logger } from "../log/logger.ts";
import type { ModelObject } from "../model/object.ts";
import { RenderError, type RenderPool } from "../render/index.ts";
import type { BootData } from "./boot-data.ts";
import { templatesOf } from "./env-templates.ts";

/** Loads every template now and follows changes until the returned function is called. */
export function syncTemplates(engine: RenderPool, data: BootData, log: Logger): () => void {
  /** env -> the registry names of its inline templates. */
  const inline = new Map<string, string[]>();

  const register = (name: string, source: string) => {
    try {
      engine.set(name, source);
    } catch (err) {
      if (!(err instanceof RenderError)) throw err;
      log.warn("template does not compile", { template: name, error: err.message });
    }
  };

  const loadTemplate = (id: string, obj: ModelObject | undefined) => {
    if (!obj) engine.delete(id);
    else register(id, typeof obj.Contents === "string" ? obj.Contents : "");
  };

  const loadInline = (envName: string, env: ModelObject | undefined) => {
    for (const name of inline.get(envName) ?? []) engine.delete(name);
    inline.delete(envName);
    if (!env) return;
    const names: string[] = [];
    for (const t of templatesOf(env)) {
      if (t.Contents === undefined) continue;
      const name = `${envName}/${t.Name}`;
      names.push(name);
      register(name, t.Contents);
    }
    inline.set(envName, names);
  };

  for (const t of data.templates()) loadTemplate(String(t.ID), t);
  for (const e of data.bootEnvs()) loadInline(String(e.Name), e);
  return data.subscribe((c) => {
    if (c.type === "templates") loadTemplate(c.key, c.object);
    else if (c.type === "bootenvs") loadInline(c.key, c.object);
  });
}
