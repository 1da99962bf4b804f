import { describe, expect, test } from "bun:test";
import { DEFAULT_ENDPOINT, parseClientConfig } from "./client-config.ts";

const none = () => false;
const parse = (argv: string[], env: Record<string, string> = {}, exists: (p: string) => boolean = none) =>
  parseClientConfig(argv, env, { exists, compiled: false });

describe("parseClientConfig", () => {
  test("defaults: local endpoint, no auth, system roots, json", () => {
    expect(parse(["machines", "list"])).toEqual({
      endpoint: DEFAULT_ENDPOINT,
      auth: { kind: "none" },
      caFile: undefined,
      caSource: "",
      insecure: false,
      output: "json",
      args: ["machines", "list"],
    });
  });

  test("globals anywhere before --, verb flags pass through in order", () => {
    const c = parse(["-E", "https://h:1/", "machines", "list", "--sort", "Name", "-o", "table", "Name=Eq(x)", "-k"]);
    expect(c.endpoint).toBe("https://h:1");
    expect(c.output).toBe("table");
    expect(c.insecure).toBe(true);
    expect(c.args).toEqual(["machines", "list", "--sort", "Name", "Name=Eq(x)"]);
  });

  test("basic and token auth, from flags or env", () => {
    expect(parse(["-U", "admin", "-P", "pw"]).auth).toEqual({ kind: "basic", username: "admin", password: "pw" });
    expect(parse([], { SOCLE_USERNAME: "u", SOCLE_PASSWORD: "p" }).auth).toEqual({ kind: "basic", username: "u", password: "p" });
    expect(parse(["--token=abc"]).auth).toEqual({ kind: "token", token: "abc" });
    expect(parse([], { SOCLE_TOKEN: "t" }).auth).toEqual({ kind: "token", token: "t" });
  });

  test("token with user/password is an error, not a silent choice", () => {
    expect(() => parse(["-T", "t", "-U", "u", "-P", "p"])).toThrow("-T: a token cannot be combined with -U");
    expect(() => parse([], { SOCLE_TOKEN: "t", SOCLE_PASSWORD: "p" })).toThrow(
      "SOCLE_TOKEN: a token cannot be combined with SOCLE_PASSWORD",
    );
  });

  test("half a basic credential is an error", () => {
    expect(() => parse(["-U", "admin"])).toThrow('-U: user "admin" given without a password');
    expect(() => parse([], { SOCLE_PASSWORD: "x" })).toThrow("SOCLE_PASSWORD: password given without a user");
  });

  test("endpoint validation", () => {
    expect(() => parse(["-E", "127.0.0.1:8092"])).toThrow('-E: invalid URL "127.0.0.1:8092"');
    expect(() => parse(["--endpoint", "ftp://h"])).toThrow('--endpoint: invalid URL "ftp://h": scheme must be https or http');
    expect(() => parse([], { SOCLE_ENDPOINT: "nope" })).toThrow('SOCLE_ENDPOINT: invalid URL "nope"');
    expect(parse(["-E", "http://[::1]:8092"]).endpoint).toBe("http://[::1]:8092");
  });

  test("output format", () => {
    expect(parse(["-o", "yaml"]).output).toBe("yaml");
    expect(() => parse(["-o", "xml"])).toThrow('-o: invalid value "xml" (expected json|yaml|table)');
  });

  test("explicit --ca-file must exist", () => {
    expect(() => parse(["--ca-file", "/no/such.pem"])).toThrow('--ca-file: cannot read "/no/such.pem": no such file');
    const c = parse([], { SOCLE_CA_FILE: "/x/ca.pem" }, (p) => p === "/x/ca.pem");
    expect(c.caFile).toBe("/x/ca.pem");
    expect(c.caSource).toBe("SOCLE_CA_FILE");
  });

  test("CA of a local data dir is picked up: SOCLE_DATA_DIR first, then ./socle-data", () => {
    const all = (p: string) => p.endsWith("pki/ca.pem");
    expect(parse([], { SOCLE_DATA_DIR: "/srv/s" }, all).caFile).toBe("/srv/s/pki/ca.pem");
    expect(parse([], {}, all).caFile).toBe("socle-data/pki/ca.pem");
    expect(parse([], {}, all).caSource).toBe("data-dir");
    expect(parse([], { SOCLE_DATA_DIR: "/srv/s" }, (p) => p === "socle-data/pki/ca.pem").caFile).toBe("socle-data/pki/ca.pem");
  });

  test("-k only when asked for", () => {
    expect(parse([]).insecure).toBe(false);
    expect(parse(["--insecure=false"]).insecure).toBe(false);
    expect(parse(["--insecure"]).insecure).toBe(true);
    expect(parse([], { SOCLE_INSECURE: "true" }).insecure).toBe(false);
  });
});
