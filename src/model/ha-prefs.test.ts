import { describe, expect, test } from "bun:test";
import { HA_PREF_DEFAULTS, HA_PREFS, haPrefCrossProblems, readHaPrefs } from "./ha-prefs.ts";

const from = (m: Record<string, string>) => (name: string) => m[name];

describe("readHaPrefs", () => {
  test("nothing set: the plan's defaults, no errors", () => {
    const { prefs, errors } = readHaPrefs(from({}));
    expect(errors).toEqual([]);
    expect(prefs).toEqual({
      heartbeatIntervalMs: 250,
      heartbeatTimeoutMs: 1000,
      maxAckDelayMs: 1000,
      maxUnackedClients: 1,
      idleTakeoverMs: 3000,
      syncTimeoutMs: 500,
      mcltSeconds: 300,
      garpCount: 3,
      fileScanIntervalSeconds: 30,
      autoFailback: false,
    });
  });

  test("valid strings become numbers", () => {
    const { prefs, errors } = readHaPrefs(
      from({ haHeartbeatInterval: "100", haHeartbeatTimeout: "400", haMaxUnackedClients: "0", haIdleTakeover: "0", haMclt: "3600", haAutoFailback: "true" }),
    );
    expect(errors).toEqual([]);
    expect(prefs).toMatchObject({ heartbeatIntervalMs: 100, heartbeatTimeoutMs: 400, maxUnackedClients: 0, idleTakeoverMs: 0, mcltSeconds: 3600, autoFailback: true });
  });

  test.each([
    ["haHeartbeatInterval", "49", "heartbeatIntervalMs"],
    ["haHeartbeatInterval", "10001", "heartbeatIntervalMs"],
    ["haHeartbeatTimeout", "199", "heartbeatTimeoutMs"],
    ["haMaxAckDelay", "-1", "maxAckDelayMs"],
    ["haMaxUnackedClients", "1001", "maxUnackedClients"],
    ["haIdleTakeover", "1.5", "idleTakeoverMs"],
    ["haSyncTimeout", "", "syncTimeoutMs"],
    ["haMclt", "59", "mcltSeconds"],
    ["haGarpCount", "0", "garpCount"],
    ["haFileScanInterval", "3601", "fileScanIntervalSeconds"],
    ["haMclt", "1e3", "mcltSeconds"],
  ] as const)("%s %p is refused, named, and falls back to its default", (pref, value, field) => {
    const { prefs, errors } = readHaPrefs(from({ [pref]: value }));
    expect(prefs[field]).toBe(HA_PREF_DEFAULTS[field]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(pref);
    expect(errors[0]).toContain(JSON.stringify(value));
    expect(errors[0]).toContain(`using the default ${HA_PREF_DEFAULTS[field]}`);
  });

  test("a bad boolean is named", () => {
    const { prefs, errors } = readHaPrefs(from({ haAutoFailback: "yes" }));
    expect(prefs.autoFailback).toBe(false);
    expect(errors).toEqual(['invalid haAutoFailback "yes": expected "true" or "false"; using the default false']);
  });

  test("timeout under twice the interval: both named, the timers fall back together", () => {
    const { prefs, errors } = readHaPrefs(from({ haHeartbeatInterval: "600", haHeartbeatTimeout: "1000" }));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('haHeartbeatTimeout "1000"');
    expect(errors[0]).toContain('haHeartbeatInterval "600"');
    expect(prefs.heartbeatIntervalMs).toBe(250);
    expect(prefs.heartbeatTimeoutMs).toBe(1000);
  });

  test("exactly twice the interval is accepted", () => {
    expect(readHaPrefs(from({ haHeartbeatInterval: "500", haHeartbeatTimeout: "1000" })).errors).toEqual([]);
  });

  test("an idle takeover shorter than the heartbeat timeout is refused; resetting stays consistent", () => {
    const { prefs, errors } = readHaPrefs(from({ haHeartbeatInterval: "600", haHeartbeatTimeout: "20000", haIdleTakeover: "5000" }));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('haIdleTakeover "5000"');
    expect(haPrefCrossProblems(prefs)).toEqual([]);
    expect(prefs).toMatchObject({ heartbeatIntervalMs: 250, heartbeatTimeoutMs: 1000, idleTakeoverMs: 3000 });
  });
});

describe("HA_PREFS rows (model/prefs.ts PrefDef shape)", () => {
  test("every row's default passes its own check and reads back as the default", () => {
    const m: Record<string, string> = {};
    for (const [name, def] of Object.entries(HA_PREFS)) {
      expect(def.check(def.default)).toBeUndefined();
      expect(def.description.length).toBeGreaterThan(10);
      m[name] = def.default;
    }
    expect(Object.keys(HA_PREFS).sort()).toEqual(
      ["haAutoFailback", "haFileScanInterval", "haGarpCount", "haHeartbeatInterval", "haHeartbeatTimeout", "haIdleTakeover", "haMaxAckDelay", "haMaxUnackedClients", "haMclt", "haSyncTimeout"].sort(),
    );
    expect(readHaPrefs(from(m))).toEqual({ prefs: { ...HA_PREF_DEFAULTS }, errors: [] });
  });

  test("checks quote the value and the range", () => {
    expect(HA_PREFS.haMclt!.check("10")).toBe('invalid haMclt "10": expected a whole number from 60 to 86400 (s)');
    expect(HA_PREFS.haAutoFailback!.check("1")).toContain('"1"');
    expect(HA_PREFS.haMaxAckDelay!.check("0")).toBeUndefined();
  });
});
