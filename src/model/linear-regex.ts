// Regular expressions that run in time linear in the input, for patterns that come from outside
// (list filters `Name=Re(...)`, JSON-Schema `pattern` checked against machine-supplied values).
//
// JavaScript's RegExp backtracks: `(a+)+$` against 255 "a"s and a "!" tries every way of
// splitting the run, and the one thread that serves every request spends seconds on it. This
// engine takes RE2's bargain instead: it accepts only what a finite automaton can decide
// (no backreferences, no lookaround, no atomic groups or possessive quantifiers) and answers
// "does the pattern match anywhere in the input" by running a Thompson NFA as a lazily built DFA.
// Every input character costs one table lookup once the DFA state it lands in has been built, and
// building a state costs one pass over the program, so a test costs at most
// O(input length x program size), whatever the pattern. The DFA cache is bounded; a pattern whose
// DFA is exponential (`(a|b)*a(a|b){20}`) fills it again and again, and then the NFA is simulated
// directly, still one pass over the program per character. That is linear but not free over a
// large list, so a caller can also bound the total work (RegexOptions.maxWork).
//
// Syntax is JavaScript's (so existing filters keep working), with these differences:
// - characters are code points: `.` and `[^a]` match a surrogate pair as one character;
// - `{` that does not start a valid `{m}`, `{m,}` or `{m,n}` is a literal, as in JavaScript
//   without the `u` flag, but unknown letter escapes (`\q`) and malformed `\x`, `\u`, `\c` are
//   errors rather than literal letters;
// - no flags: no case-insensitive mode, no multiline (`^` and `$` are start and end of input),
//   `.` does not match line terminators (\n \r U+2028 U+2029).
// Only match / no match is computed; lazy quantifiers (`*?`) parse and mean the same as greedy ones.

export type RegexErrorKind = "syntax" | "unsupported" | "too-large" | "too-expensive";

/** A pattern this engine will not run; `construct` is the offending piece, `offset` its position. */
export class RegexError extends Error {
  override readonly name = "RegexError";
  constructor(
    readonly kind: RegexErrorKind,
    readonly construct: string,
    /** 0-based, in characters (code points) of the pattern. */
    readonly offset: number,
    message: string,
  ) {
    super(message);
  }
}

/** Largest count in `{m}`, `{m,}` and `{m,n}`. */
export const MAX_REPEAT = 1000;
/** Largest compiled program (NFA states); counted repetition copies its operand. */
export const MAX_PROGRAM = 10_000;
/** Deepest group nesting (keeps the parser's recursion bounded). */
export const MAX_NESTING = 100;
/** DFA states kept per compiled pattern; past this the cache starts over (linearity holds). */
const MAX_DFA_STATES = 2_000;

export interface LinearRegex {
  readonly source: string;
  /** Compiled program size, in NFA states. */
  readonly size: number;
  /** Does the pattern match anywhere in `input` (at the start only where it says `^`)? */
  test(input: string): boolean;
  /** For tests and diagnostics: DFA states cached, cache restarts, work spent, NFA-only mode. */
  stats(): { dfaStates: number; resets: number; work: number; nfaOnly: boolean };
}

export interface RegexOptions {
  /**
   * Bound on the work (NFA states visited) spent building DFA states, or simulating the NFA
   * once the DFA turns out to be exponential, over every test() of this compiled pattern. Past it
   * test() throws RegexError "too-expensive". Reusing a built DFA state costs nothing, so an
   * ordinary pattern never comes near it. Default: no bound.
   */
  maxWork?: number;
}

/** Compile once, test many times. Throws RegexError naming the construct it refuses. */
export function compileRegex(source: string, opts: RegexOptions = {}): LinearRegex {
  const ast = new Parser(source).parse();
  const size = sizeOf(ast) + 1;
  if (size > MAX_PROGRAM) {
    throw new RegexError(
      "too-large",
      source,
      0,
      `pattern too large: it compiles to ${size > 1e9 ? "more than 1000000000" : size} states, at most ${MAX_PROGRAM} allowed (a counted repetition {m,n} copies what it repeats n times)`,
    );
  }
  return new Matcher(source, compile(ast), size, opts);
}

// --- character sets ---------------------------------------------------------------------------
// A set is a flat list of inclusive code point ranges [lo0, hi0, lo1, hi1, ...], sorted, disjoint
// and not adjacent.

