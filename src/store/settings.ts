// <data dir>/settings.json: server secrets (the token signing key, the registration token secret,
// the key that seals Secure param values in the store). Prefs live in the store (they
// are objects with change events); these secrets never leave the server. Small and rarely written, so lowdb fits: JSONFile + Low, whole-file rewrite through a
// temp file and rename. lowdb does not fsync, so after each write the file and the directory are
// fsync'd here: once a setter resolves, the change survives kill -9 and power loss. (A power
// loss inside lowdb's write itself can still leave the old file: rename is the atomic step.)
//
// The file holds secrets. lowdb (steno) writes "<dir>/.settings.json.tmp" and renames it; that temp
// file is created here beforehand with mode 0600, and writeFile keeps the mode of an existing
// file, so the secrets are never in a file others can read. Should steno's temp name change,
// the chmod after each write still applies (with a short window), and the data directory is
// created 0700.

import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { Low } from "lowdb";
import { JSONFile } from "lowdb/node";
import { SocleError, badRequest } from "../model/errors.ts";
import { syncDir } from "../files/atomic-write.ts";
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

export async function openSettings(dir: string): Promise<Settings> {
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, SETTINGS_FILE);
  const tmp = path.join(dir, `.${SETTINGS_FILE}.tmp`);
  const db = new Low<SettingsData>(new JSONFile<SettingsData>(file), { secrets: {} });
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
        await (await fsp.open(tmp, "w", 0o600)).close();
        await db.write();
        await fsp.chmod(file, 0o600);
        const fh = await fsp.open(file, "r");
        try {
          await fh.datasync();
        } finally {
          await fh.close();
        }
        await syncDir(dir);
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
