import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { replaceFile, writeFileAtomic } from "./atomic-write.ts";
import { isTempName } from "./paths.ts";

const dir = mkdtempSync(join(tmpdir(), "socle-atomic-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("writeFileAtomic", () => {
  test("creates with the exact mode and leaves no temporary file", async () => {
    const p = join(dir, "key.pem");
    await writeFileAtomic(p, "secret\n", 0o600);
    expect(readFileSync(p, "utf8")).toBe("secret\n");
    expect(statSync(p).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(["key.pem"]);
  });

  test("replaces existing content and mode", async () => {
    const p = join(dir, "cert.pem");
    writeFileSync(p, "old", { mode: 0o666 });
    await writeFileAtomic(p, "new", 0o644);
    expect(readFileSync(p, "utf8")).toBe("new");
    expect(statSync(p).mode & 0o777).toBe(0o644);
  });

  test("a missing directory fails and writes nothing", async () => {
    await expect(writeFileAtomic(join(dir, "nope", "x.pem"), "x", 0o600)).rejects.toThrow();
  });
});

describe("replaceFile", () => {
  test("the temporary file is beside the target, named so that no file server serves it", async () => {
    const sub = mkdtempSync(join(dir, "seen-"));
    let seen = "";
    await replaceFile(join(sub, "vmlinuz"), async (tmp) => {
      seen = tmp;
      await writeFile(tmp, "kernel");
    });
    expect(seen.startsWith(sub + "/")).toBe(true);
    expect(isTempName(seen.slice(sub.length + 1))).toBe(true);
    expect(readdirSync(sub)).toEqual(["vmlinuz"]);
  });

  test("a failing fill leaves the target as it was and no temporary file; the error is thrown unchanged", async () => {
    const sub = mkdtempSync(join(dir, "fail-"));
    writeFileSync(join(sub, "t"), "old");
    const boom = new Error("disk full");
    const err = await replaceFile(join(sub, "t"), async (tmp) => {
      await writeFile(tmp, "half");
      throw boom;
    }).catch((e: unknown) => e);
    expect(err).toBe(boom);
    expect(readFileSync(join(sub, "t"), "utf8")).toBe("old");
    expect(readdirSync(sub)).toEqual(["t"]);
  });

  test("the mode is exact whatever the fill created the file with; an upload names its temporary file as one", async () => {
    const sub = mkdtempSync(join(dir, "mode-"));
    let tmpName = "";
    await replaceFile(
      join(sub, "x"),
      async (tmp) => {
        tmpName = tmp.slice(sub.length + 1);
        writeFileSync(tmp, "x", { mode: 0o600 });
      },
      0o755,
      "upload",
    );
    expect(statSync(join(sub, "x")).mode & 0o777).toBe(0o755);
    expect(tmpName).toMatch(/^\.socle-upload-[0-9a-f]+\.part$/);
  });
});
