// `socle files|isos ...` against the real server (HTTPS on loopback, its own CA, admin
// credentials): uploads land in <data-dir>/files and <data-dir>/isos byte for byte, downloads come
// back identical, and the server's errors (404, 400, 401 before the body is read) reach the user
// as one line. src/cli/verbs/files.test.ts covers the verbs in detail against a fake API.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../src/cli/main.ts";
import { ADMIN_PASSWORD, startTestSocle, type TestSocle } from "./helpers/socle.ts";

let t: TestSocle;
let dir: string;
let caFile: string;
const sha = (b: Uint8Array | string) => createHash("sha256").update(b).digest("hex");

beforeAll(async () => {
  t = await startTestSocle();
  dir = mkdtempSync(join(tmpdir(), "socle-cli-files-"));
  caFile = join(dir, "ca.pem");
  writeFileSync(caFile, t.socle.caCertPem);
});

afterAll(async () => {
  await t.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function cli(argv: string[], auth = ["-U", "admin", "-P", ADMIN_PASSWORD]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(["-E", t.base, "--ca-file", caFile, ...auth, ...argv], { SOCLE_DATA_DIR: join(dir, "none") }, {
    out: (s) => out.push(s),
    err: (s) => err.push(s),
  }, { serve: async () => 0 });
  return { code, out, err, stdout: out.join("\n"), stderr: err.join("\n") };
}

function workDir(name: string): string {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  return d;
}

describe("files", () => {
  test("upload, list, download byte-identical, delete", async () => {
    const d = workDir("roundtrip");
    const data = new Uint8Array(6 * 1024 * 1024 + 5).map((_, i) => (i * 89 + (i >> 11)) & 0xff);
    writeFileSync(join(d, "initrd.img"), data);

    const up = await cli(["files", "upload", join(d, "initrd.img"), "rocky/9/images/pxeboot/initrd.img"]);
    expect(up.stderr).toBe("");
    expect(up.code).toBe(0);
    expect(JSON.parse(up.stdout)).toEqual({ Path: "rocky/9/images/pxeboot/initrd.img", Size: data.length, Sha256: sha(data) });
    expect(sha(readFileSync(join(t.dir, "files", "rocky/9/images/pxeboot/initrd.img")))).toBe(sha(data));

    expect(JSON.parse((await cli(["files", "list"])).stdout)).toContain("rocky/");
    expect(JSON.parse((await cli(["files", "list", "rocky/9/images/pxeboot"])).stdout)).toEqual(["initrd.img"]);

    const back = join(d, "back.img");
    const down = await cli(["files", "download", "rocky/9/images/pxeboot/initrd.img", back]);
    expect(down.stderr).toBe("");
    expect(down.code).toBe(0);
    expect(JSON.parse(down.stdout)).toMatchObject({ Size: data.length, Sha256: sha(data) });
    expect(sha(readFileSync(back))).toBe(sha(data));
    expect(readdirSync(d).sort()).toEqual(["back.img", "initrd.img"]);

    const refused = await cli(["files", "download", "rocky/9/images/pxeboot/initrd.img", back]);
    expect(refused.code).toBe(1);
    expect(refused.err).toEqual([`Error: "${back}" exists: pass --force to replace it`]);

    const del = await cli(["files", "delete", "rocky/9/images/pxeboot/initrd.img"]);
    expect(del.out).toEqual(["Deleted file rocky/9/images/pxeboot/initrd.img"]);
    expect(existsSync(join(t.dir, "files", "rocky/9/images/pxeboot/initrd.img"))).toBe(false);
  });

  test("the remote name defaults to the local base name", async () => {
    const d = workDir("default");
    writeFileSync(join(d, "snp.efi"), "MZ not really efi");
    const up = await cli(["files", "upload", join(d, "snp.efi")]);
    expect(up.code).toBe(0);
    expect(readFileSync(join(t.dir, "files", "snp.efi"), "utf8")).toBe("MZ not really efi");
  });

  test("a 404 download leaves no local file", async () => {
    const d = workDir("missing");
    const r = await cli(["files", "download", "nope/ipxe-arm64.efi", join(d, "x.efi")]);
    expect(r.code).toBe(1);
    expect(r.err).toEqual(['Error: NotFound 404: files "nope/ipxe-arm64.efi" not found']);
    expect(readdirSync(d)).toEqual([]);
  });

  test("a missing local file", async () => {
    const r = await cli(["files", "upload", join(dir, "absent.iso")]);
    expect(r.code).toBe(1);
    expect(r.err).toEqual([`Error: cannot read "${join(dir, "absent.iso")}": no such file`]);
  });

  test("errors the server gives before reading the body arrive as its one line", async () => {
    const d = workDir("early");
    writeFileSync(join(d, "big.iso"), new Uint8Array(4 * 1024 * 1024));
    const anon = await cli(["files", "upload", join(d, "big.iso")], []);
    expect(anon.code).toBe(1);
    expect(anon.stderr).toStartWith("Error: Unauthorized 401: ");
    const reserved = await cli(["files", "upload", join(d, "big.iso"), ".socle-upload-0123456789abcdef.part"]);
    expect(reserved.code).toBe(1);
    expect(reserved.stderr).toContain("the name is reserved for uploads in progress");
  });
});

describe("isos", () => {
  test("flat names: upload, list, download, delete; a path is refused by the server", async () => {
    const d = workDir("isos");
    const data = new Uint8Array(3 * 1024 * 1024).map((_, i) => (i * 13) & 0xff);
    writeFileSync(join(d, "alma.iso"), data);
    expect((await cli(["isos", "upload", join(d, "alma.iso")])).code).toBe(0);
    expect(sha(readFileSync(join(t.dir, "isos", "alma.iso")))).toBe(sha(data));
    expect(JSON.parse((await cli(["isos", "list"])).stdout)).toEqual(["alma.iso"]);
    const back = join(d, "copy.iso");
    expect((await cli(["isos", "download", "alma.iso", back])).code).toBe(0);
    expect(sha(readFileSync(back))).toBe(sha(data));
    const bad = await cli(["isos", "upload", join(d, "alma.iso"), "sub/alma.iso"]);
    expect(bad.code).toBe(1);
    expect(bad.err).toEqual(['Error: BadRequest 400: invalid isos name "sub/alma.iso": no directories allowed']);
    expect((await cli(["isos", "delete", "alma.iso"])).out).toEqual(["Deleted iso alma.iso"]);
    expect(JSON.parse((await cli(["isos", "list"])).stdout)).toEqual([]);
  });
});
