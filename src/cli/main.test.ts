// runCli end to end with an in-process fake fetch (no sockets; test/cli-*.test.ts covers real
// HTTPS). Each test checks the request the CLI sends and what it prints, and the exit code.

import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ServeConfig } from "../config/serve-config.ts";
import { runCli } from "./main.ts";

interface Seen {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: unknown;
}

type Reply = { status?: number; body?: unknown; text?: string; headers?: Record<string, string> };

function harness(reply: (s: Seen) => Reply = () => ({ body: {} })) {
  const seen: Seen[] = [];
  const out: string[] = [];
  const err: string[] = [];
  const served: ServeConfig[] = [];
  const fakeFetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const headers = Object.fromEntries(new Headers(init?.headers).entries());
    const raw = typeof init?.body === "string" ? init.body : undefined;
    const s: Seen = { method: init?.method ?? "GET", url: String(input), headers, body: raw ? JSON.parse(raw) : undefined };
    seen.push(s);
    const r = reply(s);
    const text = r.text ?? (r.body === undefined ? "" : JSON.stringify(r.body));
    const status = r.status ?? 200;
    return new Response(status === 304 || status === 204 ? null : text, { status, headers: { "Content-Type": "application/json", ...r.headers } });
  }) as typeof fetch;
  const run = (argv: string[], env: Record<string, string> = {}, stdin = "") =>
    runCli(
      argv,
      { SOCLE_DATA_DIR: "/nonexistent-socle-test", ...env },
      { out: (s) => out.push(s), err: (s) => err.push(s), readStdin: async () => stdin },
      {
        fetch: fakeFetch,
        serve: async (c) => {
          served.push(c);
          return 0;
        },
      },
    );
  return { run, seen, out, err, served };
}

const API = "https://127.0.0.1:8092/api/v3";
const notFound = { Model: "machines", Key: "x", Type: "NotFound", Messages: ['machines "x" not found'], Code: 404 };

