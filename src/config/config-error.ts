// The one error type of configuration parsing. `source` is what the user typed or set: a flag
// ("--api-port") or an environment variable ("SOCLE_API_PORT"), so the message can point at it.

export class ConfigError extends Error {
  readonly source: string;

  constructor(source: string, message: string) {
    super(source ? `${source}: ${message}` : message);
    this.name = "ConfigError";
    this.source = source;
  }
}