type Ranges = number[];
const MAX_CP = 0x10ffff;

function normalize(pairs: number[]): Ranges {
  const idx: number[] = [];
  for (let i = 0; i < pairs.length; i += 2) idx.push(i);
  idx.sort((a, b) => (pairs[a] as number) - (pairs[b] as number));
  const out: Ranges = [];
  for (const i of idx) {
    const lo = pairs[i] as number;
    const hi = pairs[i + 1] as number;
    const n = out.length;
    if (n > 0 && lo <= (out[n - 1] as number) + 1) out[n - 1] = Math.max(out[n - 1] as number, hi);
    else out.push(lo, hi);
  }
  return out;
}

function negate(r: Ranges): Ranges {
  const out: Ranges = [];
  let next = 0;
  for (let i = 0; i < r.length; i += 2) {
    if ((r[i] as number) > next) out.push(next, (r[i] as number) - 1);
    next = (r[i + 1] as number) + 1;
  }
  if (next <= MAX_CP) out.push(next, MAX_CP);
  return out;
}

function contains(r: Ranges, cp: number): boolean {
  let lo = 0;
  let hi = (r.length >> 1) - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (cp < (r[2 * mid] as number)) hi = mid - 1;
    else if (cp > (r[2 * mid + 1] as number)) lo = mid + 1;
    else return true;
  }
  return false;
}

const DIGIT: Ranges = [0x30, 0x39];
const WORD: Ranges = [0x30, 0x39, 0x41, 0x5a, 0x5f, 0x5f, 0x61, 0x7a];
// JavaScript's \s: WhiteSpace and LineTerminator.
const SPACE: Ranges = normalize([
  0x09, 0x0d, 0x20, 0x20, 0xa0, 0xa0, 0x1680, 0x1680, 0x2000, 0x200a, 0x2028, 0x2029, 0x202f, 0x202f, 0x205f, 0x205f,
  0x3000, 0x3000, 0xfeff, 0xfeff,
]);
const LINE_TERMINATORS: Ranges = [0x0a, 0x0a, 0x0d, 0x0d, 0x2028, 0x2029];
const DOT: Ranges = negate(LINE_TERMINATORS);
const isWordCp = (cp: number) => contains(WORD, cp);

// --- syntax tree ------------------------------------------------------------------------------

const enum Assert {
  Start,
  End,
  WordBoundary,
  NotWordBoundary,
}

type Node =
  | { t: "set"; ranges: Ranges }
  | { t: "assert"; kind: Assert }
  | { t: "cat"; items: Node[] }
  | { t: "alt"; items: Node[] }
  | { t: "rep"; node: Node; min: number; max: number };

const OCTAL_WHY = "write the character as \\xHH";
const LINEAR_WHY = "patterns run in linear time: no backreferences, lookaround, atomic groups or possessive quantifiers";

const ch = (s: string) => s.codePointAt(0) as number;
const isDigit = (c: number | undefined) => c !== undefined && c >= 0x30 && c <= 0x39;
const isHex = (c: number | undefined) => c !== undefined && /[0-9A-Fa-f]/.test(String.fromCodePoint(c));
const isAsciiAlnum = (c: number) => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);

interface Atom {
  node: Node;
  /** Assertions take no quantifier (JavaScript says "nothing to repeat" too). */
  quantifiable: boolean;
}

interface ClassAtom {
  set: Ranges;
  /** The code point when the atom is one character (a range end); undefined for \d, \w, ... */
  single: number | undefined;
}

interface Quantifier {
  min: number;
  max: number;
  text: string;
  /** Index just past the quantifier. */
  end: number;
}

class Parser {
  private readonly cps: number[];
  private i = 0;
  private depth = 0;

  constructor(source: string) {
    this.cps = Array.from(source, ch);
  }

  parse(): Node {
    const node = this.alternation();
    if (this.i < this.cps.length) this.syntax(")", this.i, `unmatched ) at offset ${this.i}`);
    return node;
  }

  private peek(k = 0): number | undefined {
    return this.cps[this.i + k];
  }

  private text(from: number, to: number): string {
    return String.fromCodePoint(...this.cps.slice(from, to));
  }

  private syntax(construct: string, at: number, message: string): never {
    throw new RegexError("syntax", construct, at, message);
  }

