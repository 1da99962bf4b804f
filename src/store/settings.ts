// <data dir>/settings.json: server secrets (the token signing key, the registration token secret,
// the key that seals Secure param values in the store). Prefs live in the store (they
// are objects with change events); these secrets never leave the server. Small and rarely
// written, so lowdb fits: Low over an adapter that writes the whole file through Socle's one
// atomic write (files/atomic-write.ts): a temporary file created 0600 (the secrets are never in a
// file others can read, not even briefly), fsync'd, renamed over settings.json, the directory
// fsync'd. Once a setter resolves, the change survives kill -9 and power loss; a crash leaves the
// old file or the new one. The data directory is created 0700.

import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { Low, type Adapter } from "lowdb";
import { SocleError, badRequest } from "../model/errors.ts";
import { writeFileAtomic } from "../files/atomic-write.ts";
import { deepFreeze } from "./freeze.ts";

export interface SettingsData {
  secrets: Record<string, string>;
}

export interface Settings {
  /** A frozen copy of the current settings. */
  get(): SettingsData;
  /** Set one secret; resolves once durable. */
  setSecret(name: string, value: string): Promise<void>;
}

export const SETTINGS_FILE = "settings.json";

function checkEntry(name: unknown, value: unknown): void {
  const kind = "secret";
  const model = "secrets";
  if (typeof name !== "string" || name.length === 0 || name.length > 256) {
    throw badRequest(model, String(name), `cannot set ${kind} "${String(name)}": name must be 1 to 256 characters`);
  }
  if (typeof value !== "string") {
    throw badRequest(model, name, `cannot set ${kind} "${name}": value must be a string, got ${value === null ? "null" : typeof value}`);
  }
}

function isStringMap(v: unknown): v is Record<string, string> {
  return v !== null && typeof v === "object" && !Array.isArray(v) && Object.values(v).every((x) => typeof x === "string");
}

/** lowdb's storage for settings.json: JSON text, read whole (null when absent), written atomically with mode 0600. */
class DurableJsonFile<T> implements Adapter<T> {
  constructor(private readonly file: string) {}

  async read(): Promise<T | null> {
    let text: string;
    try {
      text = await fsp.readFile(this.file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw err;
    }
    return JSON.parse(text) as T;
  }

  write(data: T): Promise<void> {
    return writeFileAtomic(this.file, JSON.stringify(data, null, 2), 0o600);
  }
}

export async function openSettings(dir: string): Promise<Settings> {
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, SETTINGS_FILE);
  const db = new Low<SettingsData>(new DurableJsonFile<SettingsData>(file), { secrets: {} });
  try {
    await db.read();
  } catch (err) {
    throw new SocleError(
      "Unavailable",
      "settings",
      file,
      `cannot read settings "${file}": ${(err as Error).message}; fix or remove the file (server secrets such as the token signing key are regenerated when missing)`,
    );
  }
  const data = db.data as Partial<SettingsData> | null;
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    throw new SocleError("Unavailable", "settings", file, `cannot read settings "${file}": not a JSON object`);
  }
  for (const field of ["secrets"] as const) {
    if (data[field] === undefined) data[field] = {};
    if (!isStringMap(data[field])) {
      throw new SocleError("Unavailable", "settings", file, `cannot read settings "${file}": "${field}" must map names to strings`);
    }
  }

  let frozen: SettingsData = deepFreeze(structuredClone(db.data));
  let chain: Promise<void> = Promise.resolve();

  // One write at a time, so a failure can restore exactly the state before it.
  const write = (change: (d: SettingsData) => void): Promise<void> => {
    const run = async () => {
      const before = structuredClone(db.data);
      change(db.data);
      try {
        await db.write();
      } catch (err) {
        db.data = before;
        throw new SocleError("Unavailable", "settings", file, `cannot write settings "${file}": ${(err as Error).message}`);
      }
      frozen = deepFreeze(structuredClone(db.data));
    };
    const result = chain.then(run);
    chain = result.catch(() => {});
    return result;
  };

  return {
    get: () => frozen,
    setSecret(name, value) {
      try {
        checkEntry(name, value);
      } catch (err) {
        return Promise.reject(err);
      }
      return write((d) => {
        d.secrets[name] = value;
      });
    },
  };
}
