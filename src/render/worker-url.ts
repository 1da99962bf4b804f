// Where the render worker's entry point is, from source and inside the compiled binary (as for
// the TFTP transfer worker, src/tftp/worker-url.ts): `bun build --compile` stores each entry point
// under /$bunfs/root/ by its path relative to src/. build/compile.ts lists the worker.

/** The worker's path relative to src/ (build/compile.ts adds "src/" + this as an entry point). */
export const RENDER_WORKER_ENTRY = "render/render-worker.ts";

export function renderWorkerUrl(moduleUrl: string = import.meta.url): URL {
  if (moduleUrl.includes("/$bunfs/")) return new URL(`./${RENDER_WORKER_ENTRY}`, moduleUrl);
  return new URL("./render-worker.ts", moduleUrl);
}