  private unsupported(what: string, construct: string, at: number, why = LINEAR_WHY): never {
    throw new RegexError("unsupported", construct, at, `${what} ${construct} at offset ${at} is not supported (${why})`);
  }

  private alternation(): Node {
    const items = [this.concatenation()];
    while (this.peek() === ch("|")) {
      this.i++;
      items.push(this.concatenation());
    }
    return items.length === 1 ? (items[0] as Node) : { t: "alt", items };
  }

  private concatenation(): Node {
    const items: Node[] = [];
    for (;;) {
      const c = this.peek();
      if (c === undefined || c === ch("|") || c === ch(")")) break;
      items.push(this.quantified(this.atom()));
    }
    return items.length === 1 ? (items[0] as Node) : { t: "cat", items };
  }

  /** `*`, `+`, `?`, `{m}`, `{m,}` or `{m,n}` at the cursor, without consuming it. */
  private quantifierAt(at: number): Quantifier | undefined {
    const c = this.cps[at];
    if (c === ch("*")) return { min: 0, max: Infinity, text: "*", end: at + 1 };
    if (c === ch("+")) return { min: 1, max: Infinity, text: "+", end: at + 1 };
    if (c === ch("?")) return { min: 0, max: 1, text: "?", end: at + 1 };
    if (c !== ch("{")) return undefined;
    let j = at + 1;
    const digits = () => {
      const from = j;
      while (isDigit(this.cps[j])) j++;
      return j > from ? Number(this.text(from, j)) : undefined;
    };
    const min = digits();
    if (min === undefined) return undefined;
    let max = min;
    if (this.cps[j] === ch(",")) {
      j++;
      max = digits() ?? Infinity;
    }
    if (this.cps[j] !== ch("}")) return undefined;
    return { min, max, text: this.text(at, j + 1), end: j + 1 };
  }

  private quantified(atom: Atom): Node {
    const at = this.i;
    const q = this.quantifierAt(at);
    if (!q) return atom.node;
    if (!atom.quantifiable) this.syntax(q.text, at, `nothing to repeat before ${q.text} at offset ${at}`);
    for (const n of [q.min, q.max]) {
      if (n !== Infinity && n > MAX_REPEAT) {
        throw new RegexError("too-large", q.text, at, `repetition count ${n} in ${q.text} at offset ${at} is more than ${MAX_REPEAT}`);
      }
    }
    if (q.max < q.min) this.syntax(q.text, at, `numbers out of order in ${q.text} at offset ${at}`);
    this.i = q.end;
    if (this.peek() === ch("?")) {
      this.i++; // lazy: the same answer to "does it match"
    } else if (this.peek() === ch("+")) {
      this.unsupported("possessive quantifier", `${q.text}+`, at);
    }
    const again = this.quantifierAt(this.i);
    if (again) this.syntax(again.text, this.i, `nothing to repeat before ${again.text} at offset ${this.i} (a quantifier cannot follow another)`);
    return { t: "rep", node: atom.node, min: q.min, max: q.max };
  }

  private atom(): Atom {
    const at = this.i;
    const c = this.peek() as number;
    switch (c) {
      case ch("("):
        return { node: this.group(), quantifiable: true };
      case ch("["):
        return { node: { t: "set", ranges: this.characterClass() }, quantifiable: true };
      case ch("."):
        this.i++;
        return { node: { t: "set", ranges: DOT }, quantifiable: true };
      case ch("^"):
        this.i++;
        return { node: { t: "assert", kind: Assert.Start }, quantifiable: false };
      case ch("$"):
        this.i++;
        return { node: { t: "assert", kind: Assert.End }, quantifiable: false };
      case ch("\\"): {
        const e = this.escape(false);
        if (typeof e === "number") return { node: { t: "assert", kind: e }, quantifiable: false };
        return { node: { t: "set", ranges: e.set }, quantifiable: true };
      }
      case ch("*"):
      case ch("+"):
      case ch("?"):
        return this.syntax(String.fromCodePoint(c), at, `nothing to repeat before ${String.fromCodePoint(c)} at offset ${at}`);
      case ch("{"): {
        const q = this.quantifierAt(at);
        if (q) this.syntax(q.text, at, `nothing to repeat before ${q.text} at offset ${at}`);
        break; // a literal "{"
      }
    }
    this.i++;
    return { node: { t: "set", ranges: [c, c] }, quantifiable: true };
  }

