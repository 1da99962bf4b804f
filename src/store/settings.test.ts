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
  test("starts empty, persists prefs and secrets, and reloads them", async () => {
    const dir = tmp();
    const s = await openSettings(dir);
    expect(s.get()).toEqual({ prefs: {}, secrets: {} });
    await s.setPrefs({ defaultBootEnv: "discovery", unknownBootEnv: "ignore" });
    await s.setPrefs({ unknownBootEnv: "discovery" });
    await s.setSecret("tokenKey", "c2VjcmV0");
    expect(s.get()).toEqual({
      prefs: { defaultBootEnv: "discovery", unknownBootEnv: "discovery" },
      secrets: { tokenKey: "c2VjcmV0" },
    });
    expect(Object.isFrozen(s.get().prefs)).toBe(true);
    const file = path.join(dir, "settings.json");
    expect(JSON.parse(fs.readFileSync(file, "utf8")).secrets.tokenKey).toBe("c2VjcmV0");
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const again = await openSettings(dir);
    expect(again.get()).toEqual(s.get());
  });

  test("concurrent setters all land", async () => {
    const s = await openSettings(tmp());
    await Promise.all(Array.from({ length: 20 }, (_, i) => s.setPrefs({ [`p${i}`]: String(i) })));
    expect(Object.keys(s.get().prefs).length).toBe(20);
  });

  test("bad input is a BadRequest and changes nothing", async () => {
    const s = await openSettings(tmp());
    const bad = [
      s.setPrefs({ a: 1 as unknown as string }),
      s.setPrefs({ "": "x" }),
      s.setPrefs(null as unknown as Record<string, string>),
      s.setSecret("k", undefined as unknown as string),
    ];
    for (const p of bad) {
      const e = await p.catch((x: unknown) => x);
      expect(e).toBeInstanceOf(SocleError);
      expect((e as SocleError).type).toBe("BadRequest");
    }
    expect(s.get()).toEqual({ prefs: {}, secrets: {} });
  });

  test("a damaged file refuses with its name", async () => {
    const dir = tmp();
    fs.writeFileSync(path.join(dir, "settings.json"), '{"prefs": {');
    const e = await openSettings(dir).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(SocleError);
    expect((e as SocleError).message).toContain(path.join(dir, "settings.json"));
    fs.writeFileSync(path.join(dir, "settings.json"), '{"prefs": {"a": 1}}');
    const e2 = await openSettings(dir).catch((x: unknown) => x);
    expect((e2 as SocleError).message).toContain('"prefs" must map names to strings');
  });

  test("a failed write rejects as Unavailable and keeps the previous state", async () => {
    const dir = tmp();
    const s = await openSettings(dir);
    await s.setPrefs({ a: "1" });
    // A directory where the temp file goes makes the write fail.
    fs.mkdirSync(path.join(dir, ".settings.json.tmp"));
    const e = await s.setPrefs({ a: "2" }).catch((x: unknown) => x);
    expect((e as SocleError).type).toBe("Unavailable");
    expect(s.get().prefs).toEqual({ a: "1" });
    fs.rmdirSync(path.join(dir, ".settings.json.tmp"));
    await s.setPrefs({ b: "3" });
    expect(s.get().prefs).toEqual({ a: "1", b: "3" });
  });
});
