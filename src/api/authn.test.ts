import { beforeEach, describe, expect, test } from "bun:test";
import { openMemoryStore, type MemoryStore } from "../store/memory-store.ts";
import { createLogger } from "../log/logger.ts";
import { SocleError } from "../model/errors.ts";
import { hashPassword } from "../auth/passwords.ts";
import { allows, type Claim } from "../auth/claims.ts";
import { issueToken } from "../auth/tokens.ts";
import { AUTHENTICATION_FAILED, Authenticator } from "./authn.ts";

const SERVER_KEY = "server-key-0123456789";
const READER: Claim[] = [{ Scope: "machines", Action: "list,get", Specific: "*" }];
const WRITER: Claim[] = [{ Scope: "machines", Action: "create", Specific: "*" }];
const basicOf = (u: string, p: string) => "Basic " + Buffer.from(`${u}:${p}`).toString("base64");

let store: MemoryStore;
let lines: string[];
let authn: Authenticator;
let hash: string;

beforeEach(async () => {
  store = await openMemoryStore();
  lines = [];
  authn = new Authenticator({ store, serverKey: SERVER_KEY, log: createLogger({ sink: (l) => lines.push(l) }) });
  hash ??= await hashPassword("ops-password-1");
  await store.put("roles", "reader", { Name: "reader", Claims: READER });
  await store.put("roles", "writer", { Name: "writer", Claims: WRITER });
  await store.put("users", "ops", { Name: "ops", Roles: ["reader", "writer"], Secret: "ops-secret-0123456789", PasswordHash: hash });
});

const setRoles = async (roles: string[]) => store.put("users", "ops", { ...store.get("users", "ops")!, Roles: roles });
const bearer = (roles?: string[]) => `Bearer ${authn.tokenForUser(store.get("users", "ops")!, 600, roles).token}`;
const mayCreate = async (header: string) => allows((await authn.authenticate(header, "192.0.2.1")).claims, "machines", "create", "*");

describe("user claims are resolved per request", () => {
  test("a user token carries no claims; taking a role away takes effect on the next request", async () => {
    const auth = bearer();
    expect(await mayCreate(auth)).toBe(true);
    await setRoles(["reader"]);
    expect(await mayCreate(auth)).toBe(false);
    await setRoles([]);
    expect((await authn.authenticate(auth, "192.0.2.1")).claims).toEqual([]);
  });

  test("deleting or changing the role takes effect on the next request", async () => {
    const auth = bearer();
    await store.put("roles", "writer", { Name: "writer", Claims: READER });
    expect(await mayCreate(auth)).toBe(false);
    await store.put("roles", "writer", { Name: "writer", Claims: WRITER });
    expect(await mayCreate(auth)).toBe(true);
    await store.delete("roles", "writer");
    expect(await mayCreate(auth)).toBe(false);
  });

  test("a narrowed token holds only its roles, and only while the user holds them", async () => {
    const auth = bearer(["reader"]);
    const p = await authn.authenticate(auth, "192.0.2.1");
    expect(p.roles).toEqual(["reader"]);
    expect(p.claims).toEqual(READER);
    await setRoles(["writer"]);
    expect((await authn.authenticate(auth, "192.0.2.1")).claims).toEqual([]);
    // Narrowing cannot widen: a token narrowed to a role the user lacks grants nothing.
    expect((await authn.authenticate(bearer(["superuser"]), "192.0.2.1")).claims).toEqual([]);
  });

  test("claims embedded in an old user token are ignored", async () => {
    const { token } = issueToken({
      serverKey: SERVER_KEY,
      subjectSecret: "ops-secret-0123456789",
      sub: "ops",
      kind: "user",
      claims: [{ Scope: "*", Action: "*", Specific: "*" }],
      ttlSeconds: 60,
    });
    await setRoles(["reader"]);
    expect((await authn.authenticate(`Bearer ${token}`, "192.0.2.1")).claims).toEqual(READER);
  });

  test("currentClaims follows the user for open streams; machine tokens keep theirs", async () => {
    const p = await authn.authenticate(bearer(), "192.0.2.1");
    await setRoles(["reader"]);
    expect(authn.currentClaims(p)).toEqual(READER);
    await store.delete("users", "ops");
    expect(authn.currentClaims(p)).toEqual([]);
    const machine = { kind: "machine" as const, name: "m", machine: "m", claims: READER };
    expect(authn.currentClaims(machine)).toBe(READER);
  });
});

describe("every failed authentication looks the same", () => {
  const failure = async (header: string) => {
    try {
      await authn.authenticate(header, "192.0.2.1");
    } catch (e) {
      expect(e).toBeInstanceOf(SocleError);
      return JSON.stringify((e as SocleError).toJSON());
    }
    throw new Error("expected a failure");
  };

  test("unknown user, wrong password, unknown token subject, bad signature, expired, malformed", async () => {
    const good = bearer();
    const expired = `Bearer ${
      issueToken({ serverKey: SERVER_KEY, subjectSecret: "ops-secret-0123456789", sub: "ops", kind: "user", claims: [], ttlSeconds: 1, now: Date.now() - 10_000 }).token
    }`;
    const ghost = `Bearer ${issueToken({ serverKey: SERVER_KEY, subjectSecret: "whatever-secret", sub: "ghost", kind: "user", claims: [], ttlSeconds: 60 }).token}`;
    const bodies = [
      await failure(basicOf("nobody", "ops-password-1")),
      await failure(basicOf("ops", "wrong-password")),
      await failure(ghost),
      await failure(good.slice(0, -3) + (good.endsWith("AAA") ? "BBB" : "AAA")),
      await failure(expired),
      await failure("Bearer abc.def"),
    ];
    expect(new Set(bodies).size).toBe(1);
    expect(JSON.parse(bodies[0]!)).toEqual({ Model: "auth", Key: "", Type: "Unauthorized", Messages: [AUTHENTICATION_FAILED], Code: 401 });
    // The reason is for the log.
    const log = lines.join("\n");
    for (const reason of ["unknown user", "wrong password", 'unknown token subject \\"ghost\\"', "bad signature", "token expired", "malformed token"]) {
      expect(log).toContain(reason);
    }
  });
});

describe("login throttling", () => {
  test("spraying user names from one address ends in 429; the address is named, not a user", async () => {
    let status = "";
    for (let i = 0; i < 25 && status === ""; i++) {
      try {
        await authn.authenticate(basicOf(`user${i}`, "Spring2026!"), "192.0.2.9");
      } catch (e) {
        if ((e as SocleError).type === "TooManyRequests") status = (e as SocleError).messages[0]!;
      }
    }
    expect(status).toContain("too many failed logins from this address");
    // The right password from that address waits too; another address does not.
    await expect(authn.authenticate(basicOf("ops", "ops-password-1"), "192.0.2.9")).rejects.toThrow("too many failed logins");
    expect((await authn.authenticate(basicOf("ops", "ops-password-1"), "192.0.2.10")).name).toBe("ops");
  });
});