  private group(): Node {
    const open = this.i;
    if (this.depth >= MAX_NESTING) {
      throw new RegexError("too-large", "(", open, `groups nested more than ${MAX_NESTING} deep at offset ${open}`);
    }
    this.i++;
    if (this.peek() === ch("?")) {
      const k = this.peek(1);
      const k2 = this.peek(2);
      if (k === ch(":")) this.i += 2;
      else if (k === ch("=")) this.unsupported("lookahead", "(?=", open);
      else if (k === ch("!")) this.unsupported("negative lookahead", "(?!", open);
      else if (k === ch("<") && k2 === ch("=")) this.unsupported("lookbehind", "(?<=", open);
      else if (k === ch("<") && k2 === ch("!")) this.unsupported("negative lookbehind", "(?<!", open);
      else if (k === ch("<")) {
        // Named group: the name does not matter to a yes/no answer.
        this.i += 2;
        const from = this.i;
        while (this.peek() !== undefined && /[\p{ID_Continue}$]/u.test(String.fromCodePoint(this.peek() as number))) this.i++;
        if (this.i === from || this.peek() !== ch(">") || !/^[\p{ID_Start}$_]/u.test(this.text(from, from + 1))) {
          this.syntax("(?<", open, `invalid group name in ${this.text(open, Math.min(this.i + 1, this.cps.length))} at offset ${open}`);
        }
        this.i++;
      } else if (k === ch(">")) this.unsupported("atomic group", "(?>", open);
      else if (k === ch("P")) this.syntax("(?P", open, `group syntax (?P at offset ${open} is Python's; write (?<name>...) or (?:...)`);
      else if (k !== undefined && /[a-zA-Z-]/.test(String.fromCodePoint(k))) {
        let j = this.i + 1;
        while (this.cps[j] !== undefined && /[a-zA-Z-]/.test(String.fromCodePoint(this.cps[j] as number))) j++;
        this.unsupported("inline flag group", this.text(open, j), open, "patterns take no flags: they are case-sensitive; write [Aa] for either case");
      } else this.syntax("(?", open, `invalid group (?${k === undefined ? "" : String.fromCodePoint(k)} at offset ${open}`);
    }
    this.depth++;
    const node = this.alternation();
    this.depth--;
    if (this.peek() !== ch(")")) this.syntax("(", open, `missing ) for ( at offset ${open}`);
    this.i++;
    return node;
  }

  private characterClass(): Ranges {
    const open = this.i;
    this.i++;
    let negated = false;
    if (this.peek() === ch("^")) {
      negated = true;
      this.i++;
    }
    const pairs: number[] = [];
    for (;;) {
      const c = this.peek();
      if (c === undefined) this.syntax("[", open, `missing ] for [ at offset ${open}`);
      if (c === ch("]")) {
        this.i++;
        break;
      }
      const aAt = this.i;
      const a = this.classAtom();
      if (this.peek() === ch("-") && this.peek(1) !== undefined && this.peek(1) !== ch("]")) {
        this.i++;
        const b = this.classAtom();
        const range = this.text(aAt, this.i);
        if (a.single === undefined || b.single === undefined) {
          this.syntax(range, aAt, `invalid range ${range} at offset ${aAt}: a class escape cannot be a range end`);
        }
        if (a.single > b.single) this.syntax(range, aAt, `range ${range} out of order at offset ${aAt}`);
        pairs.push(a.single, b.single);
      } else {
        pairs.push(...a.set);
      }
    }
    const set = normalize(pairs);
    return negated ? negate(set) : set;
  }

  private classAtom(): ClassAtom {
    if (this.peek() === ch("\\")) {
      const e = this.escape(true);
      if (typeof e === "number") throw new Error("unreachable: no assertions inside a class");
      return e;
    }
    const c = this.peek() as number;
    this.i++;
    return { set: [c, c], single: c };
  }

