import { describe, expect, test } from "bun:test";
import { SocleError, type ErrorType } from "../model/errors.ts";
import { MAX_AUTHORIZATION_LENGTH, parseAuthorization } from "./basic.ts";

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");

function failure(header: string): { type: ErrorType; message: string } {
  try {
    parseAuthorization(header);
  } catch (e) {
    expect(e).toBeInstanceOf(SocleError);
    return { type: (e as SocleError).type, message: (e as SocleError).message };
  }
  throw new Error("expected a throw");
}

describe("parseAuthorization", () => {
  test("no header is anonymous", () => {
    expect(parseAuthorization(null)).toBeUndefined();
    expect(parseAuthorization(undefined)).toBeUndefined();
  });

  test("Basic, any scheme case, password may hold colons and unicode", () => {
    expect(parseAuthorization(`Basic ${b64("admin:s3cret")}`)).toEqual({ kind: "basic", user: "admin", password: "s3cret" });
    expect(parseAuthorization(`basic ${b64("ops:a:b:c")}`)).toEqual({ kind: "basic", user: "ops", password: "a:b:c" });
    expect(parseAuthorization(`BASIC   ${b64("jürgen:pässwörd")}`)).toEqual({
      kind: "basic",
      user: "jürgen",
      password: "pässwörd",
    });
    expect(parseAuthorization(`Basic ${b64("u:")}`)).toEqual({ kind: "basic", user: "u", password: "" });
  });

  test("Bearer", () => {
    expect(parseAuthorization("Bearer abc.def-_.ghi")).toEqual({ kind: "bearer", token: "abc.def-_.ghi" });
    expect(parseAuthorization(" bearer tok== ")).toEqual({ kind: "bearer", token: "tok==" });
  });

  test("malformed headers are BadRequest and never echo credentials", () => {
    const secret = "hunter2-very-secret";
    const cases: [string, string][] = [
      ["", "empty"],
      ["   ", "empty"],
      ["Basic", "Basic scheme without credentials"],
      [`Basic ${b64(secret)}`, "no colon between user and password"],
      [`Basic ${b64(":" + secret)}`, "empty user name"],
      [`Basic ${b64("admin:" + secret)}x`, "not valid base64"],
      [`Basic ${b64("admin:" + secret).replace(/=+$/, "")}!`, "not valid base64"],
      [`Basic ${Buffer.from([0x61, 0x3a, 0xff, 0xfe]).toString("base64")}`, "not UTF-8"],
      [`Basic ${b64("admin:" + secret + "\n")}`, "control characters"],
      [`Basic ${b64("admin:" + secret)} extra`, "not valid base64"],
      ["Bearer", "Bearer scheme without a token"],
      [`Bearer ${secret} more`, "outside token68"],
      [`Bearer ${secret}"`, "outside token68"],
      [`:${secret}`, "no authentication scheme"],
    ];
    for (const [header, want] of cases) {
      const f = failure(header);
      expect(f.type).toBe("BadRequest");
      expect(f.message).toContain(want);
      expect(f.message).not.toContain(secret);
      expect(f.message).not.toContain(b64(secret).slice(0, 8));
    }
  });

  test("an unsupported scheme is Unauthorized and names only the scheme", () => {
    const f = failure(`Digest username="admin", response="deadbeef"`);
    expect(f.type).toBe("Unauthorized");
    expect(f.message).toBe('unsupported authorization scheme "Digest": use Basic or Bearer');
  });

  test("oversized headers are refused before decoding", () => {
    const f = failure(`Bearer ${"a".repeat(MAX_AUTHORIZATION_LENGTH)}`);
    expect(f.type).toBe("BadRequest");
    expect(f.message).toContain("more than");
  });
});
