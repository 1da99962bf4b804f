// Debian packages through the system's own apt (no download URL of Socle's own): `apt-get
// download` into a cache, `dpkg-deb -x` to unpack. Nothing is installed on the host.
//
// Each architecture gets a private apt state (package lists and cache under the cache directory)
// built from the host's own sources.list and keyrings: the lists of a foreign architecture
// (arm64 on an amd64 host) are not on the host unless dpkg was told about it, and a fresh host
// may never have run `apt-get update` at all. Signatures are checked by apt as usual.

import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { runCommand, type CommandResult } from "./command.ts";

export type DebArch = "amd64" | "arm64";

export interface AptOptions {
  /** Holds apt-<arch>/ (private lists) and the downloaded .deb files. */
  cacheDir: string;
  log: (line: string) => void;
}

/** A step of the pipeline failed; `fix` is what the operator can do about it. */
export class AssetError extends Error {
  constructor(
    message: string,
    readonly fix?: string,
  ) {
    super(message);
  }
}

export async function run(cmd: string[], opts: { cwd?: string; what?: string; env?: Record<string, string> } = {}): Promise<string> {
  let r: CommandResult;
  try {
    r = await runCommand(cmd, opts.cwd, opts.env);
  } catch (e) {
    throw new AssetError(`${opts.what ?? cmd[0]}: cannot run ${cmd[0]}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (r.code !== 0) throw new AssetError(`${opts.what ?? cmd[0]}: ${cmd.join(" ")} failed with exit code ${r.code}: ${r.stderr.trim().split("\n").slice(-6).join(" | ")}`);
  return r.stdout;
}

/** Why the apt pipeline cannot run on this host, or undefined. */
export function aptUnavailable(): string | undefined {
  for (const bin of ["apt-get", "apt-cache", "dpkg-deb"]) if (Bun.which(bin) === null) return `${bin} is not on PATH (not a Debian-family host)`;
  return undefined;
}

function aptArgs(cache: string, arch: DebArch): string[] {
  const state = join(cache, `apt-${arch}`);
  return [
    "-q",
    "-o", `APT::Architecture=${arch}`,
    "-o", `APT::Architectures::=${arch}`,
    "-o", `Dir::State::Lists=${join(state, "lists")}`,
    "-o", `Dir::Cache=${join(state, "cache")}`,
    "-o", "Dir::State::status=/dev/null",
    "-o", "Debug::NoLocking=1",
    // apt drops to the _apt user to download, which cannot write into our cache as root.
    "-o", "APT::Sandbox::User=root",
  ];
}

/**
 * The private package lists of `arch`: fetched when there are none, or when `refresh` is set (a
 * download failed: the lists may name a version the mirror no longer has).
 */
async function ensureLists(opts: AptOptions, arch: DebArch, refresh = false): Promise<void> {
  const state = join(opts.cacheDir, `apt-${arch}`);
  const lists = join(state, "lists");
  const have = existsSync(lists) && readdirSync(lists).some((f) => f.includes("_Packages"));
  if (have && !refresh) return;
  mkdirSync(join(lists, "partial"), { recursive: true });
  mkdirSync(join(state, "cache", "archives", "partial"), { recursive: true });
  opts.log(`apt: package lists for ${arch} (apt-get update into ${state})`);
  try {
    await run(["apt-get", ...aptArgs(opts.cacheDir, arch), "update"], { what: "apt-get update" });
  } catch (e) {
    if (!have) throw e;
    opts.log(`apt: update failed, using the lists already there: ${(e as Error).message}`);
  }
}

/** `linux-image-arm64` (a metapackage) -> `linux-image-6.1.0-57-arm64`; other names unchanged. */
export async function resolvePackage(opts: AptOptions, arch: DebArch, name: string): Promise<string> {
  await ensureLists(opts, arch);
  // Only the kernel's metapackage is renamed; asking apt-cache about the rest costs a process each.
  if (!name.startsWith("linux-image-")) return name;
  const out = await run(["apt-cache", ...aptArgs(opts.cacheDir, arch), "depends", name], { what: `apt-cache depends ${name}` });
  const real = /Depends: (linux-image-[0-9][^\s]*)/.exec(out)?.[1];
  return real ?? name;
}

/**
 * `name` and every package it needs to run, by its Depends and Pre-Depends followed to the end
 * (not Recommends or Suggests), sorted. A virtual package ("<debconf-2.0>") is left out: what
 * provides it is a choice apt makes at install time, and a library is never one.
 */
export async function dependencyClosure(opts: AptOptions, arch: DebArch, name: string): Promise<string[]> {
  await ensureLists(opts, arch);
  const skip = ["--no-recommends", "--no-suggests", "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances"];
  const out = await run(["apt-cache", ...aptArgs(opts.cacheDir, arch), "depends", "--recurse", ...skip, name], { what: `apt-cache depends --recurse ${name}` });
  const names = new Set<string>();
  for (const line of out.split("\n")) {
    if (line === "" || line.startsWith(" ") || line.startsWith("<")) continue;
    names.add(line.trim().replace(/:.*$/, ""));
  }
  if (!names.has(name)) throw new AssetError(`apt-cache depends --recurse ${name} (${arch}) does not list ${name}: is it in the package lists?`);
  return [...names].sort();
}

/**
 * The .deb of `name` for `arch`, downloaded with apt-get into <cacheDir>/debs/<arch>/ unless a
 * file of that package is already there (the newest by name wins).
 */
export async function debFor(opts: AptOptions, arch: DebArch, name: string): Promise<string> {
  const dir = join(opts.cacheDir, "debs", arch);
  mkdirSync(dir, { recursive: true });
  const pkg = await resolvePackage(opts, arch, name);
  const cached = () => readdirSync(dir).filter((f) => f.startsWith(`${pkg}_`) && f.endsWith(`_${arch}.deb`) || f.startsWith(`${pkg}_`) && f.endsWith("_all.deb")).sort().at(-1);
  const have = cached();
  if (have) return join(dir, have);
  opts.log(`apt: apt-get download ${pkg}:${arch}`);
  const tmp = mkdtempSync(join(dir, ".dl-"));
  try {
    const download = () => run(["apt-get", ...aptArgs(opts.cacheDir, arch), "download", `${pkg}:${arch}`], { cwd: tmp, what: `apt-get download ${pkg}` });
    await download().catch(async () => {
      await ensureLists(opts, arch, true);
      await download();
    });
    const got = readdirSync(tmp).find((f) => f.endsWith(".deb"));
    if (!got) throw new AssetError(`apt-get download ${pkg}:${arch} left no .deb file`);
    renameSync(join(tmp, got), join(dir, got.replace(/%3a/gi, "_")));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  const now = cached();
  if (!now) throw new AssetError(`apt-get download ${pkg}:${arch}: the .deb is not where it was put`);
  return join(dir, now);
}

/** Unpack a .deb's files into `dir` (created; replaced if it exists). */
export async function unpackDeb(deb: string, dir: string): Promise<void> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  await run(["dpkg-deb", "-x", deb, dir], { what: "dpkg-deb" });
}