  /** A backslash escape at the cursor: a set (or one character), or an assertion outside classes. */
  private escape(inClass: boolean): ClassAtom | Assert {
    const at = this.i;
    this.i++;
    const c = this.peek();
    if (c === undefined) this.syntax("\\", at, `\\ at end of pattern (offset ${at})`);
    this.i++;
    const one = (cp: number): ClassAtom => ({ set: [cp, cp], single: cp });
    const many = (set: Ranges): ClassAtom => ({ set, single: undefined });
    const name = String.fromCodePoint(c);
    switch (name) {
      case "d":
        return many(DIGIT);
      case "D":
        return many(negate(DIGIT));
      case "w":
        return many(WORD);
      case "W":
        return many(negate(WORD));
      case "s":
        return many(SPACE);
      case "S":
        return many(negate(SPACE));
      case "b":
        return inClass ? one(0x08) : Assert.WordBoundary;
      case "B":
        if (inClass) this.syntax("\\B", at, `\\B at offset ${at} is not allowed inside a class`);
        return Assert.NotWordBoundary;
      case "n":
        return one(0x0a);
      case "t":
        return one(0x09);
      case "r":
        return one(0x0d);
      case "f":
        return one(0x0c);
      case "v":
        return one(0x0b);
      case "0":
        if (isDigit(this.peek())) {
          while (isDigit(this.peek())) this.i++;
          this.unsupported("octal escape", this.text(at, this.i), at, OCTAL_WHY);
        }
        return one(0);
      case "x": {
        if (!isHex(this.peek()) || !isHex(this.peek(1))) this.syntax("\\x", at, `\\x at offset ${at} needs two hex digits`);
        this.i += 2;
        return one(Number.parseInt(this.text(at + 2, this.i), 16));
      }
      case "u": {
        const cp = this.unicodeEscape(at);
        // A surrogate pair written as two escapes is one character.
        if (cp >= 0xd800 && cp <= 0xdbff && this.peek() === ch("\\") && this.peek(1) === ch("u")) {
          const save = this.i;
          this.i += 2;
          const lo = this.unicodeEscape(save);
          if (lo >= 0xdc00 && lo <= 0xdfff) return one(0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00));
          this.i = save;
        }
        return one(cp);
      }
      case "c": {
        const l = this.peek();
        if (l === undefined || !/[A-Za-z]/.test(String.fromCodePoint(l))) this.syntax("\\c", at, `\\c at offset ${at} needs a letter`);
        this.i++;
        return one(l % 32);
      }
      case "p":
      case "P":
        return this.unsupported("Unicode property escape", `\\${name}`, at, "write the characters as a class, such as [A-Za-z]");
      case "k":
        if (!inClass && this.peek() === ch("<")) {
          const close = this.cps.indexOf(ch(">"), this.i);
          this.unsupported("backreference", this.text(at, close < 0 ? this.i + 1 : close + 1), at);
        }
        break;
    }
    if (isDigit(c)) {
      while (isDigit(this.peek())) this.i++;
      // Inside a class JavaScript reads \1 as an octal escape; outside, as a backreference.
      if (inClass) this.unsupported("octal escape", this.text(at, this.i), at, OCTAL_WHY);
      this.unsupported("backreference", this.text(at, this.i), at);
    }
    if (isAsciiAlnum(c)) this.syntax(`\\${name}`, at, `unknown escape \\${name} at offset ${at}`);
    return one(c); // \. \\ \/ \- \( ...: the character itself
  }

  /** After `\u`: four hex digits or {hex}; the cursor is just past the `u`. */
  private unicodeEscape(at: number): number {
    if (this.peek() === ch("{")) {
      const from = this.i + 1;
      let j = from;
      while (isHex(this.cps[j])) j++;
      const cp = j > from && this.cps[j] === ch("}") ? Number.parseInt(this.text(from, j), 16) : Number.NaN;
      if (!(cp <= MAX_CP)) this.syntax("\\u", at, `\\u{...} at offset ${at} needs a hex code point up to 10FFFF`);
      this.i = j + 1;
      return cp;
    }
    for (let k = 0; k < 4; k++) {
      if (!isHex(this.peek(k))) this.syntax("\\u", at, `\\u at offset ${at} needs four hex digits or {hex}`);
    }
    this.i += 4;
    return Number.parseInt(this.text(this.i - 4, this.i), 16);
  }
}

/** NFA states the node compiles to (may be far above the limit; checked before compiling). */
function sizeOf(n: Node): number {
  switch (n.t) {
    case "set":
    case "assert":
      return 1;
    case "cat":
      return n.items.reduce((s, x) => s + sizeOf(x), 0);
    case "alt":
      return n.items.reduce((s, x) => s + sizeOf(x), 0) + n.items.length - 1;
    case "rep": {
      const c = sizeOf(n.node);
      if (n.max === Infinity) return n.min === 0 ? c + 1 : n.min * c + 1;
      return n.min * c + (n.max - n.min) * (c + 1);
    }
  }
}

