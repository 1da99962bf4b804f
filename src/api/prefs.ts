// Prefs: a string map of server-wide settings (defaultBootEnv, unknownBootEnv, token timeouts).
// Kept in the store as one object, so changes are durable, sequenced and on the event stream.

import type { Store } from "../store/store.ts";
import { invalid } from "../model/errors.ts";
import { defaultPrefs, validatePrefs } from "../model/prefs.ts";

export const PREFS_TYPE = "prefs";
const PREFS_KEY = "prefs";
/** Prefs that name a boot environment, which must exist. "ignore" is a pseudo-env of unknownBootEnv. */
const BOOTENV_PREFS = ["defaultBootEnv", "unknownBootEnv"];

export class PrefsService {
  constructor(private readonly store: Store) {}

  get(): Record<string, string> {
    const stored = this.store.get(PREFS_TYPE, PREFS_KEY) as Record<string, string> | undefined;
    return { ...defaultPrefs(), ...(stored ?? {}) };
  }

  value(name: string): string {
    return this.get()[name] ?? "";
  }

  /**
   * A token lifetime pref (knownTokenTimeout, userTokenTimeout, unknownTokenTimeout) in seconds,
   * never more than maxTokenTtl; the pref's default when the stored value is unusable.
   */
  tokenTtl(name: string): number {
    return Math.min(this.seconds(name), this.seconds("maxTokenTtl"));
  }

  /** A pref of whole seconds; its default when the stored value is unusable. */
  seconds(name: string): number {
    return Number(this.value(name)) || Number(defaultPrefs()[name]);
  }

  /** Validate the whole input first; either every pref changes or none does. */
  async set(input: unknown): Promise<Record<string, string>> {
    const changes = validatePrefs(input);
    const problems: string[] = [];
    for (const name of BOOTENV_PREFS) {
      const v = changes[name];
      if (v === undefined || v === "") continue;
      if (!this.store.get("bootenvs", v)) problems.push(`${name}: bootenv "${v}" does not exist`);
    }
    if (problems.length > 0) throw invalid("prefs", "", problems);
    const stored = (this.store.get(PREFS_TYPE, PREFS_KEY) as Record<string, string> | undefined) ?? {};
    await this.store.put(PREFS_TYPE, PREFS_KEY, { ...stored, ...changes });
    return this.get();
  }
}
