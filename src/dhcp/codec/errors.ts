// Errors of the DHCPv4 codec. The codec is pure and imports nothing else from src/, so these are
// plain Errors under one base class; a caller that reports them to an operator (the server's drop
// log, a capture view) maps them itself. `reason` is a short stable category ("truncated-option",
// "bad-cookie" ...) for log fields and the fuzz bench histogram; the message is the precise text.

/** Anything the DHCP codec throws. */
export class DhcpCodecError extends Error {
  readonly reason: string;
  constructor(reason: string, message: string) {
    super(message);
    this.name = "DhcpCodecError";
    this.reason = reason;
  }
}

/** Bytes received from the wire are malformed. The only error parsePacket and the option decoders throw. */
export class DhcpParseError extends DhcpCodecError {
  constructor(reason: string, message: string) {
    super(reason, message);
    this.name = "DhcpParseError";
  }
}

/** A value handed to a setter or to formatPacket cannot be encoded. */
export class DhcpEncodeError extends DhcpCodecError {
  constructor(reason: string, message: string) {
    super(reason, message);
    this.name = "DhcpEncodeError";
  }
}
