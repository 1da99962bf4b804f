// Errors the CLI turns into one line on stderr and an exit code, never a stack trace.
//   exit 1: the request failed (API error, network, TLS, unreadable input)
//   exit 2: the command line is wrong (unknown verb, bad flag, missing argument)

export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = "CliError";
    this.exitCode = exitCode;
  }
}

export class UsageError extends CliError {
  constructor(message: string) {
    super(message, 2);
    this.name = "UsageError";
  }
}
