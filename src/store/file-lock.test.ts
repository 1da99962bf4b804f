import { afterEach, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { lockDir } from "./file-lock.ts";
import { refusal } from "./test-util.ts";

const dirs: string[] = [];
function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "socle-lock-"));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe("file lock", () => {
  for (const fallback of [false, true]) {
    const mode = fallback ? "pidfile" : "flock";
    test(`${mode}: a second holder is refused with the dir and PID; release lets it in`, async () => {
      const dir = tmp();
      const first = await lockDir(dir, { fallback });
      expect(first.mode).toBe(mode);
      expect(fs.readFileSync(first.path, "utf8").trim()).toBe(String(process.pid));
      const e = await refusal(lockDir(dir, { fallback }));
      expect(e.type).toBe("Unavailable");
      expect(e.message).toContain(`"${dir}"`);
      expect(e.message).toContain(`PID ${process.pid}`);
      first.release();
      first.release(); // idempotent
      const again = await lockDir(dir, { fallback });
      again.release();
    });
  }

  test("pidfile: a file left by a dead process is taken over", async () => {
    const dir = tmp();
    const child = Bun.spawnSync(["true"]);
    expect(child.exitCode).toBe(0);
    // A PID that exited just now; PID reuse within this test is not a realistic concern.
    fs.writeFileSync(path.join(dir, "LOCK.pid"), `${child.pid}\n`);
    const lock = await lockDir(dir, { fallback: true });
    expect(fs.readFileSync(lock.path, "utf8").trim()).toBe(String(process.pid));
    lock.release();
    expect(fs.existsSync(lock.path)).toBe(false);
  });

  test("pidfile: a fresh file without a PID counts as held", async () => {
    const dir = tmp();
    fs.writeFileSync(path.join(dir, "LOCK.pid"), "");
    const e = await refusal(lockDir(dir, { fallback: true }));
    expect(e.message).toContain("in use by another process");
  });
});
