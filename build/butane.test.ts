import { describe, expect, test } from "bun:test";
import { parse } from "yaml";
import { butaneConfig, parseButaneArgs, PLACEHOLDER_URL } from "./butane.ts";

const UNIT = "[Unit]\nDescription=x\n\n[Service]\nExecStart=/usr/local/bin/socle serve\n";

describe("butaneConfig", () => {
  test("the unit comes back byte for byte from the YAML, blank lines included", () => {
    const bu = parse(butaneConfig(UNIT), { version: "1.1" });
    expect(bu.systemd.units[0].contents).toBe(UNIT);
    expect(bu.storage.files[0].contents.source).toBe(PLACEHOLDER_URL);
    expect(bu.storage.files[0].contents.verification).toBeUndefined();
  });

  test("--binary-url and --sha512 make a ready config", () => {
    const sha = "ab".repeat(64);
    const bu = parse(butaneConfig(UNIT, { binaryUrl: "http://203.0.113.1:8091/socle-linux-amd64", sha512: sha }), { version: "1.1" });
    expect(bu.storage.files[0].contents).toEqual({ source: "http://203.0.113.1:8091/socle-linux-amd64", verification: { hash: `sha512-${sha}` } });
  });

  test("what a literal block cannot carry exactly is refused", () => {
    expect(() => butaneConfig("[Unit]")).toThrow("must end with exactly one newline");
    expect(() => butaneConfig("[Unit]\n\n")).toThrow("must end with exactly one newline");
    expect(() => butaneConfig("[Unit]\n\tx\n")).toThrow("must not contain tabs");
    expect(() => butaneConfig(UNIT, { sha512: "abc" })).toThrow('--sha512 "abc" is not 128 hex digits');
  });
});

test("parseButaneArgs", () => {
  expect(parseButaneArgs(["--check", "--binary-url=https://x/y", "--sha512", "AB"])).toMatchObject({ check: true, binaryUrl: "https://x/y", sha512: "ab" });
  expect(() => parseButaneArgs(["--nope"])).toThrow('butane: unknown argument "--nope"');
  expect(() => parseButaneArgs(["--out"])).toThrow("butane: --out: missing value");
});
