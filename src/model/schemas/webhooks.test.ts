import { expect, test } from "bun:test";
import { SocleError } from "../errors.ts";
import { webhooks, webhookUrlProblem } from "./webhooks.ts";

const sealed = { "$socle-secure": "v1:x:y" };

test("defaults: Enabled, MaxAttempts 8, TimeoutSeconds 10", () => {
  const w = webhooks.prepare({ Name: "ops", Url: "https://hooks.example.test/in", Events: ["machines.*"], Secret: sealed });
  expect(w).toMatchObject({ Enabled: true, MaxAttempts: 8, TimeoutSeconds: 10, Description: "" });
});

test("every bad field is named with its value, all at once", () => {
  let err: SocleError | undefined;
  try {
    webhooks.prepare({ Name: "ops", Url: "ftp://x.example.test/", Events: ["machines", "jobs.explode"], Secret: sealed, MaxAttempts: 51, TimeoutSeconds: 0 });
  } catch (e) {
    err = e as SocleError;
  }
  expect(err?.code).toBe(422);
  const text = err!.messages.join("\n");
  expect(text).toContain('Url: "ftp://x.example.test/": scheme must be https');
  expect(text).toContain('Events[0]: "machines" is not a pattern');
  expect(text).toContain('Events[1]: "jobs.explode": action "explode"');
  expect(text).toContain("MaxAttempts: 51 is above the maximum of 50");
  expect(text).toContain("TimeoutSeconds: 0 is below the minimum of 1");
  expect(() => webhooks.prepare({ Name: "ops", Url: "https://a.example.test/", Events: [], Secret: sealed })).toThrow("Events");
  expect(() => webhooks.prepare({ Name: "n".repeat(201), Url: "https://a.example.test/", Events: ["*"], Secret: sealed })).toThrow("at most 200 allowed for a webhook");
  expect(() => webhooks.prepare({ Name: "ops", Url: "https://a.example.test/", Events: ["*"], Secret: "in clear" })).toThrow("Secret");
});

test("Url: https anywhere, http only to an IP literal (every spelling of one), no credentials or fragments", () => {
  expect(webhookUrlProblem("https://hooks.example.test/x")).toBeUndefined();
  expect(webhookUrlProblem("http://203.0.113.5:8080/x")).toBeUndefined();
  expect(webhookUrlProblem("http://[2001:db8::1]/x")).toBeUndefined();
  expect(webhookUrlProblem("http://3405803781/x")).toBeUndefined(); // 203.0.113.5 as one number
  expect(webhookUrlProblem("http://hooks.example.test/x")).toContain("plain http is allowed only to an IP address");
  expect(webhookUrlProblem("https://user:pw@hooks.example.test/")).toContain("credentials");
  expect(webhookUrlProblem("https://hooks.example.test/#x")).toContain("fragment");
  expect(webhookUrlProblem("hooks.example.test")).toContain("not an absolute URL");
  expect(webhookUrlProblem(`https://a.example.test/${"x".repeat(3000)}`)).toContain("at most 2048");
});
