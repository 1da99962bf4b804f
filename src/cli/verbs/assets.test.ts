// `socle loaders import` and `socle discovery build` through runCli, on temporary directories.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../main.ts";

let dir = "";
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "socle-cli-assets-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function cli(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, {}, { out: (s) => out.push(s), err: (s) => err.push(s) }, {
    fetch: (async () => {
      throw new Error("no request expected");
    }) as unknown as typeof fetch,
    serve: async () => 0,
  });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

test("loaders import copies the loaders it finds, under their served names, into <data-dir>/files", async () => {
  const from = join(dir, "from");
  mkdirSync(from);
  writeFileSync(join(from, "undionly.kpxe"), "bios loader");
  writeFileSync(join(from, "grubnetaa64.efi.signed"), "grub");
  writeFileSync(join(from, "unrelated.txt"), "x");
  const data = join(dir, "data1");
  const r = await cli(["loaders", "import", from, "--data-dir", data]);
  expect(r.code).toBe(0);
  expect(r.out).toContain("imported undionly.kpxe");
  expect(r.out).toContain("imported grubnetaa64.efi");
  expect(readdirSync(join(data, "files")).sort()).toEqual(["grubnetaa64.efi", "undionly.kpxe"]);
  expect(readFileSync(join(data, "files", "grubnetaa64.efi"), "utf8")).toBe("grub");
});

test("loaders import: a directory without loaders, or no directory, is exit 1 and names what it looked for", async () => {
  const empty = join(dir, "empty");
  mkdirSync(empty);
  const data = join(dir, "data2");
  const r = await cli(["loaders", "import", empty, "--data-dir", data]);
  expect(r.code).toBe(1);
  expect(r.err).toContain(`no loader in "${empty}" (looked for undionly.kpxe, ipxe.efi`);
  const missing = await cli(["loaders", "import", join(dir, "nope"), "--data-dir", data]);
  expect(missing.code).toBe(1);
  expect(missing.err).toContain("is not a directory");
  expect(await cli(["loaders", "import", "--data-dir", data])).toMatchObject({ code: 2 });
});

test("discovery build: a bad --arch is a usage error naming the value", async () => {
  const r = await cli(["discovery", "build", "--arch", "ppc64el", "--data-dir", join(dir, "data3")]);
  expect(r.code).toBe(2);
  expect(r.err).toContain('--arch: invalid value "ppc64el" (expected amd64|arm64|all)');
});
