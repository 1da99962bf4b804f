// DHCP message types (option 53, RFC 2132 section 9.6; 9-18 from RFC 3203, 4388, 6926, 7724).
// They print as the RFCs write them: DHCPDISCOVER, never 1.

export enum MessageType {
  DHCPDISCOVER = 1,
  DHCPOFFER = 2,
  DHCPREQUEST = 3,
  DHCPDECLINE = 4,
  DHCPACK = 5,
  DHCPNAK = 6,
  DHCPRELEASE = 7,
  DHCPINFORM = 8,
  DHCPFORCERENEW = 9,
  DHCPLEASEQUERY = 10,
  DHCPLEASEUNASSIGNED = 11,
  DHCPLEASEUNKNOWN = 12,
  DHCPLEASEACTIVE = 13,
  DHCPBULKLEASEQUERY = 14,
  DHCPLEASEQUERYDONE = 15,
  DHCPACTIVELEASEQUERY = 16,
  DHCPLEASEQUERYSTATUS = 17,
  DHCPTLS = 18,
}

/** "DHCPDISCOVER" for 1; "DHCP message type 99" for values no RFC assigns. */
export function messageTypeName(n: number): string {
  const name = (MessageType as unknown as Record<number, string | undefined>)[n];
  return typeof name === "string" ? name : `DHCP message type ${n}`;
}
