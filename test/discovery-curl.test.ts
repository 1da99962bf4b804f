// curl in the discovery initramfs that `npm install` built (assets/boot/discovery/<arch>/initrd.img,
// src/assets/discovery.ts), checked on the archive itself:
// - for amd64 and arm64, every ELF file in it finds its interpreter and the libraries it needs
//   inside the archive, on the loader's own search path (what would fail at boot as "error while
//   loading shared libraries");
// - for amd64, as root on an x86-64 host: the archive is unpacked and its curl, run with chroot,
//   fetches from a local HTTPS server whose certificate Socle's PKI code made, trusting only
//   `--cacert`, and refuses the same server with another CA (exit 60), as the machine agent will.

import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, normalize, resolve } from "node:path";
import { gunzipSync } from "node:zlib";
import { cpioRead, type CpioEntry } from "../src/assets/cpio.ts";
import { EM_AARCH64, EM_X86_64, isElf, parseElfDynamic } from "../src/assets/elf.ts";
import { librarySearchPath } from "../src/assets/program-closure.ts";
import { CA_KEY_BITS, SERVER_KEY_BITS, buildCaCert, buildServerCert, generateRsaKey } from "../src/pki/certs.ts";

const ROOT = resolve(import.meta.dir, "..");
const initrdOf = (arch: string) => join(ROOT, "assets", "boot", "discovery", arch, "initrd.img");

function entriesOf(file: string): CpioEntry[] {
  const b = readFileSync(file);
  const raw = b[0] === 0x1f && b[1] === 0x8b ? gunzipSync(b) : Bun.zstdDecompressSync(b);
  return cpioRead(raw);
}

/** Why the archive of `arch` cannot be checked, or undefined. */
function missingImage(arch: string): string | undefined {
  if (!existsSync(initrdOf(arch))) return `${initrdOf(arch)} is missing (run npm run assets)`;
  if (!entriesOf(initrdOf(arch)).some((e) => e.name === "usr/bin/curl")) return `${initrdOf(arch)} has no usr/bin/curl: it was built before curl was added (run npm run assets)`;
  return undefined;
}

const dir = mkdtempSync(join(tmpdir(), "socle-discovery-curl-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

for (const [arch, machine] of [["amd64", EM_X86_64], ["arm64", EM_AARCH64]] as const) {
  const why = missingImage(arch);
  if (why) console.log(`skip discovery-curl.test.ts (${arch} archive): ${why}`);
  test.skipIf(why !== undefined)(`${arch}: every program and library in the initramfs finds its loader and libraries in it`, () => {
    const entries = entriesOf(initrdOf(arch));
    const byName = new Map(entries.map((e) => [e.name, e]));
    const follow = (path: string): CpioEntry | undefined => {
      let cur = normalize(path).replace(/^\/+/, "");
      for (let i = 0; i < 8; i++) {
        const e = byName.get(cur);
        if (e?.type !== "symlink") return e;
        cur = normalize(e.target.startsWith("/") ? e.target : join(dirname(cur), e.target)).replace(/^\/+/, "");
      }
      return undefined;
    };
    const problems: string[] = [];
    let programs = 0;
    for (const e of entries) {
      if (e.type !== "file" || e.name.startsWith("lib/modules/") || !isElf(e.data)) continue;
      const elf = parseElfDynamic(e.data, e.name);
      expect(elf.machine).toBe(machine);
      if (elf.interp) {
        programs++;
        if (follow(elf.interp)?.type !== "file") problems.push(`${e.name}: interpreter ${elf.interp} is not in the archive`);
      }
      for (const so of elf.needed) {
        if (!librarySearchPath(machine).some((d) => follow(`${d}/${so}`)?.type === "file")) problems.push(`${e.name}: ${so} is not on the loader's path in the archive`);
      }
    }
    expect(problems).toEqual([]);
    expect(programs).toBeGreaterThan(0);
    // Only what is loaded: no docs, man pages or locales of the packages curl came from.
    expect(entries.filter((e) => /^usr\/share\//.test(e.name)).map((e) => e.name)).toEqual([]);
  });
}

const runWhy =
  missingImage("amd64") ??
  (process.getuid?.() !== 0 ? "running the archive's curl with chroot needs root"
  : process.arch !== "x64" ? `running the amd64 archive's curl needs an x86-64 host, not ${process.arch}`
  : Bun.which("chroot") === null ? "needs chroot"
  : undefined);
if (runWhy) console.log(`skip discovery-curl.test.ts (curl run): ${runWhy}`);

describe.skipIf(runWhy !== undefined)("the amd64 initramfs's curl, run with chroot", () => {
  test("checks the server's certificate against --cacert: trusted CA fetches, another CA is refused (exit 60)", async () => {
    const tree = join(dir, "root");
    for (const e of entriesOf(initrdOf("amd64"))) {
      const p = join(tree, e.name);
      if (e.type === "dir") mkdirSync(p, { recursive: true });
      else if (e.type === "symlink") symlinkSync(e.target, p);
      else writeFileSync(p, e.data, { mode: e.mode ?? 0o644 });
    }
    const caKey = await generateRsaKey(CA_KEY_BITS);
    const ca = buildCaCert(caKey, "discovery curl test CA");
    const otherCa = buildCaCert(await generateRsaKey(CA_KEY_BITS), "some other CA");
    const serverKey = await generateRsaKey(SERVER_KEY_BITS);
    const cert = buildServerCert(serverKey, { dns: ["localhost"], ips: ["127.0.0.1"] }, { certPem: ca, keyPem: caKey.privateKeyPem });
    mkdirSync(join(tree, "etc", "socle"), { recursive: true });
    writeFileSync(join(tree, "etc", "socle", "ca.pem"), ca);
    writeFileSync(join(tree, "etc", "socle", "other.pem"), otherCa);
    const server = Bun.serve({ hostname: "127.0.0.1", port: 0, tls: { cert, key: serverKey.privateKeyPem }, fetch: () => new Response("hello from the HTTPS server\n") });
    const curl = async (caFile: string) => {
      const p = Bun.spawn(["chroot", tree, "/usr/bin/curl", "-sS", "--max-time", "20", "--cacert", caFile, `https://127.0.0.1:${server.port}/x`], { stdout: "pipe", stderr: "pipe" });
      const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
      return { out, err, code };
    };
    try {
      const ok = await curl("/etc/socle/ca.pem");
      expect(ok.err).toBe("");
      expect(ok.code).toBe(0);
      expect(ok.out).toBe("hello from the HTTPS server\n");
      const refused = await curl("/etc/socle/other.pem");
      expect(refused.code).toBe(60); // CURLE_PEER_FAILED_VERIFICATION
      expect(refused.out).toBe("");
      const version = Bun.spawnSync(["chroot", tree, "/usr/bin/curl", "--version"]).stdout.toString();
      expect(version).toMatch(/^curl \d+\.\d+\.\d+ .*OpenSSL\/3/);
      console.log(`discovery-curl: ${version.split("\n")[0]}`);
    } finally {
      server.stop(true);
    }
  }, 120_000);
});
