// Compact signed tokens in JWT layout: base64url(header).base64url(payload).base64url(sig),
// HS256. The signing key is HMAC-SHA256(serverKey, subjectSecret): a token is bound both to this
// server and to its subject's current Secret, so rotating a user's or machine's Secret revokes
// every token issued for it, with no token list to keep. Registration tokens use a server-held
// registration secret as their subject secret.
//
// A user token carries no claims of its own (its `claims` is empty): the API resolves them on
// every request from the user's current roles, kept to `roles` when the token was narrowed at
// issue (see claims.ts). Machine and registration tokens carry their fixed claims.
//
// Times: `now` arguments and `expiresAt` are milliseconds (Date.now()); iat/exp inside the
// payload are whole seconds, as in JWT.
//
// Error messages never contain the token, or any part of it. They name the reason for the
// server's log; the API answers every one of them with the same 401, so that a client cannot
// tell a name that exists from one that does not. For the same reason an unknown subject costs
// the same HMAC as a known one.

import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { SocleError } from "../model/errors.ts";
import type { Claim, MachineTokenUse, Principal, PrincipalKind } from "./claims.ts";

export interface TokenPayload {
  sub: string;
  kind: PrincipalKind;
  claims: Claim[];
  machine?: string;
  /** Kind "user" only: the roles the token was narrowed to at issue (absent: all the user's). */
  roles?: string[];
  /** Kind "machine" only: what the token is for (absent: a plain machine token). */
  use?: MachineTokenUse;
  /** Issued at, seconds since the epoch. */
  iat: number;
  /** Expires at, seconds since the epoch. */
  exp: number;
  /** Random token id (for logs and audit; tokens are not tracked server-side). */
  jti: string;
}

export interface IssueOptions {
  serverKey: string;
  subjectSecret: string;
  sub: string;
  kind: PrincipalKind;
  claims: Claim[];
  machine?: string;
  /** Kind "user" only: narrow the token to these of the user's roles. */
  roles?: string[];
  /** Kind "machine" only: an agent's renewable token, or a job's. */
  use?: MachineTokenUse;
  ttlSeconds: number;
  /** Milliseconds; defaults to Date.now(). */
  now?: number;
}

/** Longest accepted token; anything longer is refused before any decoding work. */
export const MAX_TOKEN_LENGTH = 16 * 1024;
/** Longest lifetime a token may be issued with: one year. */
export const MAX_TTL_SECONDS = 366 * 24 * 3600;
/** Tolerated clock difference for a token that claims to be issued in the future. */
const CLOCK_SKEW_SECONDS = 300;

const HEADER = { alg: "HS256", typ: "JWT" } as const;
const HEADER_B64 = Buffer.from(JSON.stringify(HEADER)).toString("base64url");
const KINDS: readonly PrincipalKind[] = ["user", "machine", "registration"];
const USES: readonly MachineTokenUse[] = ["agent", "job"];
const B64URL = /^[A-Za-z0-9_-]+$/;
/** Stands in for the secret of a subject that does not exist, so that refusing it costs the same. */
const ABSENT_SUBJECT_SECRET = randomBytes(32).toString("base64url");

const unauthorized = (key: string, msg: string) => new SocleError("Unauthorized", "tokens", key, msg);

function signingKey(serverKey: string, subjectSecret: string): Buffer {
  return createHmac("sha256", serverKey).update(subjectSecret).digest();
}

function sign(key: Buffer, signingInput: string): Buffer {
  return createHmac("sha256", key).update(signingInput).digest();
}

