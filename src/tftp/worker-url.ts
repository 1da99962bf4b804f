// Where the transfer worker's entry point is, from source and inside the compiled binary.
// `bun build --compile` stores each entry point under /$bunfs/root/ by its path relative to the
// entry points' common folder (src/, since main.ts is one), while import.meta.url of bundled code
// is the executable itself (file:///$bunfs/root/<name>). build/compile.ts lists the worker.

/** The worker's path relative to src/ (build/compile.ts adds "src/" + this as an entry point). */
export const TRANSFER_WORKER_ENTRY = "tftp/transfer-worker.ts";

export function transferWorkerUrl(moduleUrl: string = import.meta.url): URL {
  if (moduleUrl.includes("/$bunfs/")) return new URL(`./${TRANSFER_WORKER_ENTRY}`, moduleUrl);
  return new URL("./transfer-worker.ts", moduleUrl);
}
