// Option codes the codec knows by name (RFC 2132 unless noted) and names for describePacket.
// Any other code is kept raw and round-tripped byte-exact.

export const OPT = {
  PAD: 0,
  SUBNET_MASK: 1,
  TIME_OFFSET: 2,
  ROUTERS: 3,
  TIME_SERVERS: 4,
  NAME_SERVERS: 5,
  DNS_SERVERS: 6,
  LOG_SERVERS: 7,
  HOST_NAME: 12,
  BOOT_FILE_SIZE: 13,
  DOMAIN_NAME: 15,
  ROOT_PATH: 17,
  INTERFACE_MTU: 26,
  BROADCAST_ADDRESS: 28,
  NTP_SERVERS: 42,
  VENDOR_SPECIFIC: 43,
  REQUESTED_IP: 50,
  LEASE_TIME: 51,
  OVERLOAD: 52,
  MESSAGE_TYPE: 53,
  SERVER_ID: 54,
  PARAMETER_LIST: 55,
  MESSAGE: 56,
  MAX_MESSAGE_SIZE: 57,
  RENEWAL_TIME: 58,
  REBINDING_TIME: 59,
  VENDOR_CLASS: 60,
  CLIENT_ID: 61,
  TFTP_SERVER_NAME: 66,
  BOOT_FILE_NAME: 67,
  USER_CLASS: 77, // RFC 3004
  RELAY_AGENT_INFO: 82, // RFC 3046
  CLIENT_ARCH: 93, // RFC 4578
  CLIENT_NDI: 94, // RFC 4578
  CLIENT_UUID: 97, // RFC 4578
  DOMAIN_SEARCH: 119, // RFC 3397
  CLASSLESS_ROUTES: 121, // RFC 3442
  VENDOR_ID_CLASS: 124, // RFC 3925
  VENDOR_ID_INFO: 125, // RFC 3925
  IPXE: 175, // iPXE encapsulated options
  END: 255,
} as const;

const NAMES: Record<number, string> = {
  1: "Subnet Mask",
  2: "Time Offset",
  3: "Router",
  4: "Time Server",
  5: "Name Server",
  6: "Domain Name Server",
  7: "Log Server",
  12: "Host Name",
  13: "Boot File Size",
  15: "Domain Name",
  17: "Root Path",
  26: "Interface MTU",
  28: "Broadcast Address",
  42: "NTP Servers",
  43: "Vendor Specific",
  50: "Requested IP Address",
  51: "IP Address Lease Time",
  52: "Option Overload",
  53: "DHCP Message Type",
  54: "Server Identifier",
  55: "Parameter Request List",
  56: "Message",
  57: "Maximum DHCP Message Size",
  58: "Renewal Time",
  59: "Rebinding Time",
  60: "Vendor Class Identifier",
  61: "Client Identifier",
  66: "TFTP Server Name",
  67: "Bootfile Name",
  77: "User Class",
  82: "Relay Agent Information",
  93: "Client System Architecture",
  94: "Client Network Device Interface",
  97: "Client Machine Identifier",
  119: "Domain Search",
  121: "Classless Static Route",
  124: "Vendor-Identifying Vendor Class",
  125: "Vendor-Identifying Vendor-Specific Information",
  150: "TFTP Server Address",
  175: "iPXE Encapsulated Options",
  209: "PXELINUX Configuration File",
  210: "PXELINUX Path Prefix",
  211: "PXELINUX Reboot Time",
};

/** "Client System Architecture" for 93; "Option 240" for codes without a known name. */
export function optionName(code: number): string {
  return NAMES[code] ?? `Option ${code}`;
}