// --- program (Thompson NFA) -------------------------------------------------------------------

const enum Op {
  Set, // consume one character in sets[pc], go to x
  Split, // go to x and to y
  Assert, // if the assertion y holds here, go to x
  Match,
}

interface Program {
  op: Op[];
  x: number[];
  y: number[];
  sets: (Ranges | undefined)[];
  start: number;
}

/** Emit back to front: each node is compiled knowing where it continues. */
function compile(ast: Node): Program {
  const p: Program = { op: [], x: [], y: [], sets: [], start: 0 };
  const add = (op: Op, x: number, y: number, set?: Ranges) => {
    p.op.push(op);
    p.x.push(x);
    p.y.push(y);
    p.sets.push(set);
    return p.op.length - 1;
  };
  const emit = (n: Node, next: number): number => {
    switch (n.t) {
      case "set":
        return add(Op.Set, next, 0, n.ranges);
      case "assert":
        return add(Op.Assert, next, n.kind);
      case "cat": {
        let pc = next;
        for (let k = n.items.length - 1; k >= 0; k--) pc = emit(n.items[k] as Node, pc);
        return pc;
      }
      case "alt": {
        const entries = n.items.map((it) => emit(it, next));
        let pc = entries[entries.length - 1] as number;
        for (let k = entries.length - 2; k >= 0; k--) pc = add(Op.Split, entries[k] as number, pc);
        return pc;
      }
      case "rep": {
        let pc: number;
        if (n.max === Infinity) {
          // x{m,}: m-1 copies, then a copy that loops back through a split.
          const loop = add(Op.Split, -1, next);
          const body = emit(n.node, loop);
          p.x[loop] = body;
          pc = n.min === 0 ? loop : body;
          for (let k = 1; k < n.min; k++) pc = emit(n.node, pc);
          return pc;
        }
        // x{m,n}: m copies, then n-m nested optional copies (x(x(x)?)?)?.
        pc = next;
        for (let k = 0; k < n.max - n.min; k++) pc = add(Op.Split, emit(n.node, pc), next);
        for (let k = 0; k < n.min; k++) pc = emit(n.node, pc);
        return pc;
      }
    }
  };
  p.start = emit(ast, add(Op.Match, 0, 0));
  return p;
}

// --- matcher (lazy DFA over the NFA) ----------------------------------------------------------

const AT_START = 1;
const PREV_WORD = 2;
/** Cache size bound, in stored numbers (waiting NFA states plus transition slots): ~16 MB. */
const MAX_CACHE_COST = 2_000_000;
/** After this many cache restarts the DFA is not paying for itself: simulate the NFA directly. */
const MAX_RESETS = 3;

interface DState {
  /** NFA states waiting for the next character: Set, Assert (not decided yet) and Match. */
  pcs: Int32Array;
  flags: number;
  /** Transitions by character class; the last slot is end of input. */
  next: (DState | undefined)[];
}

class Matcher implements LinearRegex {
  /** Start of each character class: the classes partition all code points. */
  private readonly bounds: number[];
  private readonly ascii: Int32Array;
  private readonly wordClass: boolean[];
  /** The class number that stands for end of input. */
  private readonly eot: number;
  private readonly usesWord: boolean;
  private readonly usesStart: boolean;
  /** Can a match attempt start after position 0 at all (false for `^...`)? */
  private readonly searchOn: boolean;
  private readonly maxWork: number;
  // Scratch space for advance(), sized by the program so that no step allocates.
  private readonly mark: Int32Array;
  private readonly stack: Int32Array;
  private readonly live: Int32Array;
  private readonly bufA: Int32Array;
  private readonly bufB: Int32Array;
  private gen = 0;
  private work = 0;
  private cache = new Map<string, DState>();
  private cacheCost = 0;
  private resets = 0;
  private nfaOnly = false;
  private initial: DState | undefined;
  private readonly MATCH: DState = { pcs: new Int32Array(0), flags: 0, next: [] };
  private readonly DEAD: DState = { pcs: new Int32Array(0), flags: 0, next: [] };