/** Issue a token. Throws ValidationError for options that would produce an unusable token. */
export function issueToken(opts: IssueOptions): { token: string; expiresAt: number } {
  const bad = (msg: string) => new SocleError("ValidationError", "tokens", opts.sub ?? "", `issue token: ${msg}`);
  if (typeof opts.serverKey !== "string" || opts.serverKey.length === 0) throw bad("server key is empty");
  if (typeof opts.subjectSecret !== "string" || opts.subjectSecret.length === 0) {
    throw bad(`subject "${opts.sub}" has no secret`);
  }
  if (typeof opts.sub !== "string" || opts.sub.length === 0) throw bad("subject is empty");
  if (!KINDS.includes(opts.kind)) throw bad(`unknown kind "${String(opts.kind)}"`);
  if (opts.kind === "machine" && !opts.machine) throw bad(`machine token for "${opts.sub}" names no machine`);
  if (opts.kind === "registration" && opts.sub !== "registration") {
    throw bad(`registration token subject must be "registration", got "${opts.sub}"`);
  }
  if (opts.roles !== undefined) {
    if (opts.kind !== "user") throw bad(`only user tokens are narrowed to roles, not ${opts.kind} tokens`);
    if (!isNameList(opts.roles)) throw bad("roles must be a list of role names");
  }
  if (opts.use !== undefined && (opts.kind !== "machine" || !USES.includes(opts.use))) throw bad(`use "${String(opts.use)}" is for machine tokens: agent or job`);
  if (!Number.isInteger(opts.ttlSeconds) || opts.ttlSeconds <= 0 || opts.ttlSeconds > MAX_TTL_SECONDS) {
    throw bad(`ttl "${opts.ttlSeconds}" is not a whole number of seconds between 1 and ${MAX_TTL_SECONDS}`);
  }
  const iat = Math.floor((opts.now ?? Date.now()) / 1000);
  const exp = iat + opts.ttlSeconds;
  const payload: TokenPayload = {
    sub: opts.sub,
    kind: opts.kind,
    claims: opts.claims.map((c) => ({ Scope: c.Scope, Action: c.Action, Specific: c.Specific })),
    ...(opts.machine !== undefined ? { machine: opts.machine } : {}),
    ...(opts.roles !== undefined ? { roles: [...opts.roles] } : {}),
    ...(opts.use !== undefined ? { use: opts.use } : {}),
    iat,
    exp,
    jti: randomBytes(12).toString("base64url"),
  };
  const input = `${HEADER_B64}.${Buffer.from(JSON.stringify(payload)).toString("base64url")}`;
  const sig = sign(signingKey(opts.serverKey, opts.subjectSecret), input).toString("base64url");
  const token = `${input}.${sig}`;
  if (token.length > MAX_TOKEN_LENGTH) throw bad(`token would be ${token.length} characters (too many claims)`);
  return { token, expiresAt: exp * 1000 };
}

interface Decoded {
  payload: TokenPayload;
  signingInput: string;
  /** The signature as sent, base64url text: compared as text so that no second spelling of the
   * same bytes (base64url's unused low bits) is accepted. */
  sig: string;
}

function decodeJson(part: string): unknown {
  try {
    return JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
  } catch {
    return undefined;
  }
}

function isClaim(v: unknown): v is Claim {
  if (typeof v !== "object" || v === null) return false;
  const c = v as Record<string, unknown>;
  return typeof c.Scope === "string" && typeof c.Action === "string" && typeof c.Specific === "string";
}

function isNameList(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((r) => typeof r === "string" && r.length > 0);
}

