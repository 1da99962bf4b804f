// The web UI's side of the Authenticator: the login form's check, the session cookie's token
// (users only) and the logout deny-list.

import { beforeEach, describe, expect, test } from "bun:test";
import { openMemoryStore, type MemoryStore } from "../store/memory-store.ts";
import { createLogger } from "../log/logger.ts";
import { SocleError } from "../model/errors.ts";
import { hashPassword } from "../auth/passwords.ts";
import { AUTHENTICATION_FAILED, Authenticator } from "./authn.ts";

const SERVER_KEY = "server-key-0123456789";
let store: MemoryStore;
let lines: string[];
let authn: Authenticator;
let hash: string;
let clock = Date.parse("2026-01-01T00:00:00Z");

beforeEach(async () => {
  store = await openMemoryStore();
  lines = [];
  clock = Date.parse("2026-01-01T00:00:00Z");
  authn = new Authenticator({ store, serverKey: SERVER_KEY, log: createLogger({ sink: (l) => lines.push(l) }), registrationSecret: "registration-secret-0123", now: () => clock });
  hash ??= await hashPassword("ops-password-1");
  await store.put("users", "ops", { Name: "ops", Roles: [], Secret: "ops-secret-0123456789", PasswordHash: hash });
  await store.put("machines", "0b6a1c1e-0000-4000-8000-000000000001", { Uuid: "0b6a1c1e-0000-4000-8000-000000000001", Name: "m1", Secret: "m1-secret-0123456789" });
});

const refused = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SocleError);
    expect((err as SocleError).type).toBe("Unauthorized");
    expect((err as SocleError).messages).toEqual([AUTHENTICATION_FAILED]);
    return;
  }
  throw new Error("expected a 401");
};

describe("session tokens", () => {
  test("a user's token is a session; machine and registration tokens are not", () => {
    const user = authn.tokenForUser(store.get("users", "ops")!, 600).token;
    expect(authn.authenticateSession(user, () => "192.0.2.1").name).toBe("ops");
    const machine = authn.tokenForMachine(store.get("machines", "0b6a1c1e-0000-4000-8000-000000000001")!, 600).token;
    refused(() => authn.authenticateSession(machine, () => "192.0.2.1"));
    const registration = authn.tokenForRegistration(600).token;
    refused(() => authn.authenticateSession(registration, () => "192.0.2.1"));
    expect(lines.join("\n")).toContain("a machine token in the web UI session cookie");
    expect(lines.join("\n")).toContain("a registration token in the web UI session cookie");
  });

  test("a revoked token is refused as a session and as a bearer header; others of the user are not", async () => {
    const user = store.get("users", "ops")!;
    const a = authn.tokenForUser(user, 600).token;
    const b = authn.tokenForUser(user, 600).token;
    authn.revokeToken(a);
    refused(() => authn.authenticateSession(a, () => "192.0.2.1"));
    await expect(authn.authenticate(`Bearer ${a}`, "192.0.2.1")).rejects.toThrow(AUTHENTICATION_FAILED);
    expect(authn.authenticateSession(b, () => "192.0.2.1").name).toBe("ops");
    expect(lines.join("\n")).toContain("logged out");
  });

  test("the deny-list forgets ids whose tokens have expired when it fills", () => {
    const user = store.get("users", "ops")!;
    const first = authn.tokenForUser(user, 60).token;
    authn.revokeToken(first);
    const held = (authn as unknown as { revoked: Map<string, number> }).revoked;
    expect(held.size).toBe(1);
    // Fill it to the brim with ids of expired tokens: the next logout sweeps them.
    for (let i = 0; held.size < 100_000; i++) held.set(`old-${i}`, clock - 1);
    clock += 120_000;
    authn.revokeToken(authn.tokenForUser(user, 60).token);
    expect(held.size).toBe(1);
  });

  test("a deny-list full of live ids never drops a logout: that user's tokens issued until then all end instead", async () => {
    const user = store.get("users", "ops")!;
    await store.put("users", "other", { Name: "other", Roles: [], Secret: "other-secret-0123456789" });
    const victim = authn.tokenForUser(user, 3600).token;
    authn.revokeToken(victim);
    const keep = authn.tokenForUser(user, 3600).token;
    const otherUser = authn.tokenForUser(store.get("users", "other")!, 3600).token;
    const held = (authn as unknown as { revoked: Map<string, number> }).revoked;
    // An attacker's login/logout loop fills it with ids that are still live.
    for (let i = 0; held.size < 100_000; i++) held.set(`live-${i}`, clock + 3_600_000);
    authn.revokeToken(authn.tokenForUser(user, 3600).token); // one more logout, by ops
    refused(() => authn.authenticateSession(victim, () => "192.0.2.1")); // still refused
    refused(() => authn.authenticateSession(keep, () => "192.0.2.1")); // ops' older tokens end too
    expect(authn.authenticateSession(otherUser, () => "192.0.2.1").name).toBe("other"); // other users untouched
    clock += 2000;
    expect(authn.authenticateSession(authn.tokenForUser(user, 3600).token, () => "192.0.2.1").name).toBe("ops"); // a new login works
    expect(lines.join("\n")).toContain("logout list full");
  });

  test("login is the Basic check: the right password, the one 401, the throttle", async () => {
    expect((await authn.login("ops", "ops-password-1", "192.0.2.9")).name).toBe("ops");
    await expect(authn.login("ops", "wrong", "192.0.2.9")).rejects.toThrow(AUTHENTICATION_FAILED);
    await expect(authn.login("ghost", "wrong", "192.0.2.9")).rejects.toThrow(AUTHENTICATION_FAILED);
    let last: unknown;
    for (let i = 0; i < 12; i++) {
      try {
        await authn.login("ops", `guess-${i}`, "192.0.2.9");
      } catch (err) {
        last = err;
        if ((err as SocleError).type === "TooManyRequests") break;
      }
    }
    expect((last as SocleError).type).toBe("TooManyRequests");
  });
});
