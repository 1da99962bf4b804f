// The template engine's public surface (Eta; autoEscape and autoTrim off; strict; rendered in
// worker threads under a deadline by RenderPool, in-thread by TemplateEngine for trusted callers).

export { TemplateEngine, type EngineOptions } from "./engine.ts";
export { RenderPool, DEFAULT_RENDER_DEADLINE_MS, DEFAULT_RENDER_WORKERS, type RenderPoolOptions, type Rendered, type RenderJob } from "./render-pool.ts";
export { contextOf, targetName, type RenderHost, type RenderInput, type RenderTarget } from "./render-input.ts";
export { checkTemplate, compileTemplate } from "./compile.ts";
export { RenderError, missingParam, type RenderErrorKind, type RenderFrame } from "./render-error.ts";
export { baseUrl, envView, formatMac, hexAddress, machineView, renderContext, type ContextParts, type EnvFields, type MacFormat, type MachineFields } from "./views.ts";
export { strictView } from "./strict.ts";
export { NO_AGENT, type AgentFacts, type EnvView, type MachineView, type RenderContext } from "./context.ts";
