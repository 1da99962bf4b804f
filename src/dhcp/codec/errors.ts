// Errors of the DHCPv4 codec. Both extend SocleError so that an API that ever decodes a packet for an
// operator (packet capture view, render preview) reports them as 400/422 without translation.
// `reason` is a short stable category ("truncated-option", "bad-cookie" ...) for log fields and the
// fuzz bench histogram; the message is the precise human text.

import { SocleError } from "../../model/errors.ts";

/** Bytes received from the wire are malformed. The only error parsePacket and the option decoders throw. */
export class DhcpParseError extends SocleError {
  readonly reason: string;
  constructor(reason: string, message: string) {
    super("BadRequest", "DhcpPacket", "", message);
    this.name = "DhcpParseError";
    this.reason = reason;
  }
}

/** A value handed to a setter or to formatPacket cannot be encoded. */
export class DhcpEncodeError extends SocleError {
  readonly reason: string;
  constructor(reason: string, message: string) {
    super("ValidationError", "DhcpPacket", "", message);
    this.name = "DhcpEncodeError";
    this.reason = reason;
  }
}
