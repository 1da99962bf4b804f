import { makeRng } from "../dhcp/codec/testdata/fuzz.ts";
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import YAML from "yaml";
import { compileRegex, MAX_NESTING, RegexError } from "./linear-regex.ts";

/** The differences from RegExp, as "pattern  input  ours  theirs" lines (empty when they agree). */
function disagreements(patterns: string[], inputs: string[], flags = ""): string[] {
  const out: string[] = [];
  for (const p of patterns) {
    const ours = compileRegex(p);
    const theirs = new RegExp(p, flags);
    for (const s of inputs) {
      const a = ours.test(s);
      const b = theirs.test(s);
      if (a !== b) out.push(`${JSON.stringify(p)}  ${JSON.stringify(s)}  ours=${a} RegExp=${b}`);
    }
  }
  return out;
}

function refusal(pattern: string): RegexError {
  try {
    compileRegex(pattern);
  } catch (e) {
    if (e instanceof RegexError) return e;
    throw e;
  }
  throw new Error(`expected ${JSON.stringify(pattern)} to be refused`);
}

describe("agrees with RegExp on match / no match", () => {
  const INPUTS = [
    "", "a", "b", "aa", "ab", "ba", "abc", "aab", "abab", "aaaa", "xaaay", "n1", "n10", "n2", "f03",
    "foo", "foo bar", "afoo b", "foo_bar", "a.b", "a-b", "a\nb", "a\tb", "A", "Z9", "-", "]", "{", "{2}",
    "198.51.100.10", "52:54:00:00:00:22", "web-eu-01", "db 7", "x{1}", "\\", "/dev/sda", "ssh-rsa AAAA x",
  ];
  const PATTERNS = [
    "", "a", "ab", "^a", "a$", "^a$", "^$", "^", "$", ".", "^.$", "a.b", "a\\.b", "\\.",
    "a|b", "a|", "|a", "^(a|b)$", "(?:ab)+", "(ab)*c", "^(?:a|b)*$", "a*", "^a*$", "^a+$", "^a?$", "a+?b", "a??b", "a*?$",
    "^a{2}$", "^a{2,}$", "^a{1,3}$", "^a{0}$", "^(?:ab){1,2}$", "a{0,0}b", "^a{2,3}?$",
    "[ab]", "^[ab]+$", "[^ab]", "^[^a]*$", "[a-c]", "^[a-c0-9_-]+$", "[-a]", "[a-]", "[]", "[^]", "^[^]*$", "[]a]", "[\\]]", "[\\-]", "[.]",
    "\\d", "^\\d+$", "\\D", "\\w", "^\\w+$", "\\W", "\\s", "\\S", "^[\\w.-]+$", "[\\d\\s]", "[^\\w]",
    "\\bfoo\\b", "\\Bfoo", "foo\\B", "\\b", "\\B", "^\\b", "\\b$", "a\\b", "\\ba",
    "\\n", "\\t", "a\\nb", "\\x41", "\\u0041", "[\\x2d]", "\\cJ", "\\0", "\\/", "\\\\", "[\\\\]",
    "{", "a{", "a{,2}", "x{1}", "\\{2\\}", "}", "]",
    "(a+)+$", "(a|a)*b", "(x+x+)+y", "^(\\w+\\s?)*$", "(a*)*", "(a*)+b", "(a?)*$", "((a|b)*)*c",
    "^n1", "n1$", "^f0[0-2]$", ":22$", "^(?<name>web)-", "^\\d{1,3}(\\.\\d{1,3}){3}$", "^[0-9a-f]{2}(:[0-9a-f]{2}){5}$",
    "^/dev/[A-Za-z0-9/_.-]+$", "^(ssh-(rsa|ed25519)) [A-Za-z0-9+/=]+( [^'\"\\\\\\x00-\\x1f]*)?$",
  ];

  test("hand-written table", () => {
    expect(disagreements(PATTERNS, INPUTS)).toEqual([]);
  });

  test("characters are code points, as RegExp with the u flag counts them", () => {
    const astral = ["\u{1F600}", "a\u{1F600}", "\u{1F600}\u{1F600}", "\uD83D", "\uDE00a", "é", "A", "uuu"];
    const patterns = ["^.$", "^..$", "^[^a]$", "^[^a]+$", "^\\S$", "\\u{1F600}", "^\\uD83D\\uDE00$", "^[\\u{1F600}-\\u{1F64F}]$", "^\\W$", "\\u{41}", "^\\u{e9}$"];
    expect(disagreements(patterns, astral, "u")).toEqual([]);
    expect(compileRegex("^\\uD83D\\uDE00$").test("\u{1F600}")).toBe(true); // a pair of escapes is one character
  });

  test("randomized differential against RegExp (seeded)", () => {
    const rand = makeRng(0x50c1e);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
    const ATOMS = ["a", "b", "c", "1", " ", ".", "[ab]", "[^a]", "[a-c]", "[^bc1]", "\\w", "\\W", "\\d", "\\s", "\\S", "-", "\\-"];
    const ASSERTS = ["^", "$", "\\b", "\\B"];
    const QUANTS = ["*", "+", "?", "{2}", "{1,}", "{0,2}", "{1,3}", "*?", "+?", "??", "{0,1}?"];
    const alt = (depth: number): string => Array.from({ length: 1 + Math.floor(rand() * (depth > 0 ? 3 : 2)) }, () => cat(depth)).join("|");
    const cat = (depth: number): string => {
      let s = "";
      const n = Math.floor(rand() * 4);
      for (let i = 0; i < n; i++) {
        const r = rand();
        if (r < 0.12) {
          s += pick(ASSERTS);
          continue;
        }
        const atom = r < 0.35 && depth < 2 ? `(${rand() < 0.5 ? "?:" : ""}${alt(depth + 1)})` : pick(ATOMS);
        s += atom + (rand() < 0.45 ? pick(QUANTS) : "");
      }
      return s;
    };
    const word = () => Array.from({ length: Math.floor(rand() * 11) }, () => pick(["a", "b", "c", "1", " ", "-", "\n"])).join("");

    // JavaScriptCore's RegExp gives up after a backtracking budget and answers "no match" (on
    // "\b(?:\s+?|^)+|[^a](?:\s??-*?((?:||[^a]{2})+?(\W|[a-c]^|\w?)+?|)+){1,3}-+" against
    // " aacb1\n" it takes 1.8 s to say false; V8 and this engine say true). A case where RegExp
    // took that long is no oracle: it is counted, not compared.
    const t0 = performance.now();
    const bad: string[] = [];
    let cases = 0;
    let slow = 0;
    for (let i = 0; i < 3000; i++) {
      const p = alt(0);
      const ours = compileRegex(p);
      const theirs = new RegExp(p);
      for (let j = 0; j < 8; j++) {
        const s = word();
        const a = ours.test(s);
        const t = performance.now();
        const b = theirs.test(s);
        if (performance.now() - t > 20) slow++;
        else if (a !== b) bad.push(`${JSON.stringify(p)}  ${JSON.stringify(s)}  ours=${a} RegExp=${b}`);
        cases++;
      }
    }
    const ms = performance.now() - t0;
    console.log(`randomized differential: ${cases} cases (3000 patterns) in ${ms.toFixed(0)} ms; ${slow} left out where RegExp backtracked past 20 ms`);
    expect(bad.slice(0, 20)).toEqual([]);
    expect(slow).toBeLessThan(cases / 100);
  });

  test("when the DFA would be exponential, the NFA simulation it falls back to agrees too", () => {
    // (a|b)*a(a|b){12}: "is there an a 13 characters before the end", 2^13 DFA states.
    const p = "(a|b)*a(a|b){12}$";
    const re = compileRegex(p);
    const js = new RegExp(p);
    const rand = makeRng(7);
    const bad: string[] = [];
    for (let i = 0; i < 600; i++) {
      const s = Array.from({ length: 10 + Math.floor(rand() * 60) }, () => (rand() < 0.5 ? "a" : "b")).join("");
      if (re.test(s) !== js.test(s)) bad.push(s);
    }
    expect(bad).toEqual([]);
    expect(re.stats().nfaOnly).toBe(true);
  });

  test("every pattern in the shipped Param schemas compiles and agrees with RegExp (u)", () => {
    const root = join(import.meta.dir, "../../bootenvs");
    const patterns: string[] = [];
    const collect = (v: unknown) => {
      if (Array.isArray(v)) v.forEach(collect);
      else if (v && typeof v === "object") {
        for (const [k, x] of Object.entries(v)) {
          if (k === "pattern" && typeof x === "string") patterns.push(x);
          else collect(x);
        }
      }
    };
    for (const f of new Bun.Glob("*/params/*.yaml").scanSync(root)) collect(YAML.parse(readFileSync(join(root, f), "utf8")));
    expect(patterns.length).toBeGreaterThan(10);
    const samples = [
      "", "/dev/sda", "/dev/disk/by-id/x y", "https://deb.debian.org/debian", "ftp://x", "http:// x", "Europe/Paris", "UTC", "a/",
      "example.com", "-example.com", "ssh-ed25519 AAAAC3Nz me@host", "ssh-rsa AAAA a\"b", "$6$salt$hash", "$1$x", "ABCDE-12345-ABCDE-12345-ABCDE",
      "\\\\server\\share\\win11", "\\\\server", "secret", 'pa"ss', "user", "us er", "/vmfs/a.b --- /vmfs/c", "/a --- b",
    ];
    expect(disagreements(patterns, samples, "u")).toEqual([]);
  });
});

