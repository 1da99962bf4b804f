import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeFileAtomic } from "./write-atomic.ts";

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
