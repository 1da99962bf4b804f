// Secure params: values of a Param whose definition says `Secure: true`, as machines and profiles
// hold them in their Params. They are stored sealed, never in clear:
//
//   "bmc-password": {"$socle-secure": "v1:<base64 nonce>:<base64 ciphertext and tag>"}
//
// - AES-256-GCM (node:crypto): a 12-byte random nonce per sealing, a 16-byte tag. The plaintext is
//   the value's JSON text, so a secure value may be any JSON type. With random nonces one key
//   seals about 2^32 values before a nonce repeats with a chance worth counting (NIST SP 800-38D);
//   a value is sealed once per write of a new value, far fewer.
// - The key (32 random bytes) is a server secret: <data dir>/settings.json beside the token
//   signing key (store/settings.ts: mode 0600, fsync'd), never in the store. A copy of store/ (a
//   backup, the journal on a disk that left the building) holds no value in clear; settings.json
//   and store/ must be backed up together, or the values are lost.
// - The additional authenticated data names where the envelope sits: the owner's type and key
//   and the param's name. An envelope copied onto another machine, profile or param does not open,
//   so whoever may write one machine's Params cannot move another's sealed password onto a
//   machine whose files it can fetch.
// - "v1" names this scheme (cipher, AAD layout), so a later one can sit beside it.
//
// How they are shown: a client without the getSecure claim on the object that holds a value sees
// SECURE_MARKER in its place; one with the claim sees it in clear. A write that sends the marker
// back keeps the stored value (objects.ts). Renders open the envelopes on the server's thread
// (boot/render-context.ts). Nothing here does I/O.

import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { SocleError } from "./errors.ts";
import { jsonEqual } from "./json-schema.ts";
import type { ModelObject } from "./object.ts";

/** The one field of a sealed value. A client's value of exactly that shape is refused (api/objects.ts). */
export const ENVELOPE_FIELD = "$socle-secure";

/**
 * What a client without getSecure sees in place of a secure value. Sent back in a write (a PUT
 * of what was read, a JSON Patch that leaves the value alone), it means "keep the stored value".
 */
export const SECURE_MARKER = "[secure]";

/** What a client with getSecure sees for a value that does not open (settings.json lost or swapped, a tampered store). */
export const SECURE_UNREADABLE = "[secure: cannot be decrypted]";

/** The object types that hold parameter values, and so secure values. */
export const PARAM_OWNER_TYPES: ReadonlySet<string> = new Set(["machines", "profiles"]);

/** Where a value sits: a machine (by Uuid) or a profile (by Name; the global profile too). */
export interface ParamOwner {
  /** Stages hold no Secure param values (the API refuses them), so theirs are never sealed. Webhooks: their Secret. */
  type: "machines" | "profiles" | "stages" | "webhooks";
  key: string;
}

export interface SecureEnvelope {
  [ENVELOPE_FIELD]: string;
}

const VERSION = "v1";
const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** A sealed value: an object whose only field is ENVELOPE_FIELD, a string. */
export function isEnvelope(v: unknown): v is SecureEnvelope {
  if (!isRecord(v)) return false;
  const keys = Object.keys(v);
  return keys.length === 1 && keys[0] === ENVELOPE_FIELD && typeof v[ENVELOPE_FIELD] === "string";
}

/** SECURE_MARKER or SECURE_UNREADABLE: a stand-in for a stored value, never a value itself. */
export function isMarker(v: unknown): boolean {
  return v === SECURE_MARKER || v === SECURE_UNREADABLE;
}

/** Whether a Param definition declares its values secure. */
export function isSecureParamDef(param: ModelObject | undefined): boolean {
  return param?.Secure === true;
}

/** Binds an envelope to its place; NUL separates the parts (names and keys may not hold one). */
function aad(owner: ParamOwner, name: string): Buffer {
  return Buffer.from(`socle-secure-param\u0000${VERSION}\u0000${owner.type}\u0000${owner.key}\u0000${name}`, "utf8");
}

function describe(owner: ParamOwner, name: string): string {
  return `secure parameter ${JSON.stringify(name)} of ${owner.type === "machines" ? "machine" : "profile"} ${JSON.stringify(owner.key)}`;
}

/** Seals and opens secure values with the server's key. */
export class ParamCipher {
  private readonly key: Buffer;

