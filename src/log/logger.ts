// Structured logger: subsystem, message, fields. Injected everywhere, never a global.
// Text format reads like "2026-11-22T10:00:00.000Z INFO  dhcp: DHCPOFFER sent mac=52:54:00:12:34:56".

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFormat = "text" | "json";
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger for a subsystem ("dhcp", "api", ...), sharing level, format and sink. */
  child(subsystem: string): Logger;
  /** Whether lines of `level` are written: fields that cost work to gather are skipped when not. */
  enabled(level: LogLevel): boolean;
}

export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];
const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Field names whose values never reach a log line, whatever the caller passes. */
const SECRET_FIELDS = /pass(word)?|secret|token|authorization|hash/i;

export interface LoggerOptions {
  level?: LogLevel;
  format?: LogFormat;
  subsystem?: string;
  /** Where finished lines go; defaults to stderr. Tests pass an array sink. */
  sink?: (line: string) => void;
  now?: () => Date;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? "info";
  const format = opts.format ?? "text";
  const sink = opts.sink ?? ((line: string) => process.stderr.write(line + "\n"));
  const now = opts.now ?? (() => new Date());
  return build(opts.subsystem ?? "socle");

  function build(subsystem: string): Logger {
    const emit = (lvl: LogLevel, msg: string, fields?: LogFields) => {
      if (RANK[lvl] < RANK[level]) return;
      sink(formatLine(format, now(), lvl, subsystem, msg, fields));
    };
    return {
      debug: (m, f) => emit("debug", m, f),
      info: (m, f) => emit("info", m, f),
      warn: (m, f) => emit("warn", m, f),
      error: (m, f) => emit("error", m, f),
      child: (sub) => build(sub),
      enabled: (lvl) => RANK[lvl] >= RANK[level],
    };
  }
}

/** A logger that drops everything (for tests and library defaults). */
export const nullLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return nullLogger;
  },
  enabled: () => false,
};

function redact(fields: LogFields | undefined): LogFields | undefined {
  if (!fields) return undefined;
  const out: LogFields = {};
  for (const [k, v] of Object.entries(fields)) {
    out[k] = SECRET_FIELDS.test(k) ? "[redacted]" : v instanceof Error ? v.message : v;
  }
  return out;
}

export function formatLine(
  format: LogFormat,
  time: Date,
  level: LogLevel,
  subsystem: string,
  msg: string,
  fields?: LogFields,
): string {
  const safe = redact(fields);
  if (format === "json") {
    return JSON.stringify({ time: time.toISOString(), level, subsystem, msg, ...safe });
  }
  let line = `${time.toISOString()} ${level.toUpperCase().padEnd(5)} ${subsystem}: ${msg}`;
  if (safe) {
    for (const [k, v] of Object.entries(safe)) {
      const s = typeof v === "string" ? v : JSON.stringify(v);
      line += ` ${k}=${s !== undefined && /[\s"=]/.test(s) ? JSON.stringify(s) : s}`;
    }
  }
  return line;
}

/**
 * Rate limiter for noisy log sources (malformed packets): at most `burst` lines per `windowMs`
 * per key; the first line after a quiet period reports how many were suppressed.
 */
export function rateLimited(log: Logger, windowMs = 10_000, burst = 5) {
  const state = new Map<string, { start: number; count: number; dropped: number }>();
  return (key: string, msg: string, fields?: LogFields, at: number = Date.now()) => {
    let s = state.get(key);
    if (!s || at - s.start >= windowMs) {
      const dropped = s?.dropped ?? 0;
      s = { start: at, count: 0, dropped: 0 };
      state.set(key, s);
      if (state.size > 10_000) state.clear();
      if (dropped > 0) fields = { ...fields, suppressed: dropped };
    }
    if (s.count < burst) {
      s.count++;
      log.warn(msg, fields);
    } else {
      s.dropped++;
    }
  };
}
