// The CLI against real HTTPS on 127.0.0.1: trust (pinned CA, auto-found CA, -k, wrong CA, wrong
// host, expired), network failures, and a create/list/show/destroy round trip.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ApiClient } from "../src/cli/api-client.ts";
import { runCli } from "../src/cli/main.ts";
import { makeTestPki, startFakeApi, type FakeApi, type TestPki } from "./cli-fake-api.ts";

let pki: TestPki;
let otherPki: TestPki;
let api: FakeApi;
let dir: string;
let caFile: string;
let otherCaFile: string;

beforeAll(() => {
  pki = makeTestPki();
  otherPki = makeTestPki("Some Other CA");
  api = startFakeApi({ tls: pki.issue({ ips: ["127.0.0.1"] }), requireAuth: true });
  dir = mkdtempSync(join(tmpdir(), "socle-cli-https-"));
  caFile = join(dir, "ca.pem");
  otherCaFile = join(dir, "other-ca.pem");
  writeFileSync(caFile, pki.ca.cert);
  writeFileSync(otherCaFile, otherPki.ca.cert);
  mkdirSync(join(dir, "data", "pki"), { recursive: true });
  writeFileSync(join(dir, "data", "pki", "ca.pem"), pki.ca.cert);
});

afterAll(() => {
  api.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function cli(argv: string[], env: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  // SOCLE_DATA_DIR points at an empty place unless a test sets it, so no CA is found by accident.
  const code = await runCli(argv, { SOCLE_DATA_DIR: join(dir, "empty"), ...env }, {
    out: (s) => out.push(s),
    err: (s) => err.push(s),
  }, { serve: async () => 0 });
  return { code, out, err, stdout: out.join("\n"), stderr: err.join("\n") };
}

const auth = ["-U", "admin", "-P", "secret-pw"];

describe("TLS trust", () => {
  test("--ca-file pins our CA", async () => {
    const r = await cli(["-E", api.url, ...auth, "--ca-file", caFile, "info"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ Version: "fake", Id: "test" });
  });

  test("the CA of SOCLE_DATA_DIR is found without flags", async () => {
    const r = await cli(["-E", api.url, ...auth, "info"], { SOCLE_DATA_DIR: join(dir, "data") });
    expect(r.code).toBe(0);
  });

  test("without a CA the system roots reject our certificate, with a hint", async () => {
    const r = await cli(["-E", api.url, ...auth, "info"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      // "by the CA in socle-data/pki/ca.pem" appears if a server ran from this checkout before.
      new RegExp(`^Error: TLS: certificate of ${api.url} not trusted( by the CA in \\S+)? \\([A-Z_]+\\): pass --ca-file \\(socle pki ca > ca.pem\\) or -k$`),
    );
  });

  test("a different CA does not verify the server", async () => {
    const r = await cli(["-E", api.url, ...auth, "--ca-file", otherCaFile, "info"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`not trusted by the CA in ${otherCaFile}`);
  });

  test("-k skips verification only when asked", async () => {
    const r = await cli(["-E", api.url, ...auth, "-k", "info"]);
    expect(r.code).toBe(0);
  });

  test("a certificate for another name", async () => {
    const wrong = startFakeApi({ tls: pki.issue({ ips: [], dns: ["socle.test"] }) });
    try {
      const r = await cli(["-E", wrong.url, "--ca-file", caFile, "info"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`Error: TLS: certificate of ${wrong.url} is not valid for host "127.0.0.1": use a name or address the certificate lists`);
    } finally {
      wrong.stop();
    }
  });

  test("an expired certificate", async () => {
    const old = startFakeApi({
      tls: pki.issue({ notBefore: new Date(Date.now() - 7200_000), notAfter: new Date(Date.now() - 3600_000) }),
    });
    try {
      const r = await cli(["-E", old.url, "--ca-file", caFile, "info"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`Error: TLS: certificate of ${old.url} has expired`);
    } finally {
      old.stop();
    }
  });
});

describe("network failures", () => {
  test("connection refused", async () => {
    const gone = startFakeApi();
    const port = gone.port;
    gone.stop();
    const r = await cli(["-E", `https://127.0.0.1:${port}`, "info"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`Error: cannot reach https://127.0.0.1:${port}: connection refused`);
  });

  test("https:// to a plain HTTP port", async () => {
    const plain = startFakeApi();
    try {
      const r = await cli(["-E", `https://127.0.0.1:${plain.port}`, "info"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`Error: TLS: handshake with https://127.0.0.1:${plain.port} failed: does the server speak TLS there? (try http://)`);
    } finally {
      plain.stop();
    }
  });

  test("http:// to the TLS port", async () => {
    const r = await cli(["-E", `http://127.0.0.1:${api.port}`, "info"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toStartWith(`Error: cannot reach http://127.0.0.1:${api.port}: `);
  });

  test("a server that does not answer times out", async () => {
    let release: () => void = () => {};
    const held = new Promise<void>((r) => (release = r));
    const slow = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: async () => {
        await Promise.race([held, Bun.sleep(5000)]);
        return new Response("{}");
      },
    });
    try {
      const client = new ApiClient({
        endpoint: `http://127.0.0.1:${slow.port}`,
        auth: { kind: "none" },
        ca: undefined,
        caLabel: "",
        insecure: false,
        timeoutMs: 300,
      });
      const err = await client.request("GET", "info").catch((e: Error) => e);
      expect((err as Error).message).toBe(`cannot reach http://127.0.0.1:${slow.port}: no answer within 0.3s`);
    } finally {
      release();
      slow.stop(true);
    }
  });
});

describe("round trip", () => {
  test("create, list, show by index key, exists, destroy", async () => {
    const base = ["-E", api.url, "--ca-file", caFile, ...auth];
    const created = await cli([...base, "machines", "create", "Name: web-1\nHardwareAddrs: ['52:54:00:00:00:01']"]);
    expect(created.code).toBe(0);
    const uuid = JSON.parse(created.stdout).Uuid as string;
    expect(uuid).toMatch(/^[0-9a-f-]{36}$/);

    const listed = await cli([...base, "-o", "table", "machines", "list", "Name=Eq(web-1)"]);
    expect(listed.code).toBe(0);
    expect(listed.stdout.split("\n")[1]).toMatch(new RegExp(`^${uuid}\\s+web-1\\s+52:54:00:00:00:01$`));
    const seenList = api.requests.findLast((r) => r.method === "GET" && r.path === "/api/v3/machines");
    expect(seenList?.search).toBe("?Name=Eq%28web-1%29");

    const shown = await cli([...base, "-o", "yaml", "machines", "show", "Name:web-1"]);
    expect(shown.stdout).toContain(`Uuid: ${uuid}`);
    expect((await cli([...base, "machines", "exists", "Name:web-1"])).code).toBe(0);

    const dup = await cli([...base, "profiles", "create", '{"Name":"p"}']);
    expect(dup.code).toBe(0);
    const again = await cli([...base, "profiles", "create", '{"Name":"p"}']);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe('Error: Conflict 409: profiles "p" already exists');

    const gone = await cli([...base, "machines", "destroy", "Name:web-1"]);
    expect(gone.stdout).toBe("Deleted machine Name:web-1");
    const missing = await cli([...base, "machines", "exists", "Name:web-1"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe('Error: NotFound 404: machines "Name:web-1" not found');
  });

  test("no credentials: the request goes out without auth and the 401 is shown", async () => {
    const before = api.requests.length;
    const r = await cli(["-E", api.url, "--ca-file", caFile, "info"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toStartWith("Error: Unauthorized 401: authentication required\nhint: no credentials were given");
    expect(api.requests[before]?.authorization).toBeNull();
  });

  test("bearer token", async () => {
    expect((await cli(["-E", api.url, "--ca-file", caFile, "-T", "good-token", "info"])).code).toBe(0);
    const bad = await cli(["-E", api.url, "--ca-file", caFile, "-T", "bad-token", "info"]);
    expect(bad.stderr).toBe("Error: Unauthorized 401: authentication required");
  });
});