  /** `key`: base64 of 32 bytes (generateKey). Throws an Error saying what is wrong with it. */
  constructor(key: string) {
    const raw = /^[A-Za-z0-9+/]+={0,2}$/.test(key) ? Buffer.from(key, "base64") : Buffer.alloc(0);
    if (raw.length !== KEY_BYTES) throw new Error(`the secure params key must be ${KEY_BYTES} bytes in base64, got ${raw.length === 0 ? "something else" : `${raw.length} bytes`}`);
    this.key = raw;
  }

  /** A new random key, as the constructor takes it. */
  static generateKey(): string {
    return randomBytes(KEY_BYTES).toString("base64");
  }

  seal(owner: ParamOwner, name: string, value: unknown): SecureEnvelope {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv("aes-256-gcm", this.key, nonce);
    cipher.setAAD(aad(owner, name));
    const body = Buffer.concat([cipher.update(JSON.stringify(value) ?? "null", "utf8"), cipher.final(), cipher.getAuthTag()]);
    return { [ENVELOPE_FIELD]: `${VERSION}:${nonce.toString("base64")}:${body.toString("base64")}` };
  }

  /** The value in clear. Throws a ValidationError naming the param and its owner when it does not open. */
  open(owner: ParamOwner, name: string, envelope: SecureEnvelope): unknown {
    const fail = (why: string) =>
      new SocleError("ValidationError", owner.type, owner.key, [
        `${describe(owner, name)} cannot be decrypted: ${why}; set it again, or restore the settings.json that was saved with this data directory`,
      ]);
    const parts = envelope[ENVELOPE_FIELD].split(":");
    if (parts.length !== 3 || parts[0] !== VERSION) throw fail(`not a ${VERSION} sealed value`);
    const nonce = Buffer.from(parts[1]!, "base64");
    const body = Buffer.from(parts[2]!, "base64");
    if (nonce.length !== NONCE_BYTES || body.length < TAG_BYTES) throw fail("the sealed value is truncated");
    let text: string;
    try {
      const decipher = createDecipheriv("aes-256-gcm", this.key, nonce);
      decipher.setAAD(aad(owner, name));
      decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
      text = Buffer.concat([decipher.update(body.subarray(0, body.length - TAG_BYTES)), decipher.final()]).toString("utf8");
    } catch {
      throw fail("it was sealed with another key, or for another object or parameter, or was altered");
    }
    return JSON.parse(text);
  }
}

/**
 * The value a render uses: a sealed one opened, anything else as it is. A sealed value that does
 * not open (or no key to open it with) is an error naming the param and its owner: a file is never
 * rendered with a silently missing secret.
 */
export function openedValue(cipher: ParamCipher | undefined, owner: ParamOwner, name: string, value: unknown): unknown {
  if (!isEnvelope(value)) return value;
  if (!cipher) {
    throw new SocleError("Unavailable", owner.type, owner.key, `${describe(owner, name)} cannot be decrypted: this server has no secure params key`);
  }
  return cipher.open(owner, name, value);
}

/**
 * How a client sees one stored value. `secure`: the Param is Secure now (a value stored before
 * it became Secure may still be in clear). `reveal`: the client holds getSecure on the owner.
 * Every sealed value is secure, whatever its Param says now (turning Secure off opens nothing).
 */
export function shownValue(cipher: ParamCipher | undefined, owner: ParamOwner, name: string, value: unknown, secure: boolean, reveal: boolean): unknown {
  if (!isEnvelope(value)) return secure && !reveal ? SECURE_MARKER : value;
  if (!reveal) return SECURE_MARKER;
  try {
    return openedValue(cipher, owner, name, value);
  } catch {
    return SECURE_UNREADABLE;
  }
}

/**
 * Whether `sent` (a value in a write) is the value `stored` holds, so that the stored envelope is
 * kept rather than sealed anew: what a client with getSecure sends back unchanged.
 */
export function sameAsStored(cipher: ParamCipher | undefined, owner: ParamOwner, name: string, stored: unknown, sent: unknown): boolean {
  if (!isEnvelope(stored)) return jsonEqual(stored, sent);
  if (!cipher) return false;
  try {
    return jsonEqual(cipher.open(owner, name, stored), sent);
  } catch {
    return false;
  }
}
