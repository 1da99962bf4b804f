import { afterEach, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { SocleError } from "../model/errors.ts";
import { openSettings } from "./settings.ts";

const dirs: string[] = [];
function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "socle-settings-"));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe("settings", () => {
  test("starts empty, persists secrets, and reloads them", async () => {
    const dir = tmp();
    const s = await openSettings(dir);
    expect(s.get()).toEqual({ secrets: {} });
    await s.setSecret("tokenKey", "first");
    await s.setSecret("tokenKey", "c2VjcmV0");
    await s.setSecret("other", "x");
    expect(s.get()).toEqual({ secrets: { tokenKey: "c2VjcmV0", other: "x" } });
    expect(Object.isFrozen(s.get().secrets)).toBe(true);
    const file = path.join(dir, "settings.json");
    expect(JSON.parse(fs.readFileSync(file, "utf8")).secrets.tokenKey).toBe("c2VjcmV0");
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const again = await openSettings(dir);
    expect(again.get()).toEqual(s.get());
  });

  test("concurrent setters all land", async () => {
    const s = await openSettings(tmp());
    await Promise.all(Array.from({ length: 20 }, (_, i) => s.setSecret(`p${i}`, String(i))));
    expect(Object.keys(s.get().secrets).length).toBe(20);
  });

  test("bad input is a BadRequest and changes nothing", async () => {
    const s = await openSettings(tmp());
    const bad = [
      s.setSecret("a", 1 as unknown as string),
      s.setSecret("", "x"),
      s.setSecret(null as unknown as string, "x"),
      s.setSecret("k", undefined as unknown as string),
    ];
    for (const p of bad) {
      const e = await p.catch((x: unknown) => x);
      expect(e).toBeInstanceOf(SocleError);
      expect((e as SocleError).type).toBe("BadRequest");
    }
    expect(s.get()).toEqual({ secrets: {} });
  });

  test("a damaged file refuses with its name", async () => {
    const dir = tmp();
    fs.writeFileSync(path.join(dir, "settings.json"), '{"secrets": {');
    const e = await openSettings(dir).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(SocleError);
    expect((e as SocleError).message).toContain(path.join(dir, "settings.json"));
    fs.writeFileSync(path.join(dir, "settings.json"), '{"secrets": {"a": 1}}');
    const e2 = await openSettings(dir).catch((x: unknown) => x);
    expect((e2 as SocleError).message).toContain('"secrets" must map names to strings');
  });

  test("a failed write rejects as Unavailable and keeps the previous state", async () => {
    const dir = tmp();
    const s = await openSettings(dir);
    await s.setSecret("a", "1");
    // A directory where settings.json goes makes the rename fail; nothing else is left behind.
    const file = path.join(dir, "settings.json");
    fs.rmSync(file);
    fs.mkdirSync(file);
    const e = await s.setSecret("a", "2").catch((x: unknown) => x);
    expect((e as SocleError).type).toBe("Unavailable");
    expect(s.get().secrets).toEqual({ a: "1" });
    expect(fs.readdirSync(dir)).toEqual(["settings.json"]);
    fs.rmdirSync(file);
    await s.setSecret("b", "3");
    expect(s.get().secrets).toEqual({ a: "1", b: "3" });
    expect(JSON.parse(fs.readFileSync(file, "utf8")).secrets).toEqual({ a: "1", b: "3" });
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  });
});
