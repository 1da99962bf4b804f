// Ctrl-C for verbs that run until stopped (`events watch`, `machines timeline --follow`): the
// first SIGINT aborts the verb's signal, so it ends its stream and returns 0 like a finished
// command; while such a verb runs, SIGINT does not kill the process with a half-written line.

/** Aborts `ac` on SIGINT until the returned function is called. */
export function abortOnInterrupt(ac: AbortController): () => void {
  const onSignal = () => ac.abort(new DOMException("interrupted", "AbortError"));
  process.once("SIGINT", onSignal);
  return () => {
    process.off("SIGINT", onSignal);
  };
}
