// An ISO uploaded through the API (PUT /api/v3/isos/<name>) is exploded into the install tree of
// every boot environment that names it (OS.IsoFile): the environment becomes Available, and the
// boot file server serves the kernel byte for byte. A SHA-256 that differs from OS.IsoSha256, and
// a hostile image (a symlink out of the tree), explode nowhere and leave the old tree. Images are
// built here with xorriso; skips, saying so, without it.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ADMIN_PASSWORD, basic, freePort, startTestSocle, type TestSocle } from "./helpers/socle.ts";
import { runCli } from "../src/cli/main.ts";
import { readSse } from "./helpers/sse.ts";

const XORRISO = Bun.which("xorriso");
if (!XORRISO) console.log("skip: test/iso-import.test.ts needs xorriso (apt-get install xorriso, or test/lab/install-deps.sh --extras)");

let s: TestSocle;
let dir = "";
let httpPort = 0;
const KERNEL = new Uint8Array(300_000).map((_, i) => (i * 13) & 0xff);
const INITRD = new Uint8Array(120_000).map((_, i) => (i * 5) & 0xff);
const TREEINFO = "[general]\nname = test\n";
const BYTES = KERNEL.length + INITRD.length + TREEINFO.length;

function iso(name: string, root: string): Uint8Array {
  const out = join(dir, name);
  const r = Bun.spawnSync([XORRISO!, "-as", "mkisofs", "-quiet", "-R", "-J", "-o", out, root], { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(r.stderr.toString());
  return new Uint8Array(readFileSync(out));
}

const env = (name: string, os: Record<string, string>) => ({
  Name: name,
  OS: { Name: name, ...os },
  Kernel: `${name}/install/images/pxeboot/vmlinuz`,
  Initrds: [`${name}/install/images/pxeboot/initrd.img`],
  BootParams: "",
});

beforeAll(async () => {
  if (!XORRISO) return;
  dir = mkdtempSync(join(tmpdir(), "socle-iso-import-"));
  httpPort = freePort();
  s = await startTestSocle(["--disable-static=false", "--static-listen", "127.0.0.1", "--static-port", String(httpPort), "--address", "127.0.0.1"]);
  const tree = join(dir, "tree");
  mkdirSync(join(tree, "images", "pxeboot"), { recursive: true });
  writeFileSync(join(tree, "images", "pxeboot", "vmlinuz"), KERNEL);
  writeFileSync(join(tree, "images", "pxeboot", "initrd.img"), INITRD);
  writeFileSync(join(tree, ".treeinfo"), TREEINFO);
});
afterAll(async () => {
  await s?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A tree whose images/initrd.img is a symlink out of it (a fresh copy per call). */
function hostileTree(): string {
  const bad = mkdtempSync(join(dir, "bad-"));
  mkdirSync(join(bad, "images"), { recursive: true });
  writeFileSync(join(bad, "images", "vmlinuz"), "evil");
  symlinkSync("../../../../settings.json", join(bad, "images", "initrd.img"));
  return bad;
}

const upload = (name: string, body: Uint8Array) => s.call("PUT", `/api/v3/isos/${name}`, { raw: body, type: "application/octet-stream" });
const available = async (name: string) => (await s.call("GET", `/api/v3/bootenvs/${name}`)).body.Available;

test.skipIf(!XORRISO)("an uploaded ISO is exploded into each env that names it; the env becomes Available; the kernel is served byte for byte", async () => {
  const img = iso("good.iso", join(dir, "tree"));
  const sha = new Bun.CryptoHasher("sha256").update(img).digest("hex");
  expect((await s.call("POST", "/api/v3/bootenvs", { body: env("isotest", { IsoFile: "good.iso" }) })).status).toBe(201);
  expect((await s.call("POST", "/api/v3/bootenvs", { body: env("pinned", { IsoFile: "good.iso", IsoSha256: sha }) })).status).toBe(201);
  expect(await available("isotest")).toBe(false);
  const r = await upload("good.iso", img);
  expect(r.status).toBe(201);
  expect(r.body.Sha256).toBe(sha);
  expect(r.body.Exploded).toEqual([
    { BootEnv: "isotest", Path: "isotest/install", Files: 3, Bytes: BYTES },
    { BootEnv: "pinned", Path: "pinned/install", Files: 3, Bytes: BYTES },
  ]);
  expect(await available("isotest")).toBe(true);
  expect(await available("pinned")).toBe(true);
  const k = await fetch(`http://127.0.0.1:${httpPort}/isotest/install/images/pxeboot/vmlinuz`);
  expect(k.status).toBe(200);
  expect(Buffer.compare(new Uint8Array(await k.arrayBuffer()), KERNEL)).toBe(0);
});

test.skipIf(!XORRISO)("an image whose SHA-256 is not the env's OS.IsoSha256 explodes nowhere for it", async () => {
  const img = iso("other.iso", join(dir, "tree"));
  const wrong = "0".repeat(64);
  expect((await s.call("POST", "/api/v3/bootenvs", { body: env("wrongsum", { IsoFile: "other.iso", IsoSha256: wrong }) })).status).toBe(201);
  const r = await upload("other.iso", img);
  expect(r.status).toBe(201);
  expect(r.body.Exploded).toHaveLength(1);
  expect(r.body.Exploded[0].Error).toContain(`wants ${wrong} (OS.IsoSha256): not exploded`);
  expect(existsSync(join(s.dir, "files", "wrongsum"))).toBe(false);
  expect(await available("wrongsum")).toBe(false);
});

test.skipIf(!XORRISO)("attacker: an image with a symlink out of the tree is refused with the reason; the env's old tree stays, nothing half-written", async () => {
  expect((await s.call("POST", "/api/v3/bootenvs", { body: env("hostile", { IsoFile: "hostile.iso" }) })).status).toBe(201);
  const old = join(s.dir, "files", "hostile", "install", "images", "pxeboot");
  mkdirSync(old, { recursive: true });
  writeFileSync(join(old, "vmlinuz"), "old kernel");
  const r = await upload("hostile.iso", iso("hostile.iso", hostileTree()));
  expect(r.status).toBe(201); // the upload itself is stored; its explode is refused
  expect(r.body.Exploded[0].Error).toContain("hostile.iso refused: images/initrd.img: symlink to");
  expect(readFileSync(join(old, "vmlinuz"), "utf8")).toBe("old kernel");
  expect(readdirSync(join(s.dir, "files", "hostile"))).toEqual(["install"]);
});

test.skipIf(!XORRISO)("an ISO no env names is stored only", async () => {
  const r = await upload("nobody.iso", iso("nobody.iso", join(dir, "tree")));
  expect(r.status).toBe(201);
  expect(r.body.Exploded).toEqual([]);
});

test.skipIf(!XORRISO)("the CLI: `socle isos upload` prints what each env got, and a refused explode on stderr with exit 1", async () => {
  expect((await s.call("POST", "/api/v3/bootenvs", { body: env("clienv", { IsoFile: "cli.iso" }) })).status).toBe(201);
  const caFile = join(dir, "ca.pem");
  writeFileSync(caFile, s.socle.caCertPem);
  const run = async (file: string) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(["-E", s.base, "--ca-file", caFile, "-U", "admin", "-P", ADMIN_PASSWORD, "isos", "upload", file, "cli.iso"], { SOCLE_DATA_DIR: join(dir, "none") }, { out: (l) => out.push(l), err: (l) => err.push(l) }, { serve: async () => 0 });
    return { code, out: out.join("\n"), err: err.join("\n") };
  };
  iso("cli-good.iso", join(dir, "tree"));
  iso("cli-bad.iso", hostileTree());
  const good = await run(join(dir, "cli-good.iso"));
  expect(good.code).toBe(0);
  expect(good.out).toContain("clienv/install");
  // The progress bar on stderr, from the event stream.
  expect(good.err).toContain("cli.iso -> clienv/install: [##########] done 3/3 files");
  const bad = await run(join(dir, "cli-bad.iso"));
  expect(bad.code).toBe(1);
  expect(bad.err).toContain("bootenv clienv: cli.iso refused: images/initrd.img: symlink to");
});

test.skipIf(!XORRISO)("a boot environment created after its ISO was uploaded gets its tree in the background, and is Available then", async () => {
  const r = await upload("later.iso", iso("later.iso", join(dir, "tree")));
  expect(r.body.Exploded).toEqual([]);
  expect((await s.call("POST", "/api/v3/bootenvs", { body: env("latecomer", { IsoFile: "later.iso" }) })).status).toBe(201);
  let ok = false;
  for (let i = 0; i < 100 && !ok; i++) {
    ok = (await available("latecomer")) === true;
    if (!ok) await Bun.sleep(100);
  }
  expect(ok).toBe(true);
  expect(Buffer.compare(readFileSync(join(s.dir, "files", "latecomer", "install", "images", "pxeboot", "initrd.img")), INITRD)).toBe(0);
  // Naming an ISO that is not there yet changes nothing until it is uploaded.
  expect((await s.call("POST", "/api/v3/bootenvs", { body: env("early", { IsoFile: "not-yet.iso" }) })).status).toBe(201);
  await Bun.sleep(300);
  expect(existsSync(join(s.dir, "files", "early"))).toBe(false);
});

test.skipIf(!XORRISO)("progress on the event stream: `isos` `progress` events (exploding, then done with the totals)", async () => {
  expect((await s.call("POST", "/api/v3/bootenvs", { body: env("watched", { IsoFile: "watched.iso" }) })).status).toBe(201);
  const ac = new AbortController();
  const res = await fetch(`${s.base}/api/v3/events?type=isos&key=watched.iso`, {
    headers: { Authorization: basic("admin", ADMIN_PASSWORD) },
    signal: ac.signal,
    tls: { ca: s.socle.caCertPem },
  } as RequestInit);
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();
  const events: Array<Record<string, unknown>> = [];
  let buf = "";
  const collect = (async () => {
    const dec = new TextDecoder();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buf += dec.decode(value, { stream: true });
      for (let i = buf.indexOf("\n\n"); i >= 0; i = buf.indexOf("\n\n")) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const data = block.split("\n").find((l) => l.startsWith("data: "));
        if (data && block.includes("event: isos.progress")) events.push(JSON.parse(data.slice(6)).Object);
      }
      if (events.some((e) => e.State === "done" || e.State === "refused")) return;
    }
  })().catch(() => {});
  await Bun.sleep(100);
  expect((await upload("watched.iso", iso("watched.iso", join(dir, "tree")))).status).toBe(201);
  await Promise.race([collect, Bun.sleep(5000)]);
  ac.abort();
  expect(events.map((e) => e.State)).toEqual(["exploding", "done"]);
  expect(events.at(-1)).toMatchObject({ Iso: "watched.iso", BootEnv: "watched", Path: "watched/install", Files: 3, Bytes: BYTES, TotalFiles: 3, TotalBytes: BYTES });
});

test.skipIf(!XORRISO)("POST /bootenvs/<name>/fetch-iso: the server fetches OS.IsoUrl (a local server here), checks OS.IsoSha256, explodes it; not again once there; a failed fetch is 503 naming it; no URL is 422", async () => {
  const img = iso("remote.iso", join(dir, "tree"));
  const sha = new Bun.CryptoHasher("sha256").update(img).digest("hex");
  let gets = 0;
  const remote = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (req) => {
      if (new URL(req.url).pathname !== "/remote.iso") return new Response("no", { status: 404 });
      gets++;
      return new Response(img, { headers: { ETag: '"r1"' } });
    },
  });
  try {
    const base = `http://127.0.0.1:${remote.port}`;
    expect((await s.call("POST", "/api/v3/bootenvs", { body: env("fetched", { IsoFile: "fetched.iso", IsoUrl: `${base}/remote.iso`, IsoSha256: sha }) })).status).toBe(201);
    const r = await s.call("POST", "/api/v3/bootenvs/fetched/fetch-iso");
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ Iso: "fetched.iso", Size: img.length, Sha256: sha, Fetched: true, ResumedFrom: 0 });
    expect(r.body.Exploded).toEqual([{ BootEnv: "fetched", Path: "fetched/install", Files: 3, Bytes: BYTES }]);
    expect(await available("fetched")).toBe(true);
    const again = await s.call("POST", "/api/v3/bootenvs/fetched/fetch-iso");
    expect([again.status, again.body.Fetched, gets]).toEqual([200, false, 1]);

    expect((await s.call("POST", "/api/v3/bootenvs", { body: env("gone", { IsoFile: "gone.iso", IsoUrl: `${base}/gone.iso` }) })).status).toBe(201);
    const gone = await s.call("POST", "/api/v3/bootenvs/gone/fetch-iso");
    expect(gone.status).toBe(503);
    expect(JSON.stringify(gone.body)).toContain("HTTP 404");
    expect(existsSync(join(s.dir, "isos", "gone.iso"))).toBe(false);

    // The CLI: the fetch and the explode as bars on stderr, the answer on stdout.
    expect((await s.call("POST", "/api/v3/bootenvs", { body: env("clifetch", { IsoFile: "clifetch.iso", IsoUrl: `${base}/remote.iso` }) })).status).toBe(201);
    const caFile = join(dir, "ca-fetch.pem");
    writeFileSync(caFile, s.socle.caCertPem);
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(["-E", s.base, "--ca-file", caFile, "-U", "admin", "-P", ADMIN_PASSWORD, "bootenvs", "fetch-iso", "clifetch"], { SOCLE_DATA_DIR: join(dir, "none") }, { out: (l) => out.push(l), err: (l) => err.push(l) }, { serve: async () => 0 });
    expect(`${code} ${err.join("\n")}`).toContain("0 ");
    expect(err.join("\n")).toContain("clifetch.iso -> isos/clifetch.iso: [##########] 100%");
    expect(err.join("\n")).toContain("clifetch.iso -> clifetch/install: [##########] done 3/3 files");
    expect(out.join("\n")).toContain('"Fetched": true');

    expect((await s.call("POST", "/api/v3/bootenvs", { body: env("nourl", { IsoFile: "nourl.iso" }) })).status).toBe(201);
    const nourl = await s.call("POST", "/api/v3/bootenvs/nourl/fetch-iso");
    expect(nourl.status).toBe(422);
    expect(JSON.stringify(nourl.body)).toContain("OS.IsoUrl is empty");
  } finally {
    remote.stop(true);
  }
});

