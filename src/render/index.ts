// The template engine's public surface (Eta; autoEscape and autoTrim off; strict).

export { TemplateEngine, type EngineOptions } from "./engine.ts";
export { checkTemplate, compileTemplate } from "./compile.ts";
export { RenderError, missingParam, type RenderErrorKind, type RenderFrame } from "./render-error.ts";
export { baseUrl, envView, formatMac, hexAddress, machineView, renderContext, type ContextParts, type EnvFields, type MacFormat, type MachineFields } from "./views.ts";
export { strictView } from "./strict.ts";
export type { EnvView, MachineView, RenderContext } from "./context.ts";
