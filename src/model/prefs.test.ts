import { describe, expect, test } from "bun:test";
import { SocleError } from "./errors.ts";
import { defaultPrefs, PREFS, validatePrefs } from "./prefs.ts";

function rejected(input: unknown, current?: Record<string, string>): SocleError {
  try {
    validatePrefs(input, current);
  } catch (e) {
    if (e instanceof SocleError) return e;
    throw e;
  }
  throw new Error("expected rejection");
}

describe("prefs", () => {
  test("defaults", () => {
    expect(defaultPrefs()).toEqual({
      defaultBootEnv: "local",
      unknownBootEnv: "ignore",
      defaultWorkflow: "",
      defaultStage: "",
      unknownTokenTimeout: "600",
      knownTokenTimeout: "3600",
      agentTokenTimeout: "2592000",
      userTokenTimeout: "3600",
      uiSessionTimeout: "28800",
      maxTokenTtl: "86400",
      jobLogMaxBytes: "16777216",
      jobLogRetention: "30",
      jobRetention: "180",
      bindMachineFiles: "true",
      haHeartbeatInterval: "250",
      haHeartbeatTimeout: "1000",
      haMaxAckDelay: "1000",
      haMaxUnackedClients: "1",
      haIdleTakeover: "3000",
      haSyncTimeout: "500",
      haMclt: "300",
      haGarpCount: "3",
      haFileScanInterval: "30",
      haAutoFailback: "false",
    });
    for (const [k, d] of Object.entries(PREFS)) expect(d.check(d.default)).toBeUndefined(), expect(k).toBeTruthy();
  });
  test("valid updates are returned as given", () => {
    expect(validatePrefs({ defaultBootEnv: "discovery", maxTokenTtl: "7200" })).toEqual({ defaultBootEnv: "discovery", maxTokenTtl: "7200" });
    expect(validatePrefs({})).toEqual({});
  });
  test("unknown names are listed with the known ones", () => {
    const e = rejected({ defaultBootenv: "x", logLevel: "debug" });
    expect(e.toJSON()).toMatchObject({ Model: "prefs", Key: "defaultBootenv", Code: 422 });
    expect(e.messages[0]).toBe(
      'unknown prefs "defaultBootenv", "logLevel"; known: defaultBootEnv, unknownBootEnv, defaultWorkflow, defaultStage, unknownTokenTimeout, knownTokenTimeout, agentTokenTimeout, userTokenTimeout, uiSessionTimeout, maxTokenTtl, jobLogMaxBytes, jobLogRetention, jobRetention, bindMachineFiles, haHeartbeatInterval, haHeartbeatTimeout, haMaxAckDelay, haMaxUnackedClients, haIdleTakeover, haSyncTimeout, haMclt, haGarpCount, haFileScanInterval, haAutoFailback',
    );
  });
  test("values are checked; nothing is partial", () => {
    const e = rejected({ defaultBootEnv: "a/b", knownTokenTimeout: "1h", userTokenTimeout: 60, unknownBootEnv: "discovery" });
    expect(e.messages).toEqual([
      'defaultBootEnv: invalid name "a/b": contains "/"',
      'knownTokenTimeout: invalid duration "1h": expected whole seconds from 1 to 4294967295',
      "userTokenTimeout: expected a string, got 60",
    ]);
    expect(e.key).toBe("defaultBootEnv");
    expect(rejected({ unknownTokenTimeout: "0" }).messages[0]).toContain('invalid duration "0"');
    expect(rejected({ unknownTokenTimeout: "0600" }).messages[0]).toContain('invalid duration "0600"');
    expect(validatePrefs({ bindMachineFiles: "false" })).toEqual({ bindMachineFiles: "false" });
    expect(rejected({ bindMachineFiles: "no" }).messages).toEqual(['bindMachineFiles: invalid boolean "no": expected "true" or "false"']);
  });
  test("HA timers are checked against each other on the merged prefs", () => {
    expect(validatePrefs({ haHeartbeatInterval: "400", haHeartbeatTimeout: "1000" })).toEqual({ haHeartbeatInterval: "400", haHeartbeatTimeout: "1000" });
    const e = rejected({ haHeartbeatInterval: "600" });
    expect(e.messages.join("\n")).toContain('haHeartbeatTimeout "1000" is shorter than twice haHeartbeatInterval "600"');
    expect(rejected({ haMclt: "10" }).messages[0]).toContain("haMclt");
  });

  test("timeouts may not exceed maxTokenTtl", () => {
    expect(rejected({ maxTokenTtl: "1000" }).messages).toEqual([
      'knownTokenTimeout: "3600" is longer than maxTokenTtl "1000"',
      'userTokenTimeout: "3600" is longer than maxTokenTtl "1000"',
    ]);
    expect(validatePrefs({ maxTokenTtl: "1000" }, { ...defaultPrefs(), knownTokenTimeout: "900", userTokenTimeout: "900" })).toEqual({ maxTokenTtl: "1000" });
  });
  test("input must be an object", () => {
    expect(rejected(["a"]).messages[0]).toBe('expected a JSON object of string values, got ["a"]');
    expect(rejected(null).code).toBe(422);
  });
});
