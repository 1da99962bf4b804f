import { describe, expect, test } from "bun:test";
import { SocleError } from "./errors.ts";
import {
  ENVELOPE_FIELD,
  ParamCipher,
  SECURE_MARKER,
  SECURE_UNREADABLE,
  isEnvelope,
  isMarker,
  openedValue,
  sameAsStored,
  shownValue,
  type ParamOwner,
  type SecureEnvelope,
} from "./secure-params.ts";

const KEY = Buffer.alloc(32, 7).toString("base64");
const cipher = new ParamCipher(KEY);
const M1: ParamOwner = { type: "machines", key: "11111111-1111-4111-8111-111111111111" };
const M2: ParamOwner = { type: "machines", key: "22222222-2222-4222-8222-222222222222" };

const errorOf = (fn: () => unknown): SocleError => {
  try {
    fn();
  } catch (err) {
    if (err instanceof SocleError) return err;
    throw err;
  }
  throw new Error("expected a SocleError");
};

describe("ParamCipher", () => {
  test("seals any JSON value into a v1 envelope and opens it again", () => {
    for (const v of ["hunter2", "", 0, 4096, true, null, ["a", 1], { user: "root", pass: "p@ss", nested: { k: [1, 2] } }]) {
      const env = cipher.seal(M1, "bmc-password", v);
      expect(Object.keys(env)).toEqual([ENVELOPE_FIELD]);
      expect(env[ENVELOPE_FIELD]).toMatch(/^v1:[A-Za-z0-9+/]+=*:[A-Za-z0-9+/]+=*$/);
      expect(cipher.open(M1, "bmc-password", env)).toEqual(v);
    }
  });

  test("the envelope holds no plaintext, and each sealing uses a new nonce", () => {
    const a = cipher.seal(M1, "p", "plaintext-canary");
    const b = cipher.seal(M1, "p", "plaintext-canary");
    expect(JSON.stringify(a)).not.toContain("plaintext-canary");
    expect(a[ENVELOPE_FIELD]).not.toBe(b[ENVELOPE_FIELD]);
    expect(a[ENVELOPE_FIELD].split(":")[1]).not.toBe(b[ENVELOPE_FIELD].split(":")[1]);
  });

  test("an envelope opens only where it was sealed: same type, key and param name", () => {
    const env = cipher.seal(M1, "bmc-password", "s3cret");
    for (const [owner, name] of [
      [M2, "bmc-password"],
      [M1, "other-param"],
      [{ type: "profiles", key: M1.key } as ParamOwner, "bmc-password"],
    ] as const) {
      const err = errorOf(() => cipher.open(owner, name, env));
      expect(err.type).toBe("ValidationError");
      expect(err.messages[0]).toContain(`secure parameter ${JSON.stringify(name)}`);
      expect(err.messages[0]).toContain("sealed with another key, or for another object or parameter");
      expect(err.messages[0]).not.toContain("s3cret");
    }
  });

  test("another key, an altered ciphertext, or a malformed envelope does not open", () => {
    const env = cipher.seal(M1, "p", "s3cret");
    const other = new ParamCipher(ParamCipher.generateKey());
    expect(() => other.open(M1, "p", env)).toThrow("sealed with another key");
    const [v, nonce, body] = env[ENVELOPE_FIELD].split(":") as [string, string, string];
    const bytes = Buffer.from(body, "base64");
    bytes[0] = bytes[0]! ^ 1;
    expect(() => cipher.open(M1, "p", { [ENVELOPE_FIELD]: `${v}:${nonce}:${bytes.toString("base64")}` })).toThrow("was altered");
    expect(() => cipher.open(M1, "p", { [ENVELOPE_FIELD]: `v2:${nonce}:${body}` })).toThrow("not a v1 sealed value");
    expect(() => cipher.open(M1, "p", { [ENVELOPE_FIELD]: "v1:AAAA:AAAA" })).toThrow("truncated");
  });

  test("the key must be 32 bytes of base64", () => {
    expect(() => new ParamCipher(Buffer.alloc(16).toString("base64"))).toThrow("must be 32 bytes in base64, got 16 bytes");
    expect(() => new ParamCipher("not base64!")).toThrow("must be 32 bytes in base64, got something else");
    expect(Buffer.from(ParamCipher.generateKey(), "base64").length).toBe(32);
    expect(ParamCipher.generateKey()).not.toBe(ParamCipher.generateKey());
  });
});