test.skipIf(!XORRISO)("attacker with only isos rights: storing an ISO writes no install tree under files/, and a watcher without bootenvs rights sees no env's progress", async () => {
  expect((await s.call("POST", "/api/v3/bootenvs", { body: env("guarded", { IsoFile: "guarded.iso" }) })).status).toBe(201);
  expect((await s.call("POST", "/api/v3/roles", { body: { Name: "iso-only", Claims: [{ Scope: "isos,events", Action: "list,get,create", Specific: "*" }] } })).status).toBe(201);
  expect((await s.call("POST", "/api/v3/users", { body: { Name: "iso-user", Password: "iso-user-password-1", Roles: ["iso-only"] } })).status).toBe(201);
  const isoUser = basic("iso-user", "iso-user-password-1");

  // Its own upload is stored, but the env's tree is not written: the user may not create files.
  const img = iso("guarded.iso", join(dir, "tree"));
  const mine = await s.call("PUT", "/api/v3/isos/guarded.iso", { raw: img, type: "application/octet-stream", auth: isoUser });
  expect(mine.status).toBe(201);
  expect(mine.body.Exploded).toHaveLength(1);
  expect(mine.body.Exploded[0].Error).toContain(`may not create files "guarded/install": not exploded`);
  expect(existsSync(join(s.dir, "files", "guarded"))).toBe(false);

  // The admin's upload explodes; the iso user's stream carries none of its progress, the admin's does.
  const watching = readSse(await s.req("GET", "/api/v3/events?type=isos", { auth: isoUser }), 1, 2500);
  const admins = readSse(await s.req("GET", "/api/v3/events?type=isos"), 1, 5000);
  await Bun.sleep(100);
  const r = await upload("guarded.iso", img);
  expect(r.body.Exploded[0].Error).toBeUndefined();
  // One or more progress events (exploding, done), all for the env.
  expect([...new Set((await admins).map((e) => e.Object.BootEnv))]).toEqual(["guarded"]);
  expect(await watching).toEqual([]);
});
