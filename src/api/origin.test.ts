import { describe, expect, test } from "bun:test";
import { isOwnOrigin } from "./origin.ts";

describe("isOwnOrigin", () => {
  test("this server as the client reached it", () => {
    expect(isOwnOrigin("https://127.0.0.1:8092", "127.0.0.1:8092")).toBe(true);
    expect(isOwnOrigin("https://socle.example:8092", "socle.example:8092")).toBe(true);
    expect(isOwnOrigin("https://Socle.Example:8092", "socle.example:8092")).toBe(true);
    expect(isOwnOrigin("https://[2001:db8::5]:8092", "[2001:db8::5]:8092")).toBe(true);
    // Default port: browsers leave it out of both.
    expect(isOwnOrigin("https://socle.example", "socle.example")).toBe(true);
    expect(isOwnOrigin("https://socle.example", "socle.example:443")).toBe(true);
  });

  test("another site, port or scheme is not", () => {
    expect(isOwnOrigin("https://evil.example", "127.0.0.1:8092")).toBe(false);
    expect(isOwnOrigin("https://evil.example:8092", "127.0.0.1:8092")).toBe(false);
    expect(isOwnOrigin("https://127.0.0.1:8093", "127.0.0.1:8092")).toBe(false);
    expect(isOwnOrigin("http://127.0.0.1:8092", "127.0.0.1:8092")).toBe(false);
    expect(isOwnOrigin("https://localhost:8092", "127.0.0.1:8092")).toBe(false);
    expect(isOwnOrigin("https://127.0.0.1.evil.example:8092", "127.0.0.1:8092")).toBe(false);
  });

  test("opaque, malformed or decorated origins are not", () => {
    expect(isOwnOrigin("null", "127.0.0.1:8092")).toBe(false);
    expect(isOwnOrigin("", "127.0.0.1:8092")).toBe(false);
    expect(isOwnOrigin("https://127.0.0.1:8092/", "127.0.0.1:8092")).toBe(false);
    expect(isOwnOrigin("https://127.0.0.1:8092/x", "127.0.0.1:8092")).toBe(false);
    expect(isOwnOrigin("https://u@127.0.0.1:8092", "127.0.0.1:8092")).toBe(false);
    expect(isOwnOrigin("https://127.0.0.1:8092", undefined)).toBe(false);
    expect(isOwnOrigin("https://127.0.0.1:8092", "evil@127.0.0.1:8092")).toBe(false);
    expect(isOwnOrigin("https://127.0.0.1:8092", "127.0.0.1:8092/x")).toBe(false);
  });
});
