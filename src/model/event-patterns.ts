// Event patterns of a webhook: which changes of the store's feed it receives, matched against
// "<type>.<action>" ("machines.create"). A pattern is "*", "<type>.*", "*.<action>" or
// "<type>.<action>". Leases churn (every DHCP renewal is an update), so a wildcard type never
// takes them: only a pattern that names "leases" does.

import { quote } from "./validate.ts";

export const EVENT_ACTIONS: readonly string[] = ["create", "update", "delete"];

/** Types a wildcard type leaves out: they are delivered only to a pattern that names them. */
const NAMED_ONLY: ReadonlySet<string> = new Set(["leases"]);

const TYPE_WORD = /^[a-z][a-z0-9_-]*$/;

/** Why `p` is not a pattern, or undefined. `knownType`: whether a type name exists (the registry). */
export function eventPatternProblem(p: unknown, knownType?: (t: string) => boolean): string | undefined {
  if (typeof p !== "string") return `expected a string like "machines.*", got ${quote(p)}`;
  if (p === "*") return undefined;
  const dot = p.indexOf(".");
  if (dot < 0) return `${quote(p)} is not a pattern: write "<type>.<action>", "<type>.*", "*.<action>" or "*"`;
  const type = p.slice(0, dot);
  const action = p.slice(dot + 1);
  if (type !== "*" && !TYPE_WORD.test(type)) return `${quote(p)}: ${quote(type)} is not a type name or "*"`;
  if (type !== "*" && knownType && !knownType(type)) return `${quote(p)}: unknown type ${quote(type)}`;
  if (action !== "*" && !EVENT_ACTIONS.includes(action)) return `${quote(p)}: action ${quote(action)} is not one of ${EVENT_ACTIONS.join(", ")} or "*"`;
  return undefined;
}

/** Whether one pattern takes the event `type`.`action`. */
export function eventPatternMatches(pattern: string, type: string, action: string): boolean {
  if (pattern === "*") return !NAMED_ONLY.has(type);
  const dot = pattern.indexOf(".");
  if (dot < 0) return false;
  const pt = pattern.slice(0, dot);
  const pa = pattern.slice(dot + 1);
  const typeOk = pt === "*" ? !NAMED_ONLY.has(type) : pt === type;
  return typeOk && (pa === "*" || pa === action);
}

/** Whether any of `patterns` takes the event. */
export function eventMatches(patterns: readonly string[], type: string, action: string): boolean {
  return patterns.some((p) => eventPatternMatches(p, type, action));
}
