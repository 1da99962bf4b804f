// Option 82, Relay Agent Information (RFC 3046), as inserted by relays and switches. The typed
// fields are the sub-options a provisioning server acts on: circuit-id and remote-id (which port and
// which switch the machine is on), link-selection (RFC 3527: the subnet to allocate from when giaddr
// is not on it) and server-id-override (RFC 5107: the relay wants renewals sent to itself).

import { ipBytes, ipString } from "./bytes.ts";
import { DhcpParseError } from "./errors.ts";
import { formatSubOptions, parseSubOptions, type SubOption } from "./sub-options.ts";

export const RELAY_SUB = {
  CIRCUIT_ID: 1,
  REMOTE_ID: 2,
  LINK_SELECTION: 5,
  SUBSCRIBER_ID: 6,
  SERVER_ID_OVERRIDE: 11,
} as const;

export const RELAY_SUB_NAMES: Record<number, string> = {
  1: "circuit-id",
  2: "remote-id",
  4: "docsis-device-class",
  5: "link-selection",
  6: "subscriber-id",
  9: "vendor-specific",
  10: "flags",
  11: "server-id-override",
  12: "relay-id",
  151: "vss",
  152: "vss-control",
};

export interface RelayAgentInfo {
  /** Every sub-option in wire order, including unknown ones; the typed fields repeat known ones. */
  subOptions: SubOption[];
  circuitId?: Uint8Array;
  remoteId?: Uint8Array;
  linkSelection?: string;
  serverIdOverride?: string;
}

const WHERE = "option 82 (Relay Agent Information)";

export function decodeRelayAgentInfo(d: Uint8Array): RelayAgentInfo {
  const subOptions = parseSubOptions(d, WHERE, false);
  const info: RelayAgentInfo = { subOptions };
  for (const s of subOptions) {
    switch (s.code) {
      case RELAY_SUB.CIRCUIT_ID:
        info.circuitId = s.data;
        break;
      case RELAY_SUB.REMOTE_ID:
        info.remoteId = s.data;
        break;
      case RELAY_SUB.LINK_SELECTION:
        info.linkSelection = subIp(s);
        break;
      case RELAY_SUB.SERVER_ID_OVERRIDE:
        info.serverIdOverride = subIp(s);
        break;
    }
  }
  return info;
}

function subIp(s: SubOption): string {
  if (s.data.length !== 4) {
    throw new DhcpParseError(
      "bad-length",
      `decode ${WHERE}: sub-option ${s.code} (${RELAY_SUB_NAMES[s.code]}) must be 4 bytes, got ${s.data.length}`,
    );
  }
  return ipString(s.data);
}

/**
 * Encodes from the typed fields (in sub-option code order) followed by `extra` sub-options.
 * A server echoes option 82 verbatim (RFC 3046 2.2), which needs no encoding: copy the raw bytes.
 */
export function encodeRelayAgentInfo(info: Omit<RelayAgentInfo, "subOptions"> & { extra?: SubOption[] }): Uint8Array {
  const subs: SubOption[] = [];
  if (info.circuitId) subs.push({ code: RELAY_SUB.CIRCUIT_ID, data: info.circuitId });
  if (info.remoteId) subs.push({ code: RELAY_SUB.REMOTE_ID, data: info.remoteId });
  if (info.linkSelection !== undefined) {
    subs.push({ code: RELAY_SUB.LINK_SELECTION, data: ipBytes(info.linkSelection, `${WHERE} link-selection`) });
  }
  if (info.serverIdOverride !== undefined) {
    subs.push({
      code: RELAY_SUB.SERVER_ID_OVERRIDE,
      data: ipBytes(info.serverIdOverride, `${WHERE} server-id-override`),
    });
  }
  subs.push(...(info.extra ?? []));
  return formatSubOptions(subs, WHERE, false);
}
