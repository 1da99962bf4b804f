// A newcomer's first two minutes, as CI proves them: clone the repository (what is committed, no
// more) into a temporary directory, run the README's `npm install` (whose postinstall obtains the
// loaders and discovery images through the system's apt), `npm start`, and fetch undionly.kpxe,
// ipxe.efi and the discovery kernel over TFTP and HTTP, byte for byte what the clone obtained.
// The server runs in a network namespace of its own (only `lo`), so its TFTP never listens on a
// real interface. Needs root, git, iproute2 and curl; skipped with the reason otherwise. Prints
// bun-test-style summary lines for test/run-all.ts.
//
//   bun test/fresh-clone.ts

import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { steps } from "./helpers/steps.ts";

const ROOT = resolve(import.meta.dir, "..");
const PASSWORD = "fresh-clone-pw-1";
const PATH = process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin";
const { step, skip, finish } = steps("fresh clone");

async function run(cmd: string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<{ code: number; out: string }> {
  const p = Bun.spawn(cmd, { cwd: opts.cwd, env: { ...process.env, PATH }, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const timer = setTimeout(() => p.kill("SIGKILL"), opts.timeoutMs ?? 60_000);
  const [o, e, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(timer);
  return { code, out: o + e };
}

function skipReason(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root (the server runs in a network namespace of its own)";
  for (const bin of ["git", "ip", "curl", "npm", "setsid"]) if (Bun.which(bin) === null) return `needs ${bin}`;
  if (!existsSync(join(ROOT, ".git"))) return "not a git checkout";
  return undefined;
}

async function main(): Promise<void> {
  const why = skipReason();
  if (why) {
    skip("clone, npm install, npm start, boot files over TFTP and HTTP", why);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), "socle-fresh-"));
  const clone = join(dir, "socle");
  const ns = `socle-fresh-${process.pid}`;
  let server: ReturnType<typeof Bun.spawn> | undefined;
  let log = "";
  try {
    await step("git clone of HEAD", async () => {
      const r = await run(["git", "clone", "--quiet", "--no-hardlinks", ROOT, clone]);
      if (r.code !== 0) throw new Error(r.out.trim());
    });
    await step("npm install (postinstall obtains loaders and discovery images)", async () => {
      const r = await run(["npm", "install", "--no-audit", "--no-fund"], { cwd: clone, timeoutMs: 15 * 60_000 });
      console.log(r.out.split("\n").filter((l) => l.includes("assets:")).join("\n"));
      if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.out.trim().split("\n").slice(-8).join(" | ")}`);
      for (const f of ["undionly.kpxe", "ipxe.efi", "discovery/amd64/vmlinuz", "discovery/amd64/initrd.img", "discovery/arm64/vmlinuz", "grubnetaa64.efi"]) {
        if (!existsSync(join(clone, "assets", "boot", f))) throw new Error(`assets/boot/${f} missing after npm install`);
      }
    });
    await step("npm start in its own namespace answers, nothing missing in info", async () => {
      for (const c of [["ip", "netns", "add", ns], ["ip", "-n", ns, "link", "set", "lo", "up"]]) {
        const r = await run(c);
        if (r.code !== 0) throw new Error(`${c.join(" ")}: ${r.out.trim()}`);
      }
      // setsid: npm, sh and bun in one process group of ours, stopped together by its id.
      server = Bun.spawn(["ip", "netns", "exec", ns, "setsid", "npm", "start", "--", "--disable-dhcp", "--address", "127.0.0.1"], {
        cwd: clone,
        env: { ...process.env, PATH, SOCLE_ADMIN_PASSWORD: PASSWORD },
        stdout: "pipe",
        stderr: "pipe",
        stdin: "ignore",
      });
      for (const s of [server.stdout, server.stderr]) {
        void (async () => {
          const d = new TextDecoder();
          for await (const c of s as ReadableStream<Uint8Array>) log += d.decode(c);
        })();
      }
      const deadline = Date.now() + 60_000;
      while (!/socle started/.test(log)) {
        if (server.exitCode !== null) throw new Error(`npm start exited with ${server.exitCode}`);
        if (Date.now() > deadline) throw new Error("not started within 60 s");
        await Bun.sleep(200);
      }
      const r = await run(["ip", "netns", "exec", ns, "curl", "-sS", "--cacert", join(clone, "socle-data", "pki", "ca.pem"), "https://127.0.0.1:8092/api/v3/info"]);
      const info = JSON.parse(r.out) as { BootAssets: { Missing: unknown[] }; Services: Record<string, { Running: boolean }> };
      if (info.BootAssets.Missing.length !== 0) throw new Error(`info lists missing boot files: ${JSON.stringify(info.BootAssets.Missing)}`);
      if (!info.Services.Tftp?.Running || !info.Services.Static?.Running) throw new Error(`TFTP or HTTP not running: ${JSON.stringify(info.Services)}`);
    });
    await step("undionly.kpxe, ipxe.efi and the discovery kernel over TFTP and HTTP, byte-identical", async () => {
      const out = join(dir, "got");
      for (const f of ["undionly.kpxe", "ipxe.efi", "discovery/amd64/vmlinuz"]) {
        const want = readFileSync(join(clone, "assets", "boot", f));
        for (const url of [`tftp://127.0.0.1/${f}`, `http://127.0.0.1:8091/${f}`]) {
          rmSync(out, { force: true });
          const r = await run(["ip", "netns", "exec", ns, "curl", "-sS", "--max-time", "60", ...(url.startsWith("tftp") ? ["--tftp-blksize", "1468"] : []), "-o", out, url]);
          if (r.code !== 0) throw new Error(`curl ${url}: ${r.out.trim()}`);
          const got = readFileSync(out);
          if (Buffer.compare(got, want) !== 0) throw new Error(`${url}: ${got.length} bytes, not the ${want.length} bytes of assets/boot/${f}`);
        }
      }
    });
  } catch {
    if (log) console.log(`--- npm start output (last 30 lines) ---\n${log.trimEnd().split("\n").slice(-30).join("\n")}\n---`);
  } finally {
    if (server && server.exitCode === null) {
      try {
        process.kill(-server.pid, "SIGTERM");
      } catch {}
      const done = await Promise.race([server.exited, Bun.sleep(10_000).then(() => undefined)]);
      if (done === undefined) {
        try {
          process.kill(-server.pid, "SIGKILL");
        } catch {}
        await server.exited;
      }
    }
    await run(["ip", "netns", "del", ns]);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
finish();
