// Authentication for the API: turns an Authorization header into a Principal, and issues
// user and machine tokens. Users and roles live in the store; the token signing key in settings.
//
// A user's claims are resolved on every request from the roles the user holds now (narrowed to
// the token's roles, if it was narrowed): a role taken away, changed or deleted takes effect on
// the next request, whatever tokens are out.
//
// Every failed authentication (unknown user, wrong password, unknown token subject, bad
// signature, expired or malformed token) is answered with the same 401 body, so that a client
// cannot tell names that exist from names that do not. The reason goes to the log. Unknown users
// cost an argon2id check like known ones, and unknown token subjects an HMAC like known ones.

import type { Store } from "../store/store.ts";
import type { ModelObject } from "../model/object.ts";
import type { Logger } from "../log/logger.ts";
import { SocleError } from "../model/errors.ts";
import { generateSecret, hashPassword, verifyPassword } from "../auth/passwords.ts";
import { issueToken, peekToken, verifyToken } from "../auth/tokens.ts";
import { LoginLimiter } from "../auth/throttle.ts";
import { parseAuthorization } from "../auth/basic.ts";
import type { Claim, MachineTokenUse, Principal } from "../auth/claims.ts";
import { claimsOfRoles, effectiveRoles, jobClaims, machineClaims, registrationClaims } from "../auth/claims.ts";

const BASIC_CACHE_MS = 60_000;
const BASIC_CACHE_MAX = 1_000;
/** Most token ids held as revoked at once (logouts; each held until its token expires). */
const REVOKED_MAX = 100_000;

/** The one answer to every failed authentication: it names no reason, on purpose. */
export const AUTHENTICATION_FAILED = "authentication failed: wrong user name or password, or a token that is invalid, expired or revoked";

export interface AuthnOptions {
  store: Store;
  serverKey: string;
  log: Logger;
  now?: () => number;
  /**
   * Subject secret of registration tokens (kind "registration"), kept by the server like the
   * token key. Without it no registration token is issued or accepted. Changing it revokes every
   * registration token.
   */
  registrationSecret?: string;
  /**
   * Machine certificates (pki/machine-ca.ts): whether one presented on the client-certificate
   * listener is accepted now, and for which machine. Without it none is.
   */
  certificates?: { check(cert: Uint8Array): { ok: true; uuid: string; serial: string; via: "csr" | "render" } | { ok: false; reason: string } };
}

export class Authenticator {
  private readonly throttle = new LoginLimiter();
  /** Argon2id costs tens of ms; a successful Basic check is remembered briefly. */
  private readonly basicCache = new Map<string, number>();
  private readonly now: () => number;
  /**
   * Ids (jti) of user tokens ended before their expiry (a web UI logout), with that expiry in ms.
   * Tokens are stateless, so this list is what makes a logged-out cookie worthless if replayed. It
   * lives in memory: a restart forgets it, and a token logged out before it is good again until it
   * expires (the UI session's lifetime, uiSessionTimeout).
   */
  private readonly revoked = new Map<string, number>();
  /**
   * When the deny-list is full of live ids: per user, tokens issued before this time (ms) are
   * refused. A flood of logouts then costs that user's other tokens, never a logout its effect.
   */
  private readonly revokedBefore = new Map<string, number>();

