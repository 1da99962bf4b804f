// Where this process runs from. A `bun build --compile` executable loads its entry point from
// Bun's embedded file system, whose paths start with "/$bunfs/" (B:/~BUN/ on Windows, which we do
// not ship); running from source, Bun.main is the real path of src/main.ts.

export function isCompiledBinary(main: string = Bun.main): boolean {
  return main.startsWith("/$bunfs/") || main.startsWith("B:/~BUN/");
}

/** Default data directory: beside the checkout from source, the FHS location for the binary. */
export function defaultDataDir(compiled: boolean = isCompiledBinary()): string {
  return compiled ? "/var/lib/socle" : "./socle-data";
}