  constructor(
    readonly source: string,
    private readonly prog: Program,
    readonly size: number,
    opts: RegexOptions,
  ) {
    const m = prog.op.length;
    this.maxWork = opts.maxWork ?? Infinity;
    this.mark = new Int32Array(m);
    this.stack = new Int32Array(3 * m + 3);
    this.live = new Int32Array(m);
    this.bufA = new Int32Array(m);
    this.bufB = new Int32Array(m);
    const isAssert = (pc: number, ...kinds: Assert[]) => prog.op[pc] === Op.Assert && kinds.includes(prog.y[pc] as Assert);
    this.usesWord = prog.op.some((_, pc) => isAssert(pc, Assert.WordBoundary, Assert.NotWordBoundary));
    this.usesStart = prog.op.some((_, pc) => isAssert(pc, Assert.Start));
    const cuts = new Set<number>([0]);
    const addCuts = (r: Ranges) => {
      for (let k = 0; k < r.length; k += 2) {
        cuts.add(r[k] as number);
        if ((r[k + 1] as number) < MAX_CP) cuts.add((r[k + 1] as number) + 1);
      }
    };
    for (const s of prog.sets) if (s) addCuts(s);
    if (this.usesWord) addCuts(WORD);
    this.bounds = [...cuts].sort((a, b) => a - b);
    this.eot = this.bounds.length;
    this.wordClass = this.bounds.map(isWordCp);
    this.ascii = new Int32Array(128);
    for (let cp = 0; cp < 128; cp++) this.ascii[cp] = this.searchClass(cp);
    this.gen++;
    const n = this.closure(prog.start, this.bufA, 0);
    this.searchOn = Array.from(this.bufA.subarray(0, n)).some((pc) => !isAssert(pc, Assert.Start));
  }

  stats() {
    return { dfaStates: this.cache.size, resets: this.resets, work: this.work, nfaOnly: this.nfaOnly };
  }

  private classOf(cp: number): number {
    return cp < 128 ? (this.ascii[cp] as number) : this.searchClass(cp);
  }