  constructor(private readonly opts: AuthnOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** The principal behind a request, or a 401 SocleError. */
  async authenticate(header: string | null, remoteOf: string | (() => string)): Promise<Principal> {
    const creds = parseAuthorization(header);
    if (!creds) throw unauthorized("authentication required (Basic or Bearer)");
    // The client's address, asked for only when a throttle or a log line needs it.
    const remote = () => (typeof remoteOf === "string" ? remoteOf : remoteOf());
    if (creds.kind === "bearer") return this.authenticateToken(creds.token, remote);
    return this.authenticateBasic(creds.user, creds.password, remote());
  }

  /**
   * A user name and password checked as a Basic header is (same throttle, same argon2id check,
   * same one 401): the web UI's login form.
   */
  login(name: string, password: string, remote: string): Promise<Principal> {
    return this.authenticateBasic(name, password, remote);
  }

  /**
   * The principal of a web UI session cookie: a user token, and only that. A machine's or a
   * registration token put in the cookie gets the one 401, as does a token logged out.
   */
  authenticateSession(token: string, remoteOf: () => string): Principal {
    const p = this.authenticateToken(token, remoteOf);
    if (p.kind !== "user") {
      this.opts.log.warn("token refused", { reason: `a ${p.kind} token in the web UI session cookie`, remote: remoteOf() });
      throw unauthorized(AUTHENTICATION_FAILED);
    }
    return p;
  }

  /**
   * End a token before its expiry (the web UI's logout): its id is refused until it would have
   * expired anyway. The caller has authenticated it.
   */
  revokeToken(token: string): void {
    const { jti, exp, sub } = peekToken(token);
    const now = this.now();
    if (this.revoked.size >= REVOKED_MAX) {
      for (const [id, until] of this.revoked) if (until <= now) this.revoked.delete(id);
    }
    if (this.revoked.size < REVOKED_MAX) {
      this.revoked.set(jti, exp * 1000);
      return;
    }
    // Full of live ids (someone logging in and out in a loop): this user's tokens issued up to
    // now end, all of them; the list itself never drops a logout that still matters.
    this.revokedBefore.set(sub, now + 1000);
    this.opts.log.warn("logout list full: every token of this user issued before now is refused", { user: sub });
  }

  /**
   * The principal behind a verified client certificate (mtls-server.ts): its machine, with the
   * rights of that machine's agent token. A certificate that is revoked, expired, unknown to the
   * record or of a deleted machine gets the one 401. A request that also carries an Authorization
   * header is that header's principal, which must be a token of the same machine (a job's token,
   * with its task's extra claims); anything else is refused.
   */
  async authenticateClientCert(cert: Uint8Array, header: string | null, remoteOf: () => string): Promise<Principal> {
    const check = this.opts.certificates?.check(cert) ?? { ok: false as const, reason: "machine certificates are not enabled" };
    if (!check.ok) {
      this.opts.log.warn("client certificate refused", { reason: check.reason, remote: remoteOf() });
      throw unauthorized(AUTHENTICATION_FAILED);
    }
    if (!this.opts.store.get("machines", check.uuid)) {
      this.opts.log.warn("client certificate refused", { reason: `machine ${check.uuid} does not exist`, serial: check.serial, remote: remoteOf() });
      throw unauthorized(AUTHENTICATION_FAILED);
    }
    if (header !== null && header !== "") {
      const p = await this.authenticate(header, remoteOf);
      if (p.kind !== "machine" || p.machine !== check.uuid) {
        this.opts.log.warn("client certificate refused", { reason: `the Authorization header is ${p.kind} "${p.name}", not a token of machine ${check.uuid}`, remote: remoteOf() });
        throw unauthorized(AUTHENTICATION_FAILED);
      }
      return p;
    }
    // A certificate the machine made its key for (a CSR) is its agent's credential; one a boot file
    // carried (it.MachineCert) travelled as a plain token does, and is worth what one is: it trades
    // for an agent token only from the machine's own address and signs no CSR.
    return { kind: "machine", name: check.uuid, machine: check.uuid, claims: machineClaims(check.uuid), ...(check.via === "csr" ? { use: "agent" as const } : {}) };
  }

  private async authenticateBasic(name: string, password: string, remote: string): Promise<Principal> {
    const creds = { user: name, password };
    const gate = this.throttle.check(creds.user, remote, this.now());
    if (!gate.allowed) {
      const retry = `retry in ${Math.ceil(gate.retryAfterMs / 1000)} s`;
      throw new SocleError("TooManyRequests", "users", creds.user, [
        gate.by === "address" ? `too many failed logins from this address; ${retry}` : `too many failed logins for "${creds.user}"; ${retry}`,
      ]);
    }
    const user = this.opts.store.get("users", creds.user);
    const hash = typeof user?.PasswordHash === "string" ? user.PasswordHash : "";
    const cacheKey = await digest(`${creds.user}\u0000${creds.password}\u0000${hash}`);
    const cached = this.basicCache.get(cacheKey);
    let ok = cached !== undefined && cached > this.now();
    if (!ok && user && hash) ok = await verifyPassword(creds.password, hash);
    // Unknown users cost the same argon2id check, so timing does not reveal which names exist.
    else if (!ok) await verifyPassword(creds.password, await this.dummyHash());
    if (!ok || !user) {
      this.throttle.fail(creds.user, remote, this.now());
      this.opts.log.warn("login failed", { user: creds.user, remote, reason: user ? "wrong password" : "unknown user" });
      throw unauthorized(AUTHENTICATION_FAILED);
    }
    this.throttle.succeed(creds.user, remote);
    if (cached === undefined) {
      if (this.basicCache.size >= BASIC_CACHE_MAX) this.basicCache.clear();
      this.basicCache.set(cacheKey, this.now() + BASIC_CACHE_MS);
    }
    return { kind: "user", name: creds.user, claims: this.userClaims(user) };
  }

  /** A bearer token's principal; a user's claims resolved now. Any failure is the one 401. */
  private authenticateToken(token: string, remote: () => string): Principal {
    let p: Principal;
    try {
      p = verifyToken(token, this.opts.serverKey, (kind, sub) => this.secretFor(kind, sub), this.now());
    } catch (err) {
      if (!(err instanceof SocleError) || err.type !== "Unauthorized") throw err;
      this.opts.log.warn("token refused", { reason: err.message, remote: remote() });
      throw unauthorized(AUTHENTICATION_FAILED);
    }
    const before = this.revokedBefore.size > 0 ? this.revokedBefore.get(p.name) : undefined;
    if ((this.revoked.size > 0 && this.revoked.has(peekToken(token).jti)) || (before !== undefined && peekToken(token).iat * 1000 < before)) {
      this.opts.log.warn("token refused", { reason: "logged out", user: p.name, remote: remote() });
      throw unauthorized(AUTHENTICATION_FAILED);
    }
    if (p.kind !== "user") return p;
    const user = this.opts.store.get("users", p.name);
    if (!user) throw unauthorized(AUTHENTICATION_FAILED); // deleted since secretFor looked
    return { ...p, claims: this.userClaims(user, p.roles) };
  }

  /**
   * Claims of a user now: the union of the current claims of the roles it holds now, kept to
   * `narrowedTo` for a narrowed token. Unknown roles grant nothing.
   */
  userClaims(user: ModelObject, narrowedTo?: readonly string[]): Claim[] {
    const held = Array.isArray(user.Roles) ? (user.Roles as unknown[]).filter((r): r is string => typeof r === "string") : [];
    return claimsOfRoles(effectiveRoles(held, narrowedTo), (name) => {
      const role = this.opts.store.get("roles", name);
      return role && Array.isArray(role.Claims) ? (role.Claims as Claim[]) : undefined;
    });
  }

  /**
   * What a principal may do at this moment, for a stream opened earlier (SSE, websocket): a
   * user's claims are looked up again (none once the user is gone); machine and registration
   * tokens keep their fixed claims.
   */
  /**
   * Whether a token-authenticated principal's token is still good now: not expired, not logged
   * out. An event stream opened with it ends when it is not (Basic and certificates: always true).
   */
  stillValid(p: Principal): boolean {
    const t = p.token;
    if (!t) return true;
    if (this.now() >= t.expiresAt) return false;
    if (this.revoked.size > 0 && this.revoked.has(t.id)) return false;
    const before = this.revokedBefore.size > 0 ? this.revokedBefore.get(p.name) : undefined;
    return before === undefined || t.issuedAt >= before;
  }

  currentClaims(p: Principal): Claim[] {
    if (p.kind !== "user") return p.claims;
    const user = this.opts.store.get("users", p.name);
    return user ? this.userClaims(user, p.roles) : [];
  }

  /**
   * A user token. It carries no claims: they are resolved per request. `roles` narrows it to
   * those roles (the caller checks that the user holds them). The claims returned are those the
   * token has now, for the answer.
   */
  tokenForUser(
    user: ModelObject,
    ttlSeconds: number,
    roles?: readonly string[],
  ): { token: string; expiresAt: number; claims: Claim[]; roles?: string[] } {
    const { token, expiresAt } = issueToken({
      serverKey: this.opts.serverKey,
      subjectSecret: String(user.Secret ?? ""),
      sub: String(user.Name),
      kind: "user",
      claims: [],
      ...(roles !== undefined ? { roles: [...roles] } : {}),
      ttlSeconds,
      now: this.now(),
    });
    return { token, expiresAt, claims: this.userClaims(user, roles), ...(roles !== undefined ? { roles: [...roles] } : {}) };
  }

  /** A machine's token; `use` "agent" for the one its agent keeps and renews. */
  tokenForMachine(machine: ModelObject, ttlSeconds: number, use?: "agent"): { token: string; expiresAt: number; claims: Claim[] } {
    return this.machineToken(machine, machineClaims(String(machine.Uuid)), ttlSeconds, use);
  }

  /** A job's token: the machine's token plus its task's ExtraClaims (auth/claims.ts jobClaims). */
  tokenForJob(machine: ModelObject, extraClaims: readonly Claim[], ttlSeconds: number): { token: string; expiresAt: number; claims: Claim[] } {
    return this.machineToken(machine, jobClaims(String(machine.Uuid), extraClaims), ttlSeconds, "job");
  }

  private machineToken(machine: ModelObject, claims: Claim[], ttlSeconds: number, use?: MachineTokenUse): { token: string; expiresAt: number; claims: Claim[] } {
    const uuid = String(machine.Uuid);
    const { token, expiresAt } = issueToken({
      serverKey: this.opts.serverKey,
      subjectSecret: String(machine.Secret ?? ""),
      sub: uuid,
      kind: "machine",
      machine: uuid,
      claims,
      ...(use !== undefined ? { use } : {}),
      ttlSeconds,
      now: this.now(),
    });
    return { token, expiresAt, claims };
  }

  /** A token that may only register (create) a machine: what unknown machines boot with. */
  tokenForRegistration(ttlSeconds: number): { token: string; expiresAt: number; claims: Claim[] } {
    const secret = this.opts.registrationSecret;
    if (!secret) throw new SocleError("Unavailable", "tokens", "registration", "issue registration token: no registration secret is configured");
    const claims = registrationClaims();
    const { token, expiresAt } = issueToken({
      serverKey: this.opts.serverKey,
      subjectSecret: secret,
      sub: "registration",
      kind: "registration",
      claims,
      ttlSeconds,
      now: this.now(),
    });
    return { token, expiresAt, claims };
  }

  private dummy: Promise<string> | undefined;
  private dummyHash(): Promise<string> {
    this.dummy ??= hashPassword(generateSecret());
    return this.dummy;
  }

  /** Forget cached Basic checks (after a password change). */
  forget(): void {
    this.basicCache.clear();
  }

  private secretFor(kind: string, sub: string): string | undefined {
    if (kind === "user") {
      const u = this.opts.store.get("users", sub);
      return typeof u?.Secret === "string" ? u.Secret : undefined;
    }
    if (kind === "machine") {
      const m = this.opts.store.get("machines", sub);
      return typeof m?.Secret === "string" ? m.Secret : undefined;
    }
    if (kind === "registration" && sub === "registration") return this.opts.registrationSecret || undefined;
    return undefined;
  }
}

function unauthorized(msg: string): SocleError {
  return new SocleError("Unauthorized", "auth", "", msg);
}

async function digest(s: string): Promise<string> {
  const buf = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(s));
  return Buffer.from(buf).toString("base64");
}
