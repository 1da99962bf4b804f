// Compiling one template: Eta source -> a JavaScript function, or a RenderError with the template
// line at fault.
//
// Eta settings and why:
// - autoEscape false: Eta's default HTML-escapes every `<%= %>`, which turns `&` in a kernel
//   command line or `"` in a kickstart into entities. Boot files are not HTML.
// - autoTrim false: the default `[false, "nl"]` eats the newline after each tag, gluing kickstart
//   and iPXE lines together. (Eta does turn CRLF in template text into LF; a file that needs CRLF,
//   such as a Windows batch file, writes it as a value: `<%= "\r\n" %>`.)
// - debug true: the compiled code records the template line of each tag in `__eta.line`, so a
//   runtime error (a missing parameter, `it.Machine.Name` for an unknown machine) names its line.
// - include(name, data): Eta's version spreads `{...it, ...data}` on every call, which would run
//   every lazy field of the context (the env's rendered BootParams) on each include. The
//   processFnString plugin below passes `it` through untouched when no extra data is given.
//
// Compiled templates are JavaScript run with the server's privileges (Eta builds them with
// `new Function`): whoever may write templates may run code in Socle. The API restricts template
// and boot environment writes to holders of those claims.

import { Eta, EtaParseError } from "eta/core";
import { RenderError } from "./render-error.ts";

export type TemplateFn = (this: Eta, data: object, options: object) => string;

export interface CompiledTemplate {
  name: string;
  source: string;
  fn: TemplateFn;
}

/** Eta's include as emitted by compileToString (eta 4.x); checked at start-up by createEta. */
const ETA_INCLUDE = "let include = (__eta_t, __eta_d) => this.render(__eta_t, {...it, ...(__eta_d ?? {})}, options);";
const OUR_INCLUDE =
  "let include = (__eta_t, __eta_d) => this.render(__eta_t, (__eta_d === undefined || __eta_d === it) ? it : {...it, ...__eta_d}, options);";

export const ETA_CONFIG = {
  autoEscape: false,
  autoTrim: false as const,
  debug: true,
  cache: false,
  varName: "it",
  plugins: [
    {
      processFnString(fnString: string): string {
        if (!fnString.includes(ETA_INCLUDE)) {
          // An eta upgrade changed its generated code: fail loudly rather than spread `it`.
          throw new Error("eta: unexpected generated include(); src/render/compile.ts needs updating for this eta version");
        }
        return fnString.replace(ETA_INCLUDE, OUR_INCLUDE);
      },
    },
  ],
};

/** One Eta instance used only to compile (rendering goes through the engine's own instance). */
const compiler = new Eta(ETA_CONFIG);

/** Compile `source`; throws RenderError kind "syntax" naming the template and the line. */
export function compileTemplate(name: string, source: string): CompiledTemplate {
  if (typeof source !== "string") throw new RenderError("syntax", `template contents must be text, got ${typeof source}`, [{ template: name, line: undefined }]);
  let fn: TemplateFn;
  try {
    fn = compiler.compile(source) as unknown as TemplateFn;
  } catch (err) {
    throw syntaxError(name, source, err);
  }
  return { name, source, fn };
}

/** The error message for a template that does not compile, or undefined when it compiles. */
export function checkTemplate(name: string, contents: string): string | undefined {
  try {
    compileTemplate(name, contents);
    return undefined;
  } catch (err) {
    if (err instanceof RenderError) return err.message;
    throw err;
  }
}

function syntaxError(name: string, source: string, err: unknown): RenderError {
  const msg = err instanceof Error ? err.message : String(err);
  // Eta's own parser errors: "unclosed tag at line 3 col 1:\n\n  <%= x\n  ^".
  const parse = /^(.*?) at line (\d+) col (\d+):/s.exec(msg);
  if (err instanceof EtaParseError && parse) {
    return new RenderError("syntax", `${parse[1]} (column ${parse[3]})`, [{ template: name, line: Number(parse[2]) }]);
  }
  // A JavaScript syntax error in a tag. `new Function` reports no position, so the generated code
  // is parsed again by Bun's transpiler, whose error has a line in the generated code; the last
  // `__eta.line=N` marker before that line is the template line.
  const located = locateSyntaxError(source);
  if (located) return new RenderError("syntax", `${located.text}${quoteLine(source, located.line)}`, [{ template: name, line: located.line }]);
  const first = msg.replace(/^Bad template syntax\s*/, "").split("\n")[0] ?? msg;
  return new RenderError("syntax", first, [{ template: name, line: undefined }]);
}

function locateSyntaxError(source: string): { line: number; text: string } | undefined {
  let code: string;
  try {
    code = compiler.compileToString(source);
  } catch {
    return undefined;
  }
  const wrapped = `function __socle_template(it, options) {\n${code}\n}`;
  try {
    new Bun.Transpiler({ loader: "js" }).transformSync(wrapped);
    return undefined; // the transpiler accepts what the engine refused: no position to give
  } catch (err) {
    // One error arrives as a BuildMessage, several as an AggregateError of them.
    type Located = { message?: string; position?: { line?: number } | null };
    const first: Located = (err as { errors?: Located[] }).errors?.[0] ?? (err as Located);
    const genLine = first.position?.line;
    if (genLine === undefined) return undefined;
    const lines = wrapped.split("\n");
    let line = 1;
    for (let i = Math.min(genLine, lines.length) - 1; i >= 0; i--) {
      const m = /^__eta\.line=(\d+)$/.exec(lines[i]!);
      if (m) {
        line = Number(m[1]);
        break;
      }
    }
    const text = first.message || "syntax error";
    return { line, text: `JavaScript syntax error: ${text}` };
  }
}

function quoteLine(source: string, line: number): string {
  const text = source.split(/\r\n|\n|\r/)[line - 1];
  if (text === undefined) return "";
  const trimmed = text.trim();
  return ` in ${JSON.stringify(trimmed.length > 80 ? trimmed.slice(0, 77) + "..." : trimmed)}`;
}
