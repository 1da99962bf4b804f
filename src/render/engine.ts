// The template engine: a registry of compiled templates by name, and rendering with nested
// `include(name, it)`.
//
// Names: a Template object by its ID ("debian-12-preseed.tmpl"); a boot environment's inline
// template (Templates[].Contents) by "<bootenv>/<Name>" (names cannot contain "/", so the two
// never collide).
//
// Strict and all-or-nothing: a render either returns the whole text or throws a RenderError that
// names the missing parameter or template and the include chain with line numbers. Output is
// built in a string and returned only at the end, so nothing half-rendered can reach a client.

import { Eta } from "eta/core";
import { ETA_CONFIG, compileTemplate, type CompiledTemplate } from "./compile.ts";
import { RenderError } from "./render-error.ts";
import { strictView } from "./strict.ts";

export interface EngineOptions {
  /** Deepest include nesting allowed (the top template counts as 1). Default 16. */
  maxDepth?: number;
  /** Compiled ad hoc sources (paths, BootParams, previews) kept for reuse. Default 2000. */
  adHocCacheSize?: number;
  /**
   * Told the template now running (innermost include) each time it changes; undefined when the
   * render is over. The render worker shares it so that a render stopped at its deadline can be
   * reported with the template it was stuck in.
   */
  onTemplate?: (name: string | undefined) => void;
}

export class TemplateEngine {
  private readonly registry = new Map<string, CompiledTemplate>();
  private readonly adHoc = new Map<string, CompiledTemplate>();
  /** Names being rendered, outermost first (rendering is synchronous, so one stack suffices). */
  private readonly stack: string[] = [];
  private readonly maxDepth: number;
  private readonly adHocMax: number;
  private readonly eta: Eta;
  private readonly onTemplate: ((name: string | undefined) => void) | undefined;

  constructor(opts: EngineOptions = {}) {
    this.maxDepth = opts.maxDepth ?? 16;
    this.adHocMax = opts.adHocCacheSize ?? 2000;
    this.onTemplate = opts.onTemplate;
    const eta = new Eta(ETA_CONFIG);
    // Compiled templates call `this.render(name, data, options)` for include() and
    // `this.RuntimeErr(err, source, line, options.filepath)` when their code throws.
    eta.render = ((name: unknown, data: object) => this.include(String(name), data)) as unknown as Eta["render"];
    eta.RuntimeErr = ((err: unknown, _source: string, line: number, template: string) => {
      throw framed(err, { template, line });
    }) as Eta["RuntimeErr"];
    this.eta = eta;
  }

  /** Compile and register (replacing any template of that name). Throws RenderError "syntax". */
  set(name: string, source: string): void {
    try {
      this.registry.set(name, compileTemplate(name, source));
    } catch (err) {
      if (!(err instanceof RenderError)) throw err;
      // Keep the name, failing with its syntax error: an include of a broken template should say
      // why it is broken, not that it does not exist.
      const fn = () => {
        throw err;
      };
      this.registry.set(name, { name, source, fn });
      throw err;
    }
  }

  delete(name: string): boolean {
    return this.registry.delete(name);
  }

  has(name: string): boolean {
    return this.registry.has(name);
  }

  names(): string[] {
    return [...this.registry.keys()].sort();
  }

  /** Render a registered template with `ctx` as `it`. */
  render(name: string, ctx: object): string {
    return this.include(name, ctx);
  }

  /**
   * Render template text that is not in the registry (a rendered path, BootParams, a preview's
   * Contents). `label` names it in errors. Compiled sources are cached by label and text.
   */
  renderSource(label: string, source: string, ctx: object): string {
    const key = `${label}\u0000${source}`;
    let t = this.adHoc.get(key);
    if (!t) {
      t = compileTemplate(label, source);
      if (this.adHoc.size >= this.adHocMax) this.adHoc.clear();
      this.adHoc.set(key, t);
    }
    return this.run(t, ctx);
  }

  private include(name: string, data: object): string {
    const t = this.registry.get(name);
    if (!t) throw new RenderError("missing-template", `template ${JSON.stringify(name)} not found`, [], name);
    return this.run(t, data);
  }

  private run(t: CompiledTemplate, data: object): string {
    if (this.stack.includes(t.name)) {
      const from = this.stack.indexOf(t.name);
      throw new RenderError("cycle", `include cycle: ${[...this.stack.slice(from), t.name].join(" -> ")}`, [], t.name);
    }
    if (this.stack.length >= this.maxDepth) {
      throw new RenderError("depth", `includes nested deeper than ${this.maxDepth}: ${[...this.stack, t.name].join(" -> ")}`, [], t.name);
    }
    this.stack.push(t.name);
    this.onTemplate?.(t.name);
    try {
      const out = t.fn.call(this.eta, strictView(data, "it"), { filepath: t.name });
      if (typeof out !== "string") throw new RenderError("runtime", `template produced ${typeof out}, not text`, [{ template: t.name, line: undefined }]);
      return out;
    } finally {
      this.stack.pop();
      this.onTemplate?.(this.stack[this.stack.length - 1]);
    }
  }
}

/** An error thrown in a template's code, seen from that template at `frame`. */
function framed(err: unknown, frame: { template: string; line: number }): RenderError {
  if (err instanceof RenderError) return err.within(frame);
  const msg = err instanceof Error ? err.message : String(err);
  return new RenderError("runtime", msg, [frame]);
}
