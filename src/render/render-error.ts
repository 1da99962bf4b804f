// Errors of the template engine. render/ imports nothing else from src/, so it has its own error
// type; boot/ and api/ turn it into a SocleError (422) at their edge.
//
// A RenderError carries the include chain it happened in, outermost first, each frame with the
// template line that was running: `template "ks" line 12 -> template "ks-disk" line 3: parameter
// "operating-system-disk" is not set for machine "n1"`.

export type RenderErrorKind =
  | "syntax" // the template does not compile
  | "missing-template" // include of a name the registry does not have
  | "missing-param" // it.param(name) of a parameter no layer sets
  | "cycle" // an include chain that comes back to a template already rendering
  | "depth" // includes nested deeper than the limit
  | "deadline" // the render ran past its deadline and was stopped (render-pool.ts)
  | "runtime"; // anything else the template's code threw

export interface RenderFrame {
  template: string;
  /** Line of the template that was running (1-based); undefined when not known. */
  line: number | undefined;
}

export class RenderError extends Error {
  /** Outermost first. */
  readonly chain: RenderFrame[];

  constructor(
    readonly kind: RenderErrorKind,
    /** What is wrong, without the chain: `parameter "x" is not set ...`. */
    readonly detail: string,
    chain: RenderFrame[] = [],
    /** The missing parameter or template, when kind names one. */
    readonly subject?: string,
  ) {
    super("");
    this.name = "RenderError";
    this.chain = chain;
    this.message = this.describe();
  }

  /** The same error, seen from one more (outer) frame. */
  within(frame: RenderFrame): RenderError {
    return new RenderError(this.kind, this.detail, [frame, ...this.chain], this.subject);
  }

  /** The innermost frame: the template where the problem is. */
  get where(): RenderFrame | undefined {
    return this.chain[this.chain.length - 1];
  }

  private describe(): string {
    if (this.chain.length === 0) return this.detail;
    const frames = this.chain.map((f) => `template ${JSON.stringify(f.template)}${f.line !== undefined ? ` line ${f.line}` : ""}`);
    return `${frames.join(" -> ")}: ${this.detail}`;
  }
}

/** Thrown by context helpers (it.param) for a parameter no layer sets; the engine adds the frame. */
export function missingParam(name: string, detail: string): RenderError {
  return new RenderError("missing-param", detail, [], name);
}