function decode(token: string): Decoded {
  const malformed = (why: string) => unauthorized("", `malformed token: ${why}`);
  if (typeof token !== "string" || token.length === 0) throw malformed("empty");
  if (token.length > MAX_TOKEN_LENGTH) throw malformed(`${token.length} characters, more than ${MAX_TOKEN_LENGTH}`);
  const parts = token.split(".");
  if (parts.length !== 3) throw malformed(`${parts.length} dot-separated parts, want 3`);
  const [h, p, s] = parts as [string, string, string];
  if (!B64URL.test(h) || !B64URL.test(p) || !B64URL.test(s)) throw malformed("not base64url");
  const header = decodeJson(h) as Record<string, unknown> | undefined;
  if (typeof header !== "object" || header === null) throw malformed("header is not JSON");
  if (header.alg !== "HS256") throw malformed(`unsupported algorithm ${JSON.stringify(header.alg) ?? "undefined"}`);
  const raw = decodeJson(p);
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw malformed("payload is not a JSON object");
  const o = raw as Record<string, unknown>;
  if (typeof o.sub !== "string" || o.sub === "") throw malformed("no subject");
  if (typeof o.kind !== "string" || !KINDS.includes(o.kind as PrincipalKind)) throw malformed("bad kind");
  if (!Array.isArray(o.claims) || !o.claims.every(isClaim)) throw malformed("bad claims");
  if (o.machine !== undefined && typeof o.machine !== "string") throw malformed("bad machine");
  if (o.kind === "machine" && typeof o.machine !== "string") throw malformed("machine token names no machine");
  if (o.kind === "registration" && o.sub !== "registration") throw malformed("registration token with another subject");
  if (o.roles !== undefined && (o.kind !== "user" || !isNameList(o.roles))) throw malformed("bad roles");
  if (o.use !== undefined && (o.kind !== "machine" || !USES.includes(o.use as MachineTokenUse))) throw malformed("bad use");
  if (!Number.isInteger(o.iat) || !Number.isInteger(o.exp)) throw malformed("bad iat/exp");
  if (typeof o.jti !== "string") throw malformed("no jti");
  const payload: TokenPayload = {
    sub: o.sub,
    kind: o.kind as PrincipalKind,
    claims: (o.claims as Claim[]).map((c) => ({ Scope: c.Scope, Action: c.Action, Specific: c.Specific })),
    ...(typeof o.machine === "string" ? { machine: o.machine } : {}),
    ...(o.roles !== undefined ? { roles: [...(o.roles as string[])] } : {}),
    ...(o.use !== undefined ? { use: o.use as MachineTokenUse } : {}),
    iat: o.iat as number,
    exp: o.exp as number,
    jti: o.jti,
  };
  return { payload, signingInput: `${h}.${p}`, sig: s };
}

/**
 * The payload of a token without checking its signature or expiry: only for deciding which
 * subject's secret to look up. Throws Unauthorized "malformed token: ..." if it cannot be decoded.
 */
export function peekToken(token: string): TokenPayload {
  return decode(token).payload;
}

/**
 * Verify a token and return who it speaks for. `secretFor(kind, sub)` returns the subject's
 * current Secret (the registration secret for kind "registration"), or undefined when the
 * subject no longer exists. Throws SocleError Unauthorized: "malformed token: ...",
 * "unknown token subject ...", "bad signature", "token expired at <ISO time>".
 */
export function verifyToken(
  token: string,
  serverKey: string,
  secretFor: (kind: PrincipalKind, sub: string) => string | undefined,
  now: number = Date.now(),
): Principal {
  const { payload, signingInput, sig } = decode(token);
  const secret = secretFor(payload.kind, payload.sub);
  // The signature is checked even for an unknown subject (against a stand-in secret, so it fails):
  // refusing a name that does not exist must take as long as refusing a wrong signature.
  const expected = Buffer.from(sign(signingKey(serverKey, secret || ABSENT_SUBJECT_SECRET), signingInput).toString("base64url"));
  const got = Buffer.from(sig);
  const signed = got.length === expected.length && timingSafeEqual(got, expected);
  if (!secret) throw unauthorized(payload.sub, `unknown token subject "${payload.sub}" (${payload.kind})`);
  if (!signed) throw unauthorized(payload.sub, "bad signature");
  // Only now is the payload trusted, and its times worth reporting.
  const nowSec = Math.floor(now / 1000);
  if (nowSec >= payload.exp) {
    throw unauthorized(payload.sub, `token expired at ${new Date(payload.exp * 1000).toISOString()}`);
  }
  if (payload.iat > nowSec + CLOCK_SKEW_SECONDS) {
    throw unauthorized(payload.sub, `token issued in the future, at ${new Date(payload.iat * 1000).toISOString()}`);
  }
  return {
    kind: payload.kind,
    name: payload.sub,
    claims: payload.claims,
    ...(payload.machine !== undefined ? { machine: payload.machine } : {}),
    ...(payload.roles !== undefined ? { roles: payload.roles } : {}),
    ...(payload.use !== undefined ? { use: payload.use } : {}),
    token: { id: payload.jti, issuedAt: payload.iat * 1000, expiresAt: payload.exp * 1000 },
  };
}
