// Type-specific treatment of client input before the model prepares it:
// - users: a plain `Password` becomes an argon2id `PasswordHash`; hashes and secrets are never
//   accepted from clients, and are carried over from the stored user on update.
// - machines: an empty BootEnv takes the `defaultBootEnv` pref.

import type { ApiDeps } from "./deps.ts";
import type { ModelObject } from "../model/object.ts";
import { invalid } from "../model/errors.ts";
import { hashPassword, generateSecret } from "../auth/passwords.ts";

export const MIN_PASSWORD_LENGTH = 8;

export async function prepareInput(deps: ApiDeps, prefix: string, body: unknown, existing: ModelObject | undefined): Promise<unknown> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return body;
  const input = { ...(body as ModelObject) };
  const def = deps.objects.def(prefix);
  for (const f of def.secretFields) {
    if (f in input) throw invalid(def.model, String(input[def.key] ?? ""), `${f}: may not be set by clients`);
  }
  if (prefix === "users") return prepareUser(input, existing);
  if (prefix === "machines") {
    if (input.BootEnv === undefined || input.BootEnv === "") input.BootEnv = deps.prefs.value("defaultBootEnv");
  }
  return input;
}

async function prepareUser(input: ModelObject, existing: ModelObject | undefined): Promise<ModelObject> {
  const name = String(input.Name ?? existing?.Name ?? "");
  const password = input.Password;
  delete input.Password;
  if (password !== undefined) {
    input.PasswordHash = await hashChecked(name, password);
    input.Secret = generateSecret(); // a new password revokes every token issued before it
  } else if (existing) {
    input.PasswordHash = existing.PasswordHash;
    input.Secret = existing.Secret;
  } else {
    input.PasswordHash = "";
    input.Secret = generateSecret();
  }
  return input;
}

export async function hashChecked(name: string, password: unknown): Promise<string> {
  if (typeof password !== "string" || password.length < MIN_PASSWORD_LENGTH) {
    throw invalid("users", name, `Password: must be a string of at least ${MIN_PASSWORD_LENGTH} characters`);
  }
  if (password.length > 1024) throw invalid("users", name, "Password: longer than 1024 characters");
  return hashPassword(password);
}