describe("refusals name the construct and where it is", () => {
  const LINEAR = "(patterns run in linear time: no backreferences, lookaround, atomic groups or possessive quantifiers)";
  const TABLE: [string, RegexError["kind"], string, number, string][] = [
    ["(a)\\1", "unsupported", "\\1", 3, `backreference \\1 at offset 3 is not supported ${LINEAR}`],
    ["(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)\\10", "unsupported", "\\10", 30, `backreference \\10 at offset 30 is not supported ${LINEAR}`],
    ["(?<x>a)\\k<x>", "unsupported", "\\k<x>", 7, `backreference \\k<x> at offset 7 is not supported ${LINEAR}`],
    ["a(?=b)", "unsupported", "(?=", 1, `lookahead (?= at offset 1 is not supported ${LINEAR}`],
    ["a(?!b)", "unsupported", "(?!", 1, `negative lookahead (?! at offset 1 is not supported ${LINEAR}`],
    ["(?<=a)b", "unsupported", "(?<=", 0, `lookbehind (?<= at offset 0 is not supported ${LINEAR}`],
    ["(?<!a)b", "unsupported", "(?<!", 0, `negative lookbehind (?<! at offset 0 is not supported ${LINEAR}`],
    ["(?>a+)b", "unsupported", "(?>", 0, `atomic group (?> at offset 0 is not supported ${LINEAR}`],
    ["xa++", "unsupported", "++", 2, `possessive quantifier ++ at offset 2 is not supported ${LINEAR}`],
    ["a{2}+", "unsupported", "{2}+", 1, `possessive quantifier {2}+ at offset 1 is not supported ${LINEAR}`],
    ["(?i)web", "unsupported", "(?i", 0, "inline flag group (?i at offset 0 is not supported (patterns take no flags: they are case-sensitive; write [Aa] for either case)"],
    ["\\p{L}", "unsupported", "\\p", 0, "Unicode property escape \\p at offset 0 is not supported (write the characters as a class, such as [A-Za-z])"],
    ["\\01", "unsupported", "\\01", 0, "octal escape \\01 at offset 0 is not supported (write the character as \\xHH)"],
    ["a{1001}", "too-large", "{1001}", 1, "repetition count 1001 in {1001} at offset 1 is more than 1000"],
    ["a{2,5000}", "too-large", "{2,5000}", 1, "repetition count 5000 in {2,5000} at offset 1 is more than 1000"],
    ["(?:a{1000}){11}", "too-large", "(?:a{1000}){11}", 0, "pattern too large: it compiles to 11001 states, at most 10000 allowed (a counted repetition {m,n} copies what it repeats n times)"],
    ["[", "syntax", "[", 0, "missing ] for [ at offset 0"],
    ["(ab", "syntax", "(", 0, "missing ) for ( at offset 0"],
    ["ab)", "syntax", ")", 2, "unmatched ) at offset 2"],
    ["*a", "syntax", "*", 0, "nothing to repeat before * at offset 0"],
    ["a**", "syntax", "*", 2, "nothing to repeat before * at offset 2 (a quantifier cannot follow another)"],
    ["^*", "syntax", "*", 1, "nothing to repeat before * at offset 1"],
    ["{2}", "syntax", "{2}", 0, "nothing to repeat before {2} at offset 0"],
    ["a{3,2}", "syntax", "{3,2}", 1, "numbers out of order in {3,2} at offset 1"],
    ["[z-a]", "syntax", "z-a", 1, "range z-a out of order at offset 1"],
    ["[\\w-z]", "syntax", "\\w-z", 1, "invalid range \\w-z at offset 1: a class escape cannot be a range end"],
    ["\\q", "syntax", "\\q", 0, "unknown escape \\q at offset 0"],
    ["a\\", "syntax", "\\", 1, "\\ at end of pattern (offset 1)"],
    ["\\xZ1", "syntax", "\\x", 0, "\\x at offset 0 needs two hex digits"],
    ["\\u12", "syntax", "\\u", 0, "\\u at offset 0 needs four hex digits or {hex}"],
    ["(?P<n>a)", "syntax", "(?P", 0, "group syntax (?P at offset 0 is Python's; write (?<name>...) or (?:...)"],
    ["(?<1>a)", "syntax", "(?<", 0, "invalid group name in (?<1> at offset 0"],
  ];
  for (const [pattern, kind, construct, offset, message] of TABLE) {
    test(`${pattern} -> ${kind}`, () => {
      const e = refusal(pattern);
      expect({ kind: e.kind, construct: e.construct, offset: e.offset, message: e.message }).toEqual({ kind, construct, offset, message });
    });
  }

  test("limits: {1000} and nesting up to the limit are fine", () => {
    expect(compileRegex("^a{1000}$").test("a".repeat(1000))).toBe(true);
    expect(compileRegex("^a{1000}$").test("a".repeat(999))).toBe(false);
    expect(compileRegex(`${"(".repeat(MAX_NESTING)}a${")".repeat(MAX_NESTING)}`).test("a")).toBe(true);
    const deep = refusal(`${"(".repeat(MAX_NESTING + 1)}a${")".repeat(MAX_NESTING + 1)}`);
    expect(deep.message).toBe(`groups nested more than ${MAX_NESTING} deep at offset ${MAX_NESTING}`);
    // A long pattern is not a deep one: no recursion per alternative or per character.
    expect(compileRegex(Array.from({ length: 1000 }, (_, i) => `n${i}`).join("|")).test("xn999")).toBe(true);
  });

  test("a work bound turns an expensive pattern into an error, and ordinary patterns never reach it", () => {
    const rand = makeRng(11);
    const names = Array.from({ length: 2000 }, () => Array.from({ length: 255 }, () => (rand() < 0.5 ? "a" : "b")).join(""));
    const cheap = compileRegex("^[ab]+-?[0-9]*$", { maxWork: 1_000_000 });
    expect(names.filter((n) => cheap.test(n))).toHaveLength(2000);
    console.log(`ordinary pattern over 2000 x 255 characters: work ${cheap.stats().work}`);
    const costly = compileRegex("(a|b)*a(a|b){20}c", { maxWork: 1_000_000 });
    const t0 = performance.now();
    let err: unknown;
    try {
      for (const n of names) costly.test(n);
    } catch (e) {
      err = e;
    }
    const ms = performance.now() - t0;
    expect(err).toBeInstanceOf(RegexError);
    expect((err as RegexError).kind).toBe("too-expensive");
    expect((err as RegexError).message).toBe("matching took more than 1000000 steps; use a simpler pattern");
    console.log(`exponential-DFA pattern stopped by its work bound after ${ms.toFixed(1)} ms`);
  });
});

describe("catastrophic patterns finish in linear time", () => {
  const CASES: [string, string][] = [
    ["(a+)+$", `${"a".repeat(254)}!`],
    ["(a|a)*b", "a".repeat(255)],
    ["(x+x+)+y", "x".repeat(255)],
    ["^(\\w+\\s?)*$", `${"a".repeat(254)}!`],
    ["^(\\w+\\s?)*$", `${"ab ".repeat(84)}ab!`],
    ["(.*a){20}", "a".repeat(19) + "b".repeat(236)],
  ];
  for (const [pattern, input] of CASES) {
    test(`${pattern} against ${input.length} characters`, () => {
      const t0 = performance.now();
      const re = compileRegex(pattern);
      const hit = re.test(input);
      const ms = performance.now() - t0;
      console.log(`${pattern} on ${input.length} characters: ${ms.toFixed(2)} ms (compile + test)`);
      expect(hit).toBe(false);
      expect(ms).toBeLessThan(200); // measured well under 5 ms; the bound only keeps CI noise out
    });
  }
});

