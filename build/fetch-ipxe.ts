// Fetches the iPXE loaders from Debian's `ipxe` package into assets/ipxe/, where build/compile.ts
// embeds them (--asset assets) and where Socle reads them from when run from source.
//
//   bun build/fetch-ipxe.ts [--deb FILE.deb] [--cache DIR] [--assets DIR]
//
// `apt-get download ipxe` (Debian's own client, signatures checked by apt) into the cache, then
// `dpkg-deb -x`; nothing is installed. Idempotent: a cached .deb is reused, and a loader already
// in assets/ with the same bytes is left alone. assets/ipxe/ is git-ignored: loaders are built
// in, never committed. Debian (bookworm) builds the package for x86 only: there is no arm64
// loader to embed, so arm64 clients get none until one is supplied (see LOADERS).

import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { join, resolve } from "node:path";

/** Loaders taken from the package: where they sit in it, and their name in assets/ipxe/. */
export const LOADERS = [
  { from: "usr/lib/ipxe/undionly.kpxe", name: "undionly.kpxe", what: "x86 BIOS PXE (UNDI) loader" },
  { from: "usr/lib/ipxe/ipxe.efi", name: "ipxe.efi", what: "x86-64 UEFI loader with iPXE's own NIC drivers" },
  { from: "usr/lib/ipxe/snponly.efi", name: "snponly.efi", what: "x86-64 UEFI loader using the firmware's SNP driver" },
] as const;

export interface FetchOptions {
  /** Where .deb files and the extracted tree are kept. */
  cacheDir: string;
  /** assets/ipxe */
  assetsDir: string;
  /** Use this .deb instead of downloading one. */
  deb?: string;
  log?: (line: string) => void;
}

export interface FetchResult {
  deb: string;
  /** name -> sha256 of what is now in assets/ipxe. */
  loaders: Record<string, string>;
  /** Names whose bytes changed in assets/ipxe. */
  copied: string[];
}

async function run(cmd: string[], cwd?: string): Promise<string> {
  const p = Bun.spawn(cmd, { cwd, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`fetch-ipxe: ${cmd.join(" ")} failed with exit code ${code}: ${err.trim().slice(-1500)}`);
  return out;
}

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** The cached ipxe .deb in `dir` (the newest name when several), or undefined. */
export function cachedDeb(dir: string): string | undefined {
  if (!existsSync(dir)) return undefined;
  const debs = readdirSync(dir)
    .filter((f) => /^ipxe_.*\.deb$/.test(f))
    .sort();
  const last = debs.at(-1);
  return last ? join(dir, last) : undefined;
}

export async function fetchIpxe(opts: FetchOptions): Promise<FetchResult> {
  const log = opts.log ?? ((l: string) => console.error(l));
  const cacheDir = resolve(opts.cacheDir);
  mkdirSync(cacheDir, { recursive: true });
  let deb = opts.deb ? resolve(opts.deb) : cachedDeb(cacheDir);
  if (opts.deb && !existsSync(opts.deb)) throw new Error(`fetch-ipxe: --deb "${opts.deb}" not found`);
  if (!deb) {
    log(`fetch-ipxe: apt-get download ipxe into ${cacheDir}`);
    const tmp = mkdtempSync(join(cacheDir, "dl-"));
    try {
      await run(["apt-get", "download", "ipxe"], tmp).catch((e: Error) => {
        throw new Error(`${e.message}\n(run "apt-get update" first, or pass --deb FILE.deb)`);
      });
      const got = cachedDeb(tmp);
      if (!got) throw new Error(`fetch-ipxe: apt-get download ipxe left no ipxe_*.deb in ${tmp}`);
      deb = join(cacheDir, got.replace(/.*\//, ""));
      renameSync(got, deb);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  const tree = join(cacheDir, `tree-${sha256(readFileSync(deb)).slice(0, 16)}`);
  if (!existsSync(join(tree, ".done"))) {
    rmSync(tree, { recursive: true, force: true });
    mkdirSync(tree, { recursive: true });
    await run(["dpkg-deb", "-x", deb, tree]);
    writeFileSync(join(tree, ".done"), deb + "\n");
  }
  mkdirSync(opts.assetsDir, { recursive: true });
  const loaders: Record<string, string> = {};
  const copied: string[] = [];
  for (const l of LOADERS) {
    const src = join(tree, l.from);
    if (!existsSync(src)) throw new Error(`fetch-ipxe: ${deb} has no ${l.from} (${l.what})`);
    const bytes = readFileSync(src);
    const hash = sha256(bytes);
    const dest = join(opts.assetsDir, l.name);
    if (!existsSync(dest) || sha256(readFileSync(dest)) !== hash) {
      copyFileSync(src, `${dest}.tmp`);
      renameSync(`${dest}.tmp`, dest);
      copied.push(l.name);
    }
    loaders[l.name] = hash;
  }
  const manifest = [`# from ${deb.replace(/.*\//, "")} (Debian package ipxe)`, ...Object.entries(loaders).map(([n, h]) => `${h}  ${n}`)].join("\n") + "\n";
  const sums = join(opts.assetsDir, "SHA256SUMS");
  if (!existsSync(sums) || readFileSync(sums, "utf8") !== manifest) writeFileSync(sums, manifest);
  log(`fetch-ipxe: ${Object.keys(loaders).join(", ")} in ${opts.assetsDir} (${copied.length ? `updated ${copied.join(", ")}` : "unchanged"}) from ${deb}`);
  return { deb, loaders, copied };
}

export function parseFetchArgs(argv: readonly string[], root: string): FetchOptions {
  const o: FetchOptions = { cacheDir: join(root, ".cache", "ipxe"), assetsDir: join(root, "assets", "ipxe") };
  for (let i = 0; i < argv.length; i++) {
    const m = /^--(deb|cache|assets)(?:=(.*))?$/.exec(argv[i] as string);
    if (!m) throw new Error(`fetch-ipxe: unknown argument "${argv[i]}" (usage: bun build/fetch-ipxe.ts [--deb F] [--cache DIR] [--assets DIR])`);
    const v = m[2] ?? argv[++i];
    if (!v) throw new Error(`fetch-ipxe: --${m[1]}: missing value`);
    if (m[1] === "deb") o.deb = v;
    else if (m[1] === "cache") o.cacheDir = v;
    else o.assetsDir = v;
  }
  return o;
}

if (import.meta.main) {
  try {
    await fetchIpxe(parseFetchArgs(process.argv.slice(2), resolve(import.meta.dir, "..")));
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  }
}
