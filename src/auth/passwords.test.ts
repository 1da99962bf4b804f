import { describe, expect, test } from "bun:test";
import { SocleError } from "../model/errors.ts";
import { MAX_PASSWORD_BYTES, generatePassword, generateSecret, hashPassword, verifyPassword } from "./passwords.ts";

describe("hashPassword / verifyPassword", () => {
  test("an argon2id hash verifies the right password and rejects a wrong one", async () => {
    const hash = await hashPassword("correct horse battery staple");
    expect(hash.startsWith("$argon2id$")).toBe(true);
    expect(hash).not.toContain("correct horse");
    expect(await verifyPassword("correct horse battery staple", hash)).toBe(true);
    expect(await verifyPassword("correct horse battery stapl", hash)).toBe(false);
    expect(await verifyPassword("", hash)).toBe(false);
  });

  test("two hashes of one password differ (random salt)", async () => {
    const a = await hashPassword("pw-123456");
    const b = await hashPassword("pw-123456");
    expect(a).not.toBe(b);
    expect(await verifyPassword("pw-123456", b)).toBe(true);
  });

  test("a malformed or foreign hash gives false, never a throw", async () => {
    const good = await hashPassword("secret");
    for (const bad of [
      "",
      "plain",
      "$argon2id$",
      "$argon2id$v=19$m=65536,t=2,p=1$garbage",
      good.slice(0, -5),
      "$2b$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234",
    ]) {
      expect(await verifyPassword("secret", bad)).toBe(false);
    }
    expect(await verifyPassword("secret", undefined as unknown as string)).toBe(false);
  });

  test("empty and oversized passwords are refused with a ValidationError that does not echo them", async () => {
    await expect(hashPassword("")).rejects.toThrow("password is empty");
    const huge = "x".repeat(MAX_PASSWORD_BYTES + 1);
    try {
      await hashPassword(huge);
      throw new Error("expected a throw");
    } catch (e) {
      expect(e).toBeInstanceOf(SocleError);
      expect((e as SocleError).type).toBe("ValidationError");
      expect((e as SocleError).message).not.toContain("xxxx");
    }
    expect(await verifyPassword(huge, await hashPassword("x"))).toBe(false);
  });
});

describe("generatePassword / generateSecret", () => {
  test("passwords are long, URL-safe and distinct", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const p = generatePassword();
      expect(p.length).toBeGreaterThanOrEqual(20);
      expect(p).toMatch(/^[A-Za-z0-9_-]+$/);
      seen.add(p);
    }
    expect(seen.size).toBe(50);
  });

  test("secrets are 32 bytes of base64url", () => {
    const s = generateSecret();
    expect(s).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(s, "base64url").length).toBe(32);
    expect(generateSecret()).not.toBe(s);
  });
});
