// For tests: a strict reader of the Prometheus text format 0.0.4 (every line a comment, HELP, TYPE
// or a sample of a family whose TYPE came first; names, label syntax and values checked), and
// `promtool check metrics` when Debian's prometheus package is installed.

import { spawnSync } from "node:child_process";

export interface ParsedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Exposition {
  types: Map<string, string>;
  helps: Map<string, string>;
  samples: ParsedSample[];
  /** The value of the sample `name` with exactly `labels`; undefined when there is none. */
  value(name: string, labels?: Record<string, string>): number | undefined;
}

const NAME = "[a-zA-Z_:][a-zA-Z0-9_:]*";
const SAMPLE = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)$`);
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(?:,|$)/;
const SUFFIXES: Record<string, string[]> = { counter: [""], gauge: [""], untyped: [""], histogram: ["_bucket", "_sum", "_count"], summary: ["", "_sum", "_count"] };

export function parseExposition(text: string): Exposition {
  if (!text.endsWith("\n")) throw new Error("exposition does not end in a newline");
  const types = new Map<string, string>();
  const helps = new Map<string, string>();
  const samples: ParsedSample[] = [];
  const seen = new Set<string>();
  text.split("\n").forEach((line, i) => {
    const where = `line ${i + 1} ${JSON.stringify(line)}`;
    if (line === "") return;
    let m: RegExpExecArray | null;
    if ((m = new RegExp(`^# HELP (${NAME}) (.*)$`).exec(line))) {
      if (helps.has(m[1]!)) throw new Error(`${where}: second HELP`);
      helps.set(m[1]!, m[2]!);
      return;
    }
    if ((m = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`).exec(line))) {
      if (types.has(m[1]!)) throw new Error(`${where}: second TYPE`);
      types.set(m[1]!, m[2]!);
      return;
    }
    if (line.startsWith("#")) return;
    m = SAMPLE.exec(line);
    if (!m) throw new Error(`${where}: not a sample`);
    const [, name, labelText = "", raw] = m;
    const family = [...types.keys()].find((f) => (SUFFIXES[types.get(f)!] ?? [""]).some((s) => name === f + s));
    if (!family) throw new Error(`${where}: no TYPE line for ${name}`);
    const labels: Record<string, string> = {};
    let rest = labelText;
    while (rest !== "") {
      const l = LABEL.exec(rest);
      if (!l) throw new Error(`${where}: bad labels at ${JSON.stringify(rest)}`);
      if (l[1]! in labels) throw new Error(`${where}: label ${l[1]} twice`);
      labels[l[1]!] = l[2]!.replace(/\\n/g, "\n").replace(/\\"/g, '"').replace(/\\\\/g, "\\");
      rest = rest.slice(l[0].length);
    }
    const value = raw === "+Inf" ? Infinity : raw === "-Inf" ? -Infinity : raw === "NaN" ? NaN : Number(raw);
    if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^[-+]Inf$|^NaN$/.test(raw!)) throw new Error(`${where}: bad value ${raw}`);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seen.has(key)) throw new Error(`${where}: duplicate sample`);
    seen.add(key);
    samples.push({ name: name!, labels, value });
  });
  return {
    types,
    helps,
    samples,
    value(name, want = {}) {
      const keys = Object.keys(want);
      return samples.find((s) => s.name === name && Object.keys(s.labels).length === keys.length && keys.every((k) => s.labels[k] === want[k]))?.value;
    },
  };
}

/** `promtool check metrics` over `text`: undefined when promtool is not installed. */
export function promtoolCheck(text: string): { code: number; output: string } | undefined {
  const r = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8", timeout: 30_000 });
  if (r.error && (r.error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
  return { code: r.status ?? -1, output: `${r.stdout ?? ""}${r.stderr ?? ""}` };
}
