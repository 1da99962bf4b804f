import { expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { webhookSignature } from "./signature.ts";

test("v1 = hex HMAC-SHA256 over v1:timestamp:id:body, the same for string and bytes", () => {
  const body = '{"Type":"machines","Action":"create"}';
  const sig = webhookSignature("s3cret-s3cret-s3cret", 1_700_000_000, "hook-42", body);
  // Known answer, computed independently of the function under test.
  const expected = createHmac("sha256", "s3cret-s3cret-s3cret").update(`v1:1700000000:hook-42:${body}`).digest("hex");
  expect(sig).toBe(`v1=${expected}`);
  expect(webhookSignature("s3cret-s3cret-s3cret", 1_700_000_000, "hook-42", new TextEncoder().encode(body))).toBe(sig);
});

test("timestamp, id, body and secret are all inside the MAC", () => {
  const base = webhookSignature("k".repeat(20), 1, "h-1", "{}");
  expect(webhookSignature("k".repeat(20), 2, "h-1", "{}")).not.toBe(base);
  expect(webhookSignature("k".repeat(20), 1, "h-2", "{}")).not.toBe(base);
  expect(webhookSignature("k".repeat(20), 1, "h-1", "{ }")).not.toBe(base);
  expect(webhookSignature("j".repeat(20), 1, "h-1", "{}")).not.toBe(base);
  // The separator keeps fields apart: moving a digit from the timestamp into the id changes it.
  expect(webhookSignature("k".repeat(20), 12, "3", "{}")).not.toBe(webhookSignature("k".repeat(20), 1, "23", "{}"));
});
