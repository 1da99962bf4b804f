// What a timeline row means. Each kind uses the row's columns its own way:
//
//   kind        type          outcome          n            addr           text              note     a / b / c (interned)
//   Dhcp        message type  DhcpOutcome      local port   address given  boot file/reason  -        vendor class / user class / relay
//   DhcpDrop    0             0                0            sender         why               -        reason code / - / interface
//   DhcpForeign reply's type  Foreign          0            yiaddr         boot file         -        server id / sender / interface
//   Tftp        0             TftpOutcome      bytes sent   client         path              reason   -
//   Http        HttpMethod    HttpOutcome      status       client         path              error    -
//   Register    0             RegisterOutcome  0            machine Uuid   machine name      -        -
//   Job         0             JobOutcome       0            job Uuid       task              -        stage / workflow

export const Kind = {
  Dhcp: 1,
  DhcpDrop: 2,
  DhcpForeign: 3,
  Tftp: 4,
  Http: 5,
  Register: 7,
  Job: 8,
} as const;
export type KindCode = (typeof Kind)[keyof typeof Kind];

export const KIND_NAMES: Record<number, string> = {
  [Kind.Dhcp]: "dhcp",
  [Kind.DhcpDrop]: "dhcp-drop",
  [Kind.DhcpForeign]: "dhcp-foreign",
  [Kind.Tftp]: "tftp",
  [Kind.Http]: "http",
  [Kind.Register]: "register",
  [Kind.Job]: "job",
};

/** What became of a DHCP request. */
export const DhcpOutcome = {
  Offer: 1,
  Ack: 2,
  Nak: 3,
  ProxyOffer: 4,
  BootServerAck: 5,
  InformAck: 6,
  /** Relayed from (or arrived on) a link no subnet covers. */
  NoSubnet: 7,
  PoolExhausted: 8,
  /** A DHCPREQUEST naming another server, or a DECLINE/RELEASE for one. */
  OtherServer: 9,
  /** INIT-REBOOT from a client this server has no record of (RFC 2131: silent). */
  UnknownClient: 10,
  /** proxyDHCP ignores clients that are not network booting. */
  NotNetboot: 11,
  /** The boot decision gave nothing (no BootEnv, unknown machines not booted). */
  NoBootAnswer: 12,
  Declined: 13,
  Released: 14,
  Ignored: 15,
  /** The lease could not be made durable (or synced to the HA partner) in time: no ACK. */
  Unconfirmed: 16,
  /** The subnet is disabled. */
  Disabled: 17,
} as const;

/** Outcomes that answered the client. */
export const ANSWERED: ReadonlySet<number> = new Set([DhcpOutcome.Offer, DhcpOutcome.Ack, DhcpOutcome.Nak, DhcpOutcome.ProxyOffer, DhcpOutcome.BootServerAck, DhcpOutcome.InformAck]);

export const DHCP_OUTCOME_NAMES: Record<number, string> = {
  1: "DHCPOFFER",
  2: "DHCPACK",
  3: "DHCPNAK",
  4: "proxy DHCPOFFER",
  5: "PXE boot server DHCPACK",
  6: "DHCPACK (INFORM)",
  7: "ignored: no subnet for this link",
  8: "ignored: pool exhausted",
  9: "ignored: for another server",
  10: "ignored: unknown client (INIT-REBOOT)",
  11: "ignored: not a network-boot client",
  12: "ignored: no boot answer",
  13: "declined",
  14: "released",
  15: "ignored",
  16: "not answered: lease not confirmed",
  17: "ignored: subnet disabled",
};

export const Foreign = { Rogue: 1, Partner: 2 } as const;

export const TftpOutcome = { Served: 1, Failed: 2, Probe: 3, NotFound: 4, Refused: 5 } as const;
export const TFTP_OUTCOME_NAMES: Record<number, string> = { 1: "served", 2: "failed", 3: "size probe", 4: "not found", 5: "refused" };

export const HttpMethod = { Get: 1, Head: 2, Other: 3 } as const;
export const HttpOutcome = { Served: 1, NotFound: 2, Failed: 4 } as const;
export const HTTP_OUTCOME_NAMES: Record<number, string> = { 1: "served", 2: "not found", 4: "failed" };

export const RegisterOutcome = { Created: 1 } as const;
export const REGISTER_OUTCOME_NAMES: Record<number, string> = { 1: "registered (new machine)" };

export const JobOutcome = { Started: 1, Succeeded: 2, Failed: 3 } as const;
export const JOB_OUTCOME_NAMES: Record<number, string> = { 1: "job started", 2: "job finished", 3: "job failed" };

/** Names of DHCP message types and client architectures, supplied by the DHCP room. */
export interface Namer {
  messageType(n: number): string;
  arch(n: number): string;
}
