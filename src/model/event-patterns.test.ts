import { expect, test } from "bun:test";
import { eventMatches, eventPatternMatches, eventPatternProblem } from "./event-patterns.ts";

test("patterns match <type>.<action>; a wildcard type leaves leases out", () => {
  expect(eventPatternMatches("*", "machines", "create")).toBe(true);
  expect(eventPatternMatches("*", "leases", "update")).toBe(false);
  expect(eventPatternMatches("*.update", "leases", "update")).toBe(false);
  expect(eventPatternMatches("*.update", "jobs", "update")).toBe(true);
  expect(eventPatternMatches("leases.*", "leases", "update")).toBe(true);
  expect(eventPatternMatches("leases.delete", "leases", "update")).toBe(false);
  expect(eventPatternMatches("machines.*", "machines", "delete")).toBe(true);
  expect(eventPatternMatches("machines.*", "machine", "delete")).toBe(false);
  expect(eventPatternMatches("jobs.update", "jobs", "create")).toBe(false);
  expect(eventMatches(["jobs.update", "leases.*"], "leases", "create")).toBe(true);
  expect(eventMatches([], "machines", "create")).toBe(false);
});

test("bad patterns say what is wrong, quoting them", () => {
  expect(eventPatternProblem("*")).toBeUndefined();
  expect(eventPatternProblem("machines.*")).toBeUndefined();
  expect(eventPatternProblem("*.delete")).toBeUndefined();
  expect(eventPatternProblem("machines")).toContain('"machines" is not a pattern');
  expect(eventPatternProblem("machines.explode")).toContain('action "explode"');
  expect(eventPatternProblem("Machines.*")).toContain("not a type name");
  expect(eventPatternProblem("gizmos.*", (t) => t === "machines")).toContain('unknown type "gizmos"');
  expect(eventPatternProblem(5)).toContain("expected a string");
});
