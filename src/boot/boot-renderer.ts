// Renders boot files in the render pool (src/render/render-pool.ts: worker threads, a deadline),
// from the inputs render-context.ts builds, each with the view of Secure params it may have:
// - a file for its machine: sealed values opened (model/secure-params.ts), on the server's thread;
// - a preview: opened only where its caller holds getSecure, the marker "[secure]" elsewhere;
// - a path: always the marker. A path is no secret: it is listed in a preview's errors, logged
//   with every refused request, and asked for in clear over TFTP and HTTP.
// An env's file renders only when the env's RequiredParams are all set; a RenderError becomes
// the 422 that the API and the file servers report.

import type { ModelObject } from "../model/object.ts";
import { SocleError, invalid } from "../model/errors.ts";
import type { ParamReveal } from "../model/params.ts";
import { SECURE_MARKER, isEnvelope, isSecureParamDef, openedValue, type ParamCipher, type ParamOwner } from "../model/secure-params.ts";
import { RenderError, type AgentFacts, type RenderPool, type RenderTarget } from "../render/index.ts";
import type { BootData } from "./boot-data.ts";
import { registryName, type EnvTemplate } from "./env-templates.ts";
import { missingRequired, renderRequest, type ContextInput, type RenderRequest } from "./render-context.ts";

export interface RendererOptions {
  data: BootData;
  httpPort: number;
  /** A function when the port is known only once the API listens. */
  apiPort: number | (() => number);
  apiPin?: string;
  caCert?: string;
  /** it.Agent (absent: no agent files known). */
  agent?: AgentFacts;
  /** Without it, a render that needs a sealed value fails naming it. */
  cipher?: ParamCipher;
}

/** One render: for whom, where the client reached us, and what it may see. */
export type RenderCall = Pick<ContextInput, "machine" | "env" | "serverAddress" | "tokens" | "used" | "openParam">;

/** Renders of boot files and previews (not of template paths), read by the metrics. */
export interface RenderStats {
  renders: number;
  /** Failed renders by RenderError kind; "missing-required" for an env whose RequiredParams are not all set. */
  failed: Record<string, number>;
  /** Wall time of the renders, in seconds, waiting for a worker included. */
  seconds: number;
}

/** Rendered paths are not client-specific: they render against this address and no tokens. */
const PATH_ADDRESS = "0.0.0.0";

export class BootRenderer {
  readonly #stats: RenderStats = { renders: 0, failed: {}, seconds: 0 };

  constructor(
    readonly engine: RenderPool,
    private readonly opts: RendererOptions,
  ) {}

  /** One of an env's files for a machine (or none), once the env's RequiredParams are all set. */
  async envFile(tmpl: EnvTemplate, c: RenderCall): Promise<string> {
    const { data } = this.opts;
    const missing = missingRequired({ data, machine: c.machine, env: c.env });
    if (missing.length > 0) {
      this.#stats.renders++;
      this.#failed("missing-required");
      throw invalid("bootenvs", String(c.env.Name), missing);
    }
    return this.render({ name: registryName(c.env, tmpl) }, c);
  }

  /** Render in a worker (sealed values opened unless `c.openParam` says otherwise). */
  async render(target: RenderTarget, c: RenderCall): Promise<string> {
    const req = renderRequest({ ...this.base(), ...c, openParam: c.openParam ?? this.openStored, eagerParams: true });
    const started = performance.now();
    this.#stats.renders++;
    try {
      const r = await this.engine.render(target, req.input, req.host);
      req.record(r.used);
      return r.output;
    } catch (err) {
      this.#failed(err instanceof RenderError ? err.kind : "other");
      throw toSocleError(err);
    } finally {
      this.#stats.seconds += (performance.now() - started) / 1000;
    }
  }

  stats(): RenderStats {
    return { ...this.#stats, failed: { ...this.#stats.failed } };
  }

  #failed(kind: string): void {
    this.#stats.failed[kind] = (this.#stats.failed[kind] ?? 0) + 1;
  }

  /** The request that renders an env's template Paths for a machine (or none). */
  pathRequest(machine: ModelObject | undefined, env: ModelObject): RenderRequest {
    return renderRequest({ ...this.base(), machine, env, serverAddress: PATH_ADDRESS, tokens: undefined, openParam: this.pathParams });
  }

  /** For a preview: values the caller may see opened, other secure ones (sealed, or of a Secure Param) the marker. */
  previewParams(reveal: (owner: ParamOwner) => boolean): ParamReveal {
    return (value, name, owner) => {
      if (reveal(owner)) return this.openStored(value, name, owner);
      return isEnvelope(value) || isSecureParamDef(this.opts.data.param(name)) ? SECURE_MARKER : value;
    };
  }

  private readonly openStored: ParamReveal = (value, name, owner) => openedValue(this.opts.cipher, owner, name, value);

  private readonly pathParams: ParamReveal = this.previewParams(() => false);

  private base() {
    const { data, httpPort, apiPort, apiPin, caCert, agent } = this.opts;
    return { data, httpPort, apiPort: typeof apiPort === "function" ? apiPort() : apiPort, apiPin: apiPin ?? "", caCert: caCert ?? "", agent };
  }
}

export function toSocleError(err: unknown): unknown {
  if (err instanceof RenderError) return new SocleError("ValidationError", "templates", err.where?.template ?? "", [err.message]);
  return err;
}