  private searchClass(cp: number): number {
    const b = this.bounds;
    let lo = 0;
    let hi = b.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((b[mid] as number) <= cp) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  test(input: string): boolean {
    if (this.nfaOnly) return this.simulate(input);
    let s = this.initial ?? this.start();
    const n = input.length;
    for (let i = 0; i < n; i++) {
      if (s === this.DEAD) return false;
      // A surrogate pair is one code point (and one step); a lone surrogate is itself.
      const cp = input.codePointAt(i) as number;
      if (cp > 0xffff) i++;
      const k = this.classOf(cp);
      let t = s.next[k];
      if (t === undefined) {
        t = this.step(s, k);
        // The cache thrashed (the DFA would be exponential): redo this input without it.
        if (this.nfaOnly) return this.simulate(input);
      }
      if (t === this.MATCH) return true;
      s = t;
    }
    if (s === this.DEAD) return false;
    return (s.next[this.eot] ?? this.step(s, this.eot)) === this.MATCH;
  }

  /** The NFA simulation without a cache: the same steps, none remembered. */
  private simulate(input: string): boolean {
    let cur = this.bufA;
    let other = this.bufB;
    this.gen++;
    let count = this.closure(this.prog.start, cur, 0);
    let flags = this.usesStart ? AT_START : 0;
    const n = input.length;
    for (let i = 0; i < n; i++) {
      if (count === 0) return false;
      // A surrogate pair is one code point (and one step); a lone surrogate is itself.
      const cp = input.codePointAt(i) as number;
      if (cp > 0xffff) i++;
      const k = this.classOf(cp);
      count = this.advance(cur, count, flags, k, other);
      if (count < 0) return true;
      [cur, other] = [other, cur];
      flags = this.usesWord && this.wordClass[k] ? PREV_WORD : 0;
    }
    return count > 0 && this.advance(cur, count, flags, this.eot, other) < 0;
  }

  private start(): DState {
    this.gen++;
    const n = this.closure(this.prog.start, this.bufA, 0);
    this.initial = this.intern(this.bufA, n, this.usesStart ? AT_START : 0);
    return this.initial;
  }

  /** Build the transition from s on character class k (or end of input) and cache it. */
  private step(s: DState, k: number): DState {
    const n = this.advance(s.pcs, s.pcs.length, s.flags, k, this.bufA);
    let t: DState;
    if (n < 0) t = this.MATCH;
    else if (k === this.eot) t = this.DEAD;
    else t = this.intern(this.bufA, n, this.usesWord && this.wordClass[k] ? PREV_WORD : 0);
    s.next[k] = t;
    return t;
  }

  /** Follow splits from pc (in the current generation); append the states that wait to out. */
  private closure(pc: number, out: Int32Array, count: number): number {
    const { op, x, y } = this.prog;
    const { mark, stack } = this;
    const g = this.gen;
    let sp = 0;
    stack[sp++] = pc;
    while (sp > 0) {
      const q = stack[--sp] as number;
      if (mark[q] === g) continue;
      mark[q] = g;
      if (op[q] === Op.Split) {
        stack[sp++] = y[q] as number;
        stack[sp++] = x[q] as number;
      } else out[count++] = q;
    }
    return count;
  }

  /**
   * One NFA step from the waiting states from[0..n) with the context flags, over class k:
   * decide the pending assertions now that the next character is known, then move every thread
   * that accepts the character and start a new attempt after it. Writes the new waiting states to
   * out and returns their count, or -1 as soon as a match is reached (0 at end of input).
   */
  private advance(from: Int32Array, n: number, flags: number, k: number, out: Int32Array): number {
    const { op, x, y, sets } = this.prog;
    const { mark, stack, live } = this;
    const atEnd = k === this.eot;
    const prevWord = (flags & PREV_WORD) !== 0;
    const nextWord = !atEnd && (this.wordClass[k] as boolean);
    let g = ++this.gen;
    let sp = 0;
    let nLive = 0;
    let work = 0;
    for (let j = 0; j < n; j++) stack[sp++] = from[j] as number;
    while (sp > 0) {
      const q = stack[--sp] as number;
      if (mark[q] === g) continue;
      mark[q] = g;
      work++;
      switch (op[q]) {
        case Op.Set:
          live[nLive++] = q;
          break;
        case Op.Match:
          this.spend(work);
          return -1;
        case Op.Split:
          stack[sp++] = y[q] as number;
          stack[sp++] = x[q] as number;
          break;
        case Op.Assert: {
          const kind = y[q] as Assert;
          const holds =
            kind === Assert.Start
              ? (flags & AT_START) !== 0
              : kind === Assert.End
                ? atEnd
                : kind === Assert.WordBoundary
                  ? prevWord !== nextWord
                  : prevWord === nextWord;
          if (holds) stack[sp++] = x[q] as number;
          break;
        }
      }
    }
    if (atEnd) {
      this.spend(work);
      return 0;
    }
    const cp = this.bounds[k] as number;
    g = ++this.gen;
    let count = 0;
    for (let j = 0; j < nLive; j++) {
      const q = live[j] as number;
      if (contains(sets[q] as Ranges, cp)) count = this.closure(x[q] as number, out, count);
    }
    if (this.searchOn) count = this.closure(this.prog.start, out, count);
    this.spend(work + count);
    return count;
  }

  private spend(units: number): void {
    this.work += units;
    if (this.work > this.maxWork) {
      throw new RegexError("too-expensive", this.source, 0, `matching took more than ${this.maxWork} steps; use a simpler pattern`);
    }
  }

  private intern(buf: Int32Array, n: number, flags: number): DState {
    if (n === 0) return this.DEAD;
    const pcs = buf.slice(0, n).sort();
    // Program counters are below MAX_PROGRAM < 65536: one UTF-16 unit each makes a cheap key.
    let key = String.fromCharCode(flags);
    for (let j = 0; j < n; j += 4096) key += String.fromCharCode(...pcs.subarray(j, j + 4096));
    let d = this.cache.get(key);
    if (d) return d;
    const cost = n + this.eot + 1;
    if (this.cache.size >= MAX_DFA_STATES || this.cacheCost + cost > MAX_CACHE_COST) {
      // Start over rather than grow without bound; drop old edges so the old graph can be freed.
      for (const old of this.cache.values()) old.next = [];
      this.cache = new Map();
      this.cacheCost = 0;
      this.initial = undefined;
      if (++this.resets > MAX_RESETS) this.nfaOnly = true;
    }
    d = { pcs, flags, next: new Array(this.eot + 1) };
    this.cache.set(key, d);
    this.cacheCost += cost;
    return d;
  }
}
