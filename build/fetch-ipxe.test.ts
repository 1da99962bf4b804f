// fetch-ipxe against a .deb built here with dpkg-deb (same layout as Debian's ipxe package), so
// no download is needed: extraction, copy, idempotency, and the errors.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LOADERS, cachedDeb, fetchIpxe, parseFetchArgs } from "./fetch-ipxe.ts";

const HAVE_DPKG = Bun.which("dpkg-deb") !== null;
let dir = "";

async function makeDeb(name: string, files: Record<string, string>): Promise<string> {
  const root = join(dir, `pkg-${name}`);
  mkdirSync(join(root, "DEBIAN"), { recursive: true });
  writeFileSync(join(root, "DEBIAN", "control"), `Package: ipxe\nVersion: ${name}\nArchitecture: all\nMaintainer: test <t@example.org>\nDescription: test\n`);
  for (const [p, body] of Object.entries(files)) {
    mkdirSync(join(root, p, ".."), { recursive: true });
    writeFileSync(join(root, p), body);
  }
  const deb = join(dir, `ipxe_${name}_all.deb`);
  const p = Bun.spawn(["dpkg-deb", "--root-owner-group", "-b", root, deb], { stdout: "pipe", stderr: "pipe" });
  if ((await p.exited) !== 0) throw new Error(await new Response(p.stderr).text());
  return deb;
}

const full = (tag: string) => Object.fromEntries(LOADERS.map((l) => [l.from, `${tag}:${l.name}`]));

describe.skipIf(!HAVE_DPKG)("fetch-ipxe", () => {
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "fetch-ipxe-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("copies the three loaders and a SHA256SUMS; a second run changes nothing", async () => {
    const deb = await makeDeb("1.0-1", full("v1"));
    const assets = join(dir, "assets1");
    const opts = { cacheDir: join(dir, "cache1"), assetsDir: assets, deb, log: () => {} };
    const first = await fetchIpxe(opts);
    expect(first.copied.sort()).toEqual(["ipxe.efi", "snponly.efi", "undionly.kpxe"]);
    for (const l of LOADERS) expect(readFileSync(join(assets, l.name), "utf8")).toBe(`v1:${l.name}`);
    const sums = readFileSync(join(assets, "SHA256SUMS"), "utf8");
    expect(sums).toContain(`${first.loaders["ipxe.efi"]}  ipxe.efi`);
    const mtime = statSync(join(assets, "ipxe.efi")).mtimeMs;
    await Bun.sleep(20);
    const second = await fetchIpxe(opts);
    expect(second.copied).toEqual([]);
    expect(statSync(join(assets, "ipxe.efi")).mtimeMs).toBe(mtime);
  });

  test("a changed package replaces only the loaders whose bytes changed", async () => {
    const assets = join(dir, "assets2");
    await fetchIpxe({ cacheDir: join(dir, "cache2"), assetsDir: assets, deb: await makeDeb("1.0-2", full("v1")), log: () => {} });
    const next = full("v1");
    next["usr/lib/ipxe/ipxe.efi"] = "v2:ipxe.efi";
    const r = await fetchIpxe({ cacheDir: join(dir, "cache2"), assetsDir: assets, deb: await makeDeb("1.0-3", next), log: () => {} });
    expect(r.copied).toEqual(["ipxe.efi"]);
    expect(readFileSync(join(assets, "ipxe.efi"), "utf8")).toBe("v2:ipxe.efi");
  });

  test("a package without a loader fails naming it; a missing --deb fails naming the path", async () => {
    const files = full("v1");
    delete files["usr/lib/ipxe/snponly.efi"];
    const deb = await makeDeb("1.0-4", files);
    await expect(fetchIpxe({ cacheDir: join(dir, "cache3"), assetsDir: join(dir, "assets3"), deb, log: () => {} })).rejects.toThrow("has no usr/lib/ipxe/snponly.efi");
    await expect(fetchIpxe({ cacheDir: join(dir, "cache3"), assetsDir: join(dir, "assets3"), deb: join(dir, "nope.deb"), log: () => {} })).rejects.toThrow('--deb "');
  });

  test("cachedDeb picks the last ipxe_*.deb by name, or none", () => {
    const c = join(dir, "cache4");
    expect(cachedDeb(c)).toBeUndefined();
    mkdirSync(c);
    writeFileSync(join(c, "ipxe_1.0-1_all.deb"), "");
    writeFileSync(join(c, "ipxe_1.0-2_all.deb"), "");
    writeFileSync(join(c, "other_9_all.deb"), "");
    expect(cachedDeb(c)).toBe(join(c, "ipxe_1.0-2_all.deb"));
    expect(existsSync(c)).toBe(true);
  });

  test("arguments", () => {
    const o = parseFetchArgs(["--deb", "x.deb", "--cache=/c", "--assets", "/a"], "/root");
    expect(o).toEqual({ deb: "x.deb", cacheDir: "/c", assetsDir: "/a" });
    expect(parseFetchArgs([], "/r")).toEqual({ cacheDir: "/r/.cache/ipxe", assetsDir: "/r/assets/ipxe" });
    expect(() => parseFetchArgs(["--bogus"], "/r")).toThrow('unknown argument "--bogus"');
    expect(() => parseFetchArgs(["--deb"], "/r")).toThrow("--deb: missing value");
  });
});
