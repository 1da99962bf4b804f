// Authentication for the API: turns an Authorization header into a Principal, and issues
// user and machine tokens. Users and roles live in the store; the token signing key in settings.

import type { Store } from "../store/store.ts";
import type { ModelObject } from "../model/object.ts";
import type { Logger } from "../log/logger.ts";
import { SocleError } from "../model/errors.ts";
import { generateSecret, hashPassword, verifyPassword } from "../auth/passwords.ts";
import { issueToken, verifyToken } from "../auth/tokens.ts";
import { LoginThrottle } from "../auth/throttle.ts";
import { parseAuthorization } from "../auth/basic.ts";
import type { Claim, Principal } from "../auth/claims.ts";
import { machineClaims, registrationClaims } from "../auth/claims.ts";

const BASIC_CACHE_MS = 60_000;
const BASIC_CACHE_MAX = 1_000;

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
}

export class Authenticator {
  private readonly throttle = new LoginThrottle();
  /** Argon2id costs tens of ms; a successful Basic check is remembered briefly. */
  private readonly basicCache = new Map<string, number>();
  private readonly now: () => number;

  constructor(private readonly opts: AuthnOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** The principal behind a request, or a 401 SocleError. */
  async authenticate(header: string | null, remote: string): Promise<Principal> {
    const creds = parseAuthorization(header);
    if (!creds) throw unauthorized("authentication required (Basic or Bearer)");
    if (creds.kind === "bearer") {
      return verifyToken(creds.token, this.opts.serverKey, (kind, sub) => this.secretFor(kind, sub), this.now());
    }
    const throttleKey = `${creds.user}\u0000${remote}`;
    const gate = this.throttle.check(throttleKey, this.now());
    if (!gate.allowed) {
      throw new SocleError("TooManyRequests", "users", creds.user, [
        `too many failed logins for "${creds.user}"; retry in ${Math.ceil(gate.retryAfterMs / 1000)} s`,
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
      this.throttle.fail(throttleKey, this.now());
      this.opts.log.warn("login failed", { user: creds.user, remote });
      throw unauthorized("invalid username or password");
    }
    this.throttle.succeed(throttleKey);
    if (cached === undefined) {
      if (this.basicCache.size >= BASIC_CACHE_MAX) this.basicCache.clear();
      this.basicCache.set(cacheKey, this.now() + BASIC_CACHE_MS);
    }
    return { kind: "user", name: creds.user, claims: this.userClaims(user) };
  }

  /** Claims of a user: the union of its roles' claims. Unknown roles grant nothing. */
  userClaims(user: ModelObject): Claim[] {
    const out: Claim[] = [];
    const roles = Array.isArray(user.Roles) ? (user.Roles as string[]) : [];
    for (const name of roles) {
      const role = this.opts.store.get("roles", name);
      if (role && Array.isArray(role.Claims)) out.push(...(role.Claims as Claim[]));
    }
    return out;
  }

  tokenForUser(user: ModelObject, ttlSeconds: number): { token: string; expiresAt: number; claims: Claim[] } {
    const claims = this.userClaims(user);
    const { token, expiresAt } = issueToken({
      serverKey: this.opts.serverKey,
      subjectSecret: String(user.Secret ?? ""),
      sub: String(user.Name),
      kind: "user",
      claims,
      ttlSeconds,
      now: this.now(),
    });
    return { token, expiresAt, claims };
  }

  tokenForMachine(machine: ModelObject, ttlSeconds: number): { token: string; expiresAt: number; claims: Claim[] } {
    const uuid = String(machine.Uuid);
    const claims = machineClaims(uuid);
    const { token, expiresAt } = issueToken({
      serverKey: this.opts.serverKey,
      subjectSecret: String(machine.Secret ?? ""),
      sub: uuid,
      kind: "machine",
      machine: uuid,
      claims,
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
