// Run a command to its end and collect what it printed: the one spawn helper of assets/ and of
// the cli/ verbs that run host tools (install's getent and useradd).

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Throws only when the command cannot be started (not on PATH); a non-zero exit is in `code`.
 * `env`, when given, is the command's whole environment (not added to this process's).
 */
export async function runCommand(argv: readonly string[], cwd?: string, env?: Record<string, string>): Promise<CommandResult> {
  const p = Bun.spawn([...argv], { cwd, env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, stdout, stderr };
}
