import { describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { SocleError } from "../model/errors.ts";
import { machineClaims, registrationClaims, superuserClaims, type PrincipalKind } from "./claims.ts";
import { MAX_TOKEN_LENGTH, issueToken, peekToken, verifyToken } from "./tokens.ts";

const SERVER_KEY = "server-key-0123456789";
const T0 = Date.UTC(2026, 10, 22, 10, 0, 0);
const UUID = "3f1a2b4c-0000-4000-8000-000000000001";

const secrets = new Map<string, string>([
  ["user/admin", "admin-secret"],
  ["machine/" + UUID, "machine-secret"],
  ["registration/registration", "registration-secret"],
]);
const secretFor = (kind: PrincipalKind, sub: string) => secrets.get(`${kind}/${sub}`);

function adminToken(ttlSeconds = 3600, now = T0) {
  return issueToken({
    serverKey: SERVER_KEY,
    subjectSecret: "admin-secret",
    sub: "admin",
    kind: "user",
    claims: superuserClaims(),
    ttlSeconds,
    now,
  });
}

function unauthorizedMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(SocleError);
    expect((e as SocleError).type).toBe("Unauthorized");
    return (e as SocleError).message;
  }
  throw new Error("expected an Unauthorized error");
}

describe("issueToken / verifyToken", () => {
  test("round trip for a user", () => {
    const { token, expiresAt } = adminToken();
    expect(expiresAt).toBe(T0 + 3600_000);
    expect(token.split(".")).toHaveLength(3);
    const p = verifyToken(token, SERVER_KEY, secretFor, T0 + 1000);
    expect(p).toEqual({ kind: "user", name: "admin", claims: superuserClaims(), token: { id: expect.any(String), issuedAt: T0, expiresAt: T0 + 3600_000 } });
  });

  test("round trip for a machine and for registration", () => {
    const m = issueToken({
      serverKey: SERVER_KEY,
      subjectSecret: "machine-secret",
      sub: UUID,
      kind: "machine",
      machine: UUID,
      claims: machineClaims(UUID),
      ttlSeconds: 60,
      now: T0,
    });
    expect(verifyToken(m.token, SERVER_KEY, secretFor, T0)).toEqual({
      kind: "machine",
      name: UUID,
      machine: UUID,
      claims: machineClaims(UUID),
      token: { id: expect.any(String), issuedAt: T0, expiresAt: T0 + 60_000 },
    });
    const r = issueToken({
      serverKey: SERVER_KEY,
      subjectSecret: "registration-secret",
      sub: "registration",
      kind: "registration",
      claims: registrationClaims(),
      ttlSeconds: 60,
      now: T0,
    });
    expect(verifyToken(r.token, SERVER_KEY, secretFor, T0).claims).toEqual(registrationClaims());
  });

  test("the token is standard JWT layout (HS256 over header.payload with the derived key)", () => {
    const { token } = adminToken();
    const [h, p, s] = token.split(".") as [string, string, string];
    expect(JSON.parse(Buffer.from(h, "base64url").toString())).toEqual({ alg: "HS256", typ: "JWT" });
    const key = createHmac("sha256", SERVER_KEY).update("admin-secret").digest();
    expect(createHmac("sha256", key).update(`${h}.${p}`).digest("base64url")).toBe(s);
    const payload = peekToken(token);
    expect(payload.exp - payload.iat).toBe(3600);
    expect(payload.jti.length).toBeGreaterThan(10);
  });

  test("expired token", () => {
    const { token } = adminToken(60);
    expect(verifyToken(token, SERVER_KEY, secretFor, T0 + 59_999).name).toBe("admin");
    const msg = unauthorizedMessage(() => verifyToken(token, SERVER_KEY, secretFor, T0 + 60_000));
    expect(msg).toBe("token expired at 2026-11-22T10:01:00.000Z");
  });

  test("a token issued far in the future is refused", () => {
    const { token } = adminToken(3600, T0 + 3600_000);
    expect(unauthorizedMessage(() => verifyToken(token, SERVER_KEY, secretFor, T0))).toContain("issued in the future");
  });

  test("rotating the subject's secret revokes its tokens", () => {
    const { token } = adminToken();
    const rotated = (kind: PrincipalKind, sub: string) => (sub === "admin" ? "new-secret" : secretFor(kind, sub));
    expect(unauthorizedMessage(() => verifyToken(token, SERVER_KEY, rotated, T0))).toBe("bad signature");
  });

  test("another server key, or a deleted subject, is refused", () => {
    const { token } = adminToken();
    expect(unauthorizedMessage(() => verifyToken(token, "other-server", secretFor, T0))).toBe("bad signature");
    expect(unauthorizedMessage(() => verifyToken(token, SERVER_KEY, () => undefined, T0))).toBe(
      'unknown token subject "admin" (user)',
    );
  });

  test("tampered payload or signature is a bad signature, and nothing echoes the token", () => {
    const { token } = adminToken();
    const [h, p, s] = token.split(".") as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, "base64url").toString());
    claims.sub = "admin";
    claims.exp += 1_000_000;
    const forged = `${h}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.${s}`;
    expect(unauthorizedMessage(() => verifyToken(forged, SERVER_KEY, secretFor, T0))).toBe("bad signature");
    // Flip the last signature character: either the bytes change, or (base64url's unused low
    // bits) only the spelling does; both must be refused.
    for (const c of ["A", "B", "C", "D", "E"]) {
      const t = `${h}.${p}.${s.slice(0, -1)}${c}`;
      if (t === token) continue;
      expect(unauthorizedMessage(() => verifyToken(t, SERVER_KEY, secretFor, T0))).toBe("bad signature");
    }
    // Deterministically: the same 32 signature bytes spelt differently in the unused low bits.
    const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const twin = ALPHABET[ALPHABET.indexOf(s.at(-1)!) ^ 1]!;
    const respelt = `${s.slice(0, -1)}${twin}`;
    expect(Buffer.from(respelt, "base64url").equals(Buffer.from(s, "base64url"))).toBe(true);
    expect(unauthorizedMessage(() => verifyToken(`${h}.${p}.${respelt}`, SERVER_KEY, secretFor, T0))).toBe("bad signature");
    const truncated = `${h}.${p}.${s.slice(0, 10)}`;
    const msg = unauthorizedMessage(() => verifyToken(truncated, SERVER_KEY, secretFor, T0));
    expect(msg).toBe("bad signature");
    expect(msg).not.toContain(s.slice(0, 10));
  });

  test("malformed tokens", () => {
    const { token } = adminToken();
    const [h, p, s] = token.split(".") as [string, string, string];
    const none = Buffer.from(JSON.stringify({ alg: "none" })).toString("base64url");
    const cases: [string, string][] = [
      ["", "malformed token: empty"],
      ["abc", "malformed token: 1 dot-separated parts, want 3"],
      [`${h}.${p}.${s}.x`, "malformed token: 4 dot-separated parts, want 3"],
      [`${h}.${p}.s+g=`, "malformed token: not base64url"],
      [`${none}.${p}.${s}`, 'malformed token: unsupported algorithm "none"'],
      [`${h}.${Buffer.from("[1]").toString("base64url")}.${s}`, "malformed token: payload is not a JSON object"],
      [`${h}.${Buffer.from("{nope").toString("base64url")}.${s}`, "malformed token: payload is not a JSON object"],
      ["a".repeat(MAX_TOKEN_LENGTH + 1), `malformed token: ${MAX_TOKEN_LENGTH + 1} characters, more than ${MAX_TOKEN_LENGTH}`],
    ];
    for (const [t, want] of cases) {
      const msg = unauthorizedMessage(() => verifyToken(t, SERVER_KEY, secretFor, T0));
      expect(msg).toBe(want);
    }
    const bad = (o: object) => `${h}.${Buffer.from(JSON.stringify(o)).toString("base64url")}.${s}`;
    const base = { sub: "admin", kind: "user", claims: [], iat: 1, exp: 2, jti: "j" };
    expect(unauthorizedMessage(() => peekToken(bad({ ...base, kind: "root" })))).toBe("malformed token: bad kind");
    expect(unauthorizedMessage(() => peekToken(bad({ ...base, claims: [{ Scope: "*" }] })))).toBe("malformed token: bad claims");
    expect(unauthorizedMessage(() => peekToken(bad({ ...base, exp: "soon" })))).toBe("malformed token: bad iat/exp");
    expect(unauthorizedMessage(() => peekToken(bad({ ...base, kind: "machine" })))).toBe(
      "malformed token: machine token names no machine",
    );
    expect(unauthorizedMessage(() => peekToken(bad({ ...base, kind: "registration" })))).toBe(
      "malformed token: registration token with another subject",
    );
  });

  test("peekToken reads an expired or unverifiable token's payload", () => {
    const { token } = adminToken(1);
    expect(peekToken(token).sub).toBe("admin");
  });

  test("a user token narrowed to roles carries them; other tokens cannot be narrowed", () => {
    const { token } = issueToken({
      serverKey: SERVER_KEY,
      subjectSecret: "admin-secret",
      sub: "admin",
      kind: "user",
      claims: [],
      roles: ["reader"],
      ttlSeconds: 60,
      now: T0,
    });
    expect(peekToken(token).roles).toEqual(["reader"]);
    expect(verifyToken(token, SERVER_KEY, secretFor, T0)).toEqual({ kind: "user", name: "admin", claims: [], roles: ["reader"], token: expect.objectContaining({ id: expect.any(String) }) });
    expect(peekToken(adminToken().token).roles).toBeUndefined();
    const machine = { serverKey: SERVER_KEY, subjectSecret: "m", sub: UUID, kind: "machine" as PrincipalKind, machine: UUID, claims: [], ttlSeconds: 60 };
    expect(() => issueToken({ ...machine, roles: ["reader"] })).toThrow("only user tokens are narrowed to roles, not machine tokens");
    expect(() => issueToken({ ...machine, kind: "user", roles: [""] })).toThrow("roles must be a list of role names");
  });

  test("a payload whose roles are not names, or that narrows a machine token, is malformed", () => {
    const { token } = adminToken();
    const [h, , s] = token.split(".") as [string, string, string];
    const bad = (o: object) => `${h}.${Buffer.from(JSON.stringify(o)).toString("base64url")}.${s}`;
    const base = { sub: "admin", kind: "user", claims: [], iat: 1, exp: 2, jti: "j" };
    expect(unauthorizedMessage(() => peekToken(bad({ ...base, roles: "reader" })))).toBe("malformed token: bad roles");
    expect(unauthorizedMessage(() => peekToken(bad({ ...base, roles: [1] })))).toBe("malformed token: bad roles");
    expect(unauthorizedMessage(() => peekToken(bad({ ...base, kind: "machine", machine: UUID, roles: ["x"] })))).toBe("malformed token: bad roles");
  });

  test("an unknown subject costs an HMAC like a known one", () => {
    // Both refusals run the same signature check; time many of each and compare coarsely (the
    // difference before was a whole key derivation and HMAC, about half the work).
    const { token } = adminToken();
    const [h, p, s] = token.split(".") as [string, string, string];
    const wrongSig = `${h}.${p}.${s.slice(0, -2)}${s.endsWith("AA") ? "BB" : "AA"}`;
    const none = () => undefined;
    const time = (fn: () => void) => {
      const t0 = performance.now();
      for (let i = 0; i < 3000; i++) {
        try {
          fn();
        } catch {}
      }
      return performance.now() - t0;
    };
    const unknown: number[] = [];
    const badSig: number[] = [];
    for (let round = 0; round < 5; round++) {
      unknown.push(time(() => verifyToken(token, SERVER_KEY, none, T0)));
      badSig.push(time(() => verifyToken(wrongSig, SERVER_KEY, secretFor, T0)));
    }
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[2]!;
    expect(median(unknown) / median(badSig)).toBeGreaterThan(0.8);
  });

  test("issue refuses unusable options", () => {
    const opts = {
      serverKey: SERVER_KEY,
      subjectSecret: "s",
      sub: "admin",
      kind: "user" as PrincipalKind,
      claims: [],
      ttlSeconds: 60,
    };
    expect(() => issueToken({ ...opts, ttlSeconds: 0 })).toThrow('issue token: ttl "0"');
    expect(() => issueToken({ ...opts, ttlSeconds: 1.5 })).toThrow('ttl "1.5"');
    expect(() => issueToken({ ...opts, subjectSecret: "" })).toThrow('subject "admin" has no secret');
    expect(() => issueToken({ ...opts, serverKey: "" })).toThrow("server key is empty");
    expect(() => issueToken({ ...opts, kind: "machine" })).toThrow("names no machine");
    expect(() => issueToken({ ...opts, kind: "registration" })).toThrow('must be "registration"');
  });
});
