// Password hashing (argon2id through Bun's native implementation) and random credentials.
// Hashes are PHC strings ("$argon2id$v=19$m=...,t=...,p=...$salt$hash"), so parameters can be
// raised later and old hashes still verify.

import { randomBytes } from "node:crypto";
import { SocleError } from "../model/errors.ts";

/** Longest password accepted: argon2 takes any length, but a megabyte password is an attack. */
export const MAX_PASSWORD_BYTES = 1024;

/** Hash a password with argon2id. Throws ValidationError for an empty or oversized password. */
export async function hashPassword(pw: string): Promise<string> {
  if (typeof pw !== "string" || pw.length === 0) {
    throw new SocleError("ValidationError", "users", "", "hash password: password is empty");
  }
  const bytes = Buffer.byteLength(pw, "utf8");
  if (bytes > MAX_PASSWORD_BYTES) {
    throw new SocleError(
      "ValidationError",
      "users",
      "",
      `hash password: password is ${bytes} bytes, more than the ${MAX_PASSWORD_BYTES} allowed`,
    );
  }
  return Bun.password.hash(pw, { algorithm: "argon2id" });
}

/**
 * True when `pw` matches `hash`. Never throws: a malformed, empty or unsupported hash, an empty
 * or oversized password all give false, so a corrupt user record cannot turn into a 500.
 */
export async function verifyPassword(pw: string, hash: string): Promise<boolean> {
  if (typeof pw !== "string" || typeof hash !== "string") return false;
  if (pw.length === 0 || hash.length === 0) return false;
  if (Buffer.byteLength(pw, "utf8") > MAX_PASSWORD_BYTES) return false;
  // Only PHC-style hashes are ours; Bun would otherwise also accept bcrypt, which we never write.
  if (!hash.startsWith("$argon2")) return false;
  try {
    return await Bun.password.verify(pw, hash);
  } catch {
    return false;
  }
}

/** A random password for generated accounts: 24 random bytes, base64url, 32 characters. */
export function generatePassword(): string {
  return randomBytes(24).toString("base64url");
}

/** A per-subject token secret: 32 random bytes, base64url (43 characters). */
export function generateSecret(): string {
  return randomBytes(32).toString("base64url");
}