describe("object verbs", () => {
  test("list with filters and paging, table output", async () => {
    const h = harness(() => ({ body: [{ Uuid: "u1", Name: "n1", HardwareAddrs: ["52:54:00:00:00:01"] }] }));
    const code = await h.run(["machines", "list", "Name=Eq(n1)", "--limit", "2", "--sort=Name", "-o", "table"]);
    expect(code).toBe(0);
    expect(h.seen[0]?.method).toBe("GET");
    expect(h.seen[0]?.url).toBe(`${API}/machines?Name=Eq%28n1%29&sort=Name&limit=2`);
    expect(h.out[0]?.split("\n")[0]).toMatch(/^Uuid\s+Name\s+Address/);
    expect(h.out[0]?.split("\n")[1]).toMatch(/^u1\s+n1\s+52:54/);
  });

  test("show encodes Index:value keys; json output is pretty", async () => {
    const h = harness(() => ({ body: { Name: "n1" } }));
    expect(await h.run(["machines", "show", "Name:n1"])).toBe(0);
    expect(h.seen[0]?.url).toBe(`${API}/machines/Name%3An1`);
    expect(h.out).toEqual(['{\n  "Name": "n1"\n}']);
  });

  test("create from YAML argument, file and stdin", async () => {
    const dir = mkdtempSync(join(tmpdir(), "socle-cli-"));
    try {
      writeFileSync(join(dir, "m.json"), '{"Name":"f1"}');
      const h = harness((s) => ({ status: 201, body: s.body }));
      expect(await h.run(["machines", "create", "Name: a1\nHardwareAddrs: [52:54:00:00:00:01]"])).toBe(0);
      expect(await h.run(["machines", "create", join(dir, "m.json")])).toBe(0);
      expect(await h.run(["-o", "yaml", "machines", "create", "-"], {}, "Name: s1")).toBe(0);
      expect(h.seen.map((s) => [s.method, s.url, s.body])).toEqual([
        ["POST", `${API}/machines`, { Name: "a1", HardwareAddrs: ["52:54:00:00:00:01"] }],
        ["POST", `${API}/machines`, { Name: "f1" }],
        ["POST", `${API}/machines`, { Name: "s1" }],
      ]);
      expect(h.seen[0]?.headers["content-type"]).toBe("application/json");
      expect(h.out[2]).toBe("Name: s1");
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  test("update is PUT, patch is PATCH with the JSON Patch media type", async () => {
    const h = harness((s) => ({ body: s.body }));
    expect(await h.run(["profiles", "update", "p1", '{"Name":"p1","Params":{}}'])).toBe(0);
    expect(await h.run(["profiles", "patch", "p1", '[{"op":"test","path":"/Name","value":"p1"}]'])).toBe(0);
    expect(h.seen[0]).toMatchObject({ method: "PUT", url: `${API}/profiles/p1`, body: { Name: "p1", Params: {} } });
    expect(h.seen[1]).toMatchObject({ method: "PATCH", url: `${API}/profiles/p1` });
    expect(h.seen[1]?.headers["content-type"]).toBe("application/json-patch+json");
  });

  test("destroy", async () => {
    const h = harness(() => ({ body: { Name: "b1" } }));
    expect(await h.run(["bootenvs", "destroy", "b1"])).toBe(0);
    expect(h.seen[0]).toMatchObject({ method: "DELETE", url: `${API}/bootenvs/b1` });
    expect(h.out).toEqual(["Deleted bootenv b1"]);
  });

  test("exists: exit status is the answer", async () => {
    const yes = harness(() => ({ body: { Name: "x" } }));
    expect(await yes.run(["machines", "exists", "Name:x"])).toBe(0);
    expect(yes.out).toEqual([]);
    const no = harness(() => ({ status: 404, body: notFound }));
    expect(await no.run(["machines", "exists", "x"])).toBe(1);
    expect(no.err).toEqual(['Error: NotFound 404: machines "x" not found']);
  });

  test("argument mistakes are usage errors (exit 2)", async () => {
    const h = harness();
    expect(await h.run(["machines", "show"])).toBe(2);
    expect(await h.run(["machines", "show", "a", "b"])).toBe(2);
    expect(await h.run(["machines", "frob"])).toBe(2);
    expect(h.seen).toHaveLength(0);
    expect(h.err[0]).toBe("Error: missing argument\nusage: socle machines show <key>");
    expect(h.err[1]).toContain('unexpected argument "b"');
    expect(h.err[2]).toContain('unknown machines command "frob"');
  });

  test("bad input is an error before any request", async () => {
    const h = harness();
    expect(await h.run(["machines", "create", '{"Name":'])).toBe(1);
    expect(h.err[0]).toStartWith("Error: cannot parse argument as JSON");
    expect(h.seen).toHaveLength(0);
  });
});

describe("errors from the API and the way there", () => {
  test("API error body is printed as Type Code: messages", async () => {
    const h = harness(() => ({
      status: 422,
      body: { Model: "machines", Key: "", Type: "ValidationError", Messages: ['Name: invalid "a b"', 'Arch: unknown "x"'], Code: 422 },
    }));
    expect(await h.run(["machines", "create", "Name: a b"])).toBe(1);
    expect(h.err).toEqual(['Error: ValidationError 422: Name: invalid "a b"; Arch: unknown "x"']);
  });

  test("401 without credentials says so; with credentials just the API message", async () => {
    const body = { Model: "", Key: "", Type: "Unauthorized", Messages: ["authentication required"], Code: 401 };
    const anon = harness(() => ({ status: 401, body }));
    expect(await anon.run(["info"])).toBe(1);
    expect(anon.err[0]).toBe(
      "Error: Unauthorized 401: authentication required\nhint: no credentials were given: pass -U/-P or -T (or set SOCLE_USERNAME/SOCLE_PASSWORD or SOCLE_TOKEN)",
    );
    expect(anon.seen[0]?.headers.authorization).toBeUndefined();
    const user = harness(() => ({ status: 401, body }));
    expect(await user.run(["-U", "admin", "-P", "bad", "info"])).toBe(1);
    expect(user.err[0]).toBe("Error: Unauthorized 401: authentication required");
  });

  test("a body that is not the API's error shape", async () => {
    const h = harness(() => ({ status: 502, text: "<html>bad gateway</html>" }));
    expect(await h.run(["info"])).toBe(1);
    expect(h.err).toEqual(["Error: HTTP 502: <html>bad gateway</html>"]);
  });

  test("success with a body that is not JSON", async () => {
    const h = harness(() => ({ text: "hello" }));
    expect(await h.run(["info"])).toBe(1);
    expect(h.err[0]).toBe(`Error: GET ${API}/info: server sent 200 with a body that is not JSON: hello`);
  });

  test("network failures are one line", async () => {
    const out: string[] = [];
    const err: string[] = [];
    const refused = (async () => {
      throw Object.assign(new TypeError("ECONNREFUSED: Unable to connect"), { code: "ECONNREFUSED" });
    }) as unknown as typeof fetch;
    const code = await runCli(["-E", "https://127.0.0.1:1", "info"], {}, { out: (s) => out.push(s), err: (s) => err.push(s) }, {
      fetch: refused,
      serve: async () => 0,
    });
    expect(code).toBe(1);
    expect(err).toEqual(["Error: cannot reach https://127.0.0.1:1: connection refused"]);
  });
});

describe("auth headers", () => {
  test("basic and bearer", async () => {
    const h = harness(() => ({ body: {} }));
    await h.run(["-U", "admin", "-P", "pw:1", "info"]);
    await h.run(["info"], { SOCLE_TOKEN: "tok" });
    expect(h.seen[0]?.headers.authorization).toBe(`Basic ${btoa("admin:pw:1")}`);
    expect(h.seen[1]?.headers.authorization).toBe("Bearer tok");
  });

  test("token with password is refused before any request", async () => {
    const h = harness();
    expect(await h.run(["-T", "t", "info"], { SOCLE_USERNAME: "u", SOCLE_PASSWORD: "p" })).toBe(2);
    expect(h.err[0]).toBe("Error: -T: a token cannot be combined with SOCLE_USERNAME (use one way to log in)");
    expect(h.seen).toHaveLength(0);
  });
});

describe("extra verbs", () => {
  test("machines runnable true|false: a JSON Patch of Runnable", async () => {
    const h = harness((s) => ({ body: { Uuid: "u1", Runnable: (s.body as { value: boolean }[])[0]?.value } }));
    expect(await h.run(["machines", "runnable", "Name:n1", "false"])).toBe(0);
    expect(h.seen[0]).toMatchObject({ method: "PATCH", url: `${API}/machines/Name%3An1`, body: [{ op: "replace", path: "/Runnable", value: false }] });
    expect(h.seen[0]?.headers["content-type"]).toBe("application/json-patch+json");
    expect(JSON.parse(h.out[0] as string)).toEqual({ Uuid: "u1", Runnable: false });
    expect(await h.run(["machines", "runnable", "n1", "maybe"])).toBe(2);
    expect(h.seen).toHaveLength(1);
  });

  test("machines wait: GET, then long-polls by Uuid with the ETag it holds until the field matches", async () => {
    let n = 0;
    const h = harness(() => {
      n++;
      if (n === 1) return { body: { Uuid: "u1", Stage: "a" }, headers: { ETag: '"e1"' } };
      if (n === 2) return { status: 304, headers: { ETag: '"e1"' } };
      if (n === 3) return { body: { Uuid: "u1", Stage: "b" }, headers: { ETag: '"e2"' } };
      return { body: { Uuid: "u1", Stage: "done" }, headers: { ETag: '"e3"' } };
    });
    expect(await h.run(["machines", "wait", "Name:n1", "Stage", "done", "--timeout", "90s"])).toBe(0);
    expect(h.out).toEqual([]);
    expect(h.seen.map((s) => [s.url, s.headers["if-none-match"], s.headers.prefer])).toEqual([
      [`${API}/machines/Name%3An1`, undefined, undefined],
      [`${API}/machines/u1`, '"e1"', expect.stringMatching(/^wait=(89|90)(\.\d+)?s$/)],
      [`${API}/machines/u1`, '"e1"', expect.stringMatching(/^wait=\d+(\.\d+)?s$/)],
      [`${API}/machines/u1`, '"e2"', expect.stringMatching(/^wait=\d+(\.\d+)?s$/)],
    ]);
  });

  test("machines wait: values compare as JSON or text; the default timeout asks for the longest wait", async () => {
    const h = harness(() => ({ body: { Uuid: "u1", Runnable: true, Stage: "true", Params: { a: [1] } }, headers: { ETag: '"e1"' } }));
    expect(await h.run(["machines", "wait", "u1", "Runnable", "true"])).toBe(0);
    expect(await h.run(["machines", "wait", "u1", "Stage", "true"])).toBe(0);
    expect(await h.run(["machines", "wait", "u1", "Params", '{"a":[1]}'])).toBe(0);
    expect(h.seen).toHaveLength(3);
    const never = harness((s) => (s.headers["if-none-match"] ? { status: 304 } : { body: { Uuid: "u1", Runnable: false }, headers: { ETag: '"e1"' } }));
    const running = never.run(["machines", "wait", "u1", "Runnable", "true", "--timeout", "1s"]);
    expect(await running).toBe(1);
    expect(never.seen[1]?.headers.prefer).toBe("wait=1s");
    expect(never.err).toEqual(["Error: timed out after 1s: machine u1 has Runnable false, waiting for true"]);
    // Default timeout 10m: one request waits at most 5m (the server's limit is 10m).
    const long = harness((s) => ({ body: { Uuid: "u1", Runnable: s.headers["if-none-match"] !== undefined }, headers: { ETag: '"e1"' } }));
    expect(await long.run(["machines", "wait", "u1", "Runnable", "true"])).toBe(0);
    expect(long.seen[1]?.headers.prefer).toBe("wait=5m");
    const zero = harness(() => ({ body: { Uuid: "u1", Runnable: false }, headers: { ETag: '"e1"' } }));
    expect(await zero.run(["machines", "wait", "u1", "Runnable", "true", "--timeout", "0"])).toBe(1);
    expect(zero.seen).toHaveLength(1);
  });

  test("machines params [--aggregate]", async () => {
    const h = harness(() => ({ body: { a: 1 } }));
    expect(await h.run(["machines", "params", "Name:n1", "--aggregate"])).toBe(0);
    expect(await h.run(["machines", "params", "u1"])).toBe(0);
    expect(h.seen[0]?.url).toBe(`${API}/machines/Name%3An1/params?aggregate=true`);
    expect(h.seen[1]?.url).toBe(`${API}/machines/u1/params`);
  });

  test("machines set ... param ... to: JSON values, plain strings, null removes", async () => {
    const h = harness((s) => ({ body: s.method === "DELETE" ? "old" : s.body }));
    expect(await h.run(["machines", "set", "Name:n1", "param", "a/b", "to", '{"x":[1]}'])).toBe(0);
    expect(await h.run(["machines", "set", "n1", "param", "a/b", "to", "web1"])).toBe(0);
    expect(await h.run(["machines", "set", "n1", "param", "a/b", "to", "-5"])).toBe(0);
    expect(await h.run(["machines", "set", "n1", "param", "a/b", "to", "null"])).toBe(0);
    expect(h.seen.map((s) => [s.method, s.url, s.body])).toEqual([
      ["POST", `${API}/machines/Name%3An1/params/a%2Fb`, { x: [1] }],
      ["POST", `${API}/machines/n1/params/a%2Fb`, "web1"],
      ["POST", `${API}/machines/n1/params/a%2Fb`, -5],
      ["DELETE", `${API}/machines/n1/params/a%2Fb`, undefined],
    ]);
    expect(h.out).toEqual(['{\n  "x": [\n    1\n  ]\n}', '"web1"', "-5", "null"]);
    expect(await h.run(["machines", "set", "n1", "param", "x", "=", "1"])).toBe(2);
  });

  test("profiles params", async () => {
    const h = harness(() => ({ body: { "ntp-servers": ["a"] } }));
    expect(await h.run(["profiles", "params", "global"])).toBe(0);
    expect(h.seen[0]?.url).toBe(`${API}/profiles/global/params`);
    expect(JSON.parse(h.out[0]!)).toEqual({ "ntp-servers": ["a"] });
  });

  test("users token and password", async () => {
    const h = harness(() => ({ body: { Token: "t" } }));
    expect(await h.run(["users", "token", "admin", "--ttl", "60"])).toBe(0);
    expect(h.seen[0]?.url).toBe(`${API}/users/admin/token?ttl=60`);
    expect(await h.run(["users", "password", "bob", "n3w-pass"])).toBe(0);
    expect(h.seen[1]).toMatchObject({ method: "POST", url: `${API}/users/bob/password`, body: { Password: "n3w-pass" } });
    expect(await h.run(["users", "password", "bob", "-"], {}, "from-stdin\n")).toBe(0);
    expect(h.seen[2]?.body).toEqual({ Password: "from-stdin" });
    expect(h.out.at(-1)).toBe("Password of user bob changed");
    expect(await h.run(["users", "token", "admin", "--ttl", "0"])).toBe(2);
  });

  test("prefs list and set", async () => {
    const h = harness((s) => ({ body: s.body ?? { defaultBootEnv: "local" } }));
    expect(await h.run(["prefs", "list", "-o", "table"])).toBe(0);
    expect(h.out[0]).toBe("FIELD           VALUE\ndefaultBootEnv  local");
    expect(await h.run(["prefs", "set", "defaultBootEnv=discovery", "unknownBootEnv=ignore"])).toBe(0);
    expect(h.seen[1]).toMatchObject({ method: "POST", url: `${API}/prefs`, body: { defaultBootEnv: "discovery", unknownBootEnv: "ignore" } });
    expect(await h.run(["prefs", "set", "novalue"])).toBe(2);
    expect(await h.run(["prefs"])).toBe(2);
  });

  test("info", async () => {
    const h = harness(() => ({ body: { Version: "0.1.0" } }));
    expect(await h.run(["-E", "https://h:9/", "info"])).toBe(0);
    expect(h.seen[0]?.url).toBe("https://h:9/api/v3/info");
  });
});

describe("local verbs", () => {
  const dir = mkdtempSync(join(tmpdir(), "socle-pki-"));
  afterAll(() => rmSync(dir, { recursive: true }));

  test("pki ca prints the data dir's CA without calling the API", async () => {
    mkdirSync(join(dir, "pki"));
    writeFileSync(join(dir, "pki", "ca.pem"), "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    const h = harness();
    expect(await h.run(["pki", "ca", "--data-dir", dir])).toBe(0);
    expect(await h.run(["pki", "ca"], { SOCLE_DATA_DIR: dir })).toBe(0);
    expect(h.out).toEqual([
      "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
      "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
    ]);
    expect(h.seen).toHaveLength(0);
  });

  test("pki ca without a CA says where it looked", async () => {
    const h = harness();
    expect(await h.run(["pki", "ca", "--data-dir", join(dir, "none")])).toBe(1);
    expect(h.err[0]).toBe(
      `Error: cannot read CA certificate "${join(dir, "none", "pki", "ca.pem")}": no such file (the server creates it on first start; is --data-dir right?)`,
    );
  });

  test("version, help, unknown commands", async () => {
    const h = harness();
    expect(await h.run(["version"])).toBe(0);
    expect(h.out[0]).toMatch(/^socle \d+\.\d+\.\d+ \(bun \d+\.\d+\.\d+, linux-(x64|arm64)\)$/);
    expect(await h.run(["help"])).toBe(0);
    expect(h.out[1]).toContain("socle <type> list");
    expect(h.out[1]).toContain("SOCLE_ENDPOINT");
    expect(await h.run(["machines", "help"])).toBe(0);
    expect(h.out[2]).toContain("socle machines set <key> param <name> to <json-value>");
    expect(await h.run([])).toBe(2);
    expect(await h.run(["machine", "list"])).toBe(2);
    expect(h.err.at(-1)).toBe('Error: unknown command "machine" (did you mean "machines"?)');
    expect(await h.run(["frobnicate"])).toBe(2);
    expect(h.err.at(-1)).toBe('Error: unknown command "frobnicate" (see socle help)');
    expect(await h.run(["-o", "xml", "info"])).toBe(2);
    expect(h.err.at(-1)).toBe('Error: -o: invalid value "xml" (expected json|yaml|table)');
    expect(h.seen).toHaveLength(0);
  });
});

describe("serve", () => {
  test("passes the parsed config to the injected server and returns its code", async () => {
    const h = harness();
    expect(await h.run(["serve", "--api-port", "0", "--disable-dhcp"], { SOCLE_LOG_LEVEL: "debug" })).toBe(0);
    expect(h.served[0]).toMatchObject({ apiPort: 0, disableDhcp: true, logLevel: "debug", dataDir: "/nonexistent-socle-test" });
  });

  test("bad serve flags exit 2 without starting anything", async () => {
    const h = harness();
    expect(await h.run(["serve", "--api-port", "80a"])).toBe(2);
    expect(h.err).toEqual(['Error: --api-port: invalid port "80a" (expected an integer 0-65535)']);
    expect(h.served).toHaveLength(0);
  });

  test("serve --help", async () => {
    const h = harness();
    expect(await h.run(["serve", "--help"])).toBe(0);
    expect(h.out[0]).toContain("--disable-static");
    expect(h.served).toHaveLength(0);
  });

  test("a server that throws is reported, not crashed", async () => {
    const err: string[] = [];
    const code = await runCli(["serve"], {}, { out: () => {}, err: (s) => err.push(s) }, {
      serve: async () => {
        throw new Error("address in use");
      },
    });
    expect(code).toBe(1);
    expect(err).toEqual(["Error: serve: address in use"]);
  });
});
