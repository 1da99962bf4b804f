// Steps of a test script that is not a bun test file (the smoke and fresh-clone suites run
// executables and clones, not imports): each step prints a bun-test-style line, and `finish`
// prints the summary lines test/run-all.ts counts (" N pass", " N fail", " N skip") and exits.

export function steps(suite: string) {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  return {
    /** Run one step; a failure is printed and rethrown, so the script's later steps are not run. */
    async step<T>(name: string, fn: () => Promise<T>): Promise<T> {
      const t0 = performance.now();
      try {
        const v = await fn();
        passed++;
        console.log(`(pass) ${suite} > ${name} [${(performance.now() - t0).toFixed(0)}ms]`);
        return v;
      } catch (e) {
        failed++;
        console.log(`(fail) ${suite} > ${name}: ${e instanceof Error ? e.message : String(e)}`);
        throw e;
      }
    },
    skip(name: string, why: string): void {
      skipped++;
      console.log(`(skip) ${suite} > ${name}: ${why}`);
    },
    finish(): never {
      console.log(`\n ${passed} pass\n ${failed} fail${skipped ? `\n ${skipped} skip` : ""}`);
      process.exit(failed > 0 ? 1 : 0);
    },
  };
}