describe("envelopes and markers", () => {
  test("an envelope is an object whose only field is the envelope field, a string", () => {
    expect(isEnvelope(cipher.seal(M1, "p", 1))).toBe(true);
    expect(isEnvelope({ [ENVELOPE_FIELD]: 1 })).toBe(false);
    expect(isEnvelope({ [ENVELOPE_FIELD]: "v1:a:b", other: 1 })).toBe(false);
    expect(isEnvelope([`{"${ENVELOPE_FIELD}":"x"}`])).toBe(false);
    expect(isEnvelope("[secure]")).toBe(false);
    expect(isEnvelope(null)).toBe(false);
  });

  test("the markers stand for a stored value", () => {
    expect(isMarker(SECURE_MARKER)).toBe(true);
    expect(isMarker(SECURE_UNREADABLE)).toBe(true);
    expect(isMarker("secure")).toBe(false);
  });
});

describe("shownValue, openedValue, sameAsStored", () => {
  const sealed = cipher.seal(M1, "p", "s3cret") as SecureEnvelope;

  test("a reader without getSecure sees the marker for sealed values and for Secure ones still in clear", () => {
    expect(shownValue(cipher, M1, "p", sealed, true, false)).toBe(SECURE_MARKER);
    expect(shownValue(cipher, M1, "p", "in-clear", true, false)).toBe(SECURE_MARKER);
    // A sealed value stays hidden when its Param is no longer Secure (or gone).
    expect(shownValue(cipher, M1, "p", sealed, false, false)).toBe(SECURE_MARKER);
    expect(shownValue(cipher, M1, "q", "plain", false, false)).toBe("plain");
  });

  test("with getSecure the value in clear; a value that does not open reads as unreadable", () => {
    expect(shownValue(cipher, M1, "p", sealed, true, true)).toBe("s3cret");
    expect(shownValue(cipher, M1, "p", "in-clear", true, true)).toBe("in-clear");
    expect(shownValue(cipher, M2, "p", sealed, true, true)).toBe(SECURE_UNREADABLE);
    expect(shownValue(undefined, M1, "p", sealed, true, true)).toBe(SECURE_UNREADABLE);
  });

  test("a render opens sealed values; one that does not open is an error naming it, never a silent gap", () => {
    expect(openedValue(cipher, M1, "p", sealed)).toBe("s3cret");
    expect(openedValue(cipher, M1, "p", "plain")).toBe("plain");
    expect(errorOf(() => openedValue(cipher, M2, "p", sealed)).messages[0]).toContain(`secure parameter "p" of machine "${M2.key}" cannot be decrypted`);
    const none = errorOf(() => openedValue(undefined, M1, "p", sealed));
    expect(none.type).toBe("Unavailable");
    expect(none.messages[0]).toContain("this server has no secure params key");
  });

  test("sameAsStored compares with the value in clear", () => {
    expect(sameAsStored(cipher, M1, "p", sealed, "s3cret")).toBe(true);
    expect(sameAsStored(cipher, M1, "p", sealed, "other")).toBe(false);
    expect(sameAsStored(cipher, M2, "p", sealed, "s3cret")).toBe(false);
    expect(sameAsStored(undefined, M1, "p", sealed, "s3cret")).toBe(false);
    expect(sameAsStored(cipher, M1, "p", { a: [1] }, { a: [1] })).toBe(true);
  });
});
