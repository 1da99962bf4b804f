// DhcpOptions: the options of one packet, in wire order of first appearance, as raw bytes per code
// (RFC 3396: every instance of a code concatenated). Parsing never interprets option contents; the
// typed getters decode on demand and throw DhcpParseError when the bytes are malformed, so a client's
// broken option 119 costs nothing unless someone asks for it. Unknown codes round-trip byte-exact.
// Setters validate and encode; formatPacket splits anything longer than 255 bytes (RFC 3396).

import { copyBytes } from "./bytes.ts";
import { DhcpEncodeError } from "./errors.ts";
import { decodeClasslessRoutes, encodeClasslessRoutes, type ClasslessRoute } from "./classless-routes.ts";
import {
  decodeClientId,
  decodeClientNdi,
  decodeClientUuid,
  encodeClientId,
  encodeClientNdi,
  encodeClientUuid,
  type ClientId,
  type ClientNdi,
  type ClientUuid,
} from "./client-identity.ts";
import { decodeDomainSearch, encodeDomainSearch } from "./domain-search.ts";
import { decodeIpxeOptions, encodeIpxeOptions, type IpxeOptions } from "./ipxe-options.ts";
import type { MessageType } from "./message-type.ts";
import { OPT } from "./option-codes.ts";
import * as T from "./option-types.ts";
import { decodePxeVendorOptions, encodePxeVendorOptions, type PxeVendorOptions } from "./pxe-vendor.ts";
import { decodeRelayAgentInfo, encodeRelayAgentInfo, type RelayAgentInfo } from "./relay-agent.ts";
import type { SubOption } from "./sub-options.ts";
import { decodeUserClass, encodeUserClass, type UserClass } from "./user-class.ts";
import {
  decodeVendorClass,
  decodeVendorInfo,
  encodeVendorClass,
  encodeVendorInfo,
  type VendorClassEntry,
  type VendorInfoEntry,
} from "./vendor-identifying.ts";

export class DhcpOptions implements Iterable<[number, Uint8Array]> {
  readonly #map = new Map<number, Uint8Array>();

  constructor(entries?: Iterable<readonly [number, Uint8Array]>) {
    if (entries) for (const [code, data] of entries) this.set(code, data);
  }

  get size(): number {
    return this.#map.size;
  }

  has(code: number): boolean {
    return this.#map.has(code);
  }

  /** Raw (concatenated) bytes of an option; undefined when absent. Do not mutate the result. */
  get(code: number): Uint8Array | undefined {
    return this.#map.get(code);
  }

  /**
   * Sets raw bytes (copied). Codes 0 and 255 are markers, not options; 52 (overload) is decided by
   * formatPacket from the space needed, so setting it by hand could only produce a lying packet.
   * Replacing an existing code keeps its position.
   */
  set(code: number, data: Uint8Array): this {
    if (!Number.isInteger(code) || code < 1 || code > 254) {
      throw new DhcpEncodeError("bad-code", `set DHCP option ${code}: code must be 1-254`);
    }
    if (code === OPT.OVERLOAD) {
      throw new DhcpEncodeError("bad-code", "set DHCP option 52: overload is chosen by formatPacket, not set by hand");
    }
    this.#map.set(code, copyBytes(data));
    return this;
  }

  /** Used by parsePacket: takes ownership of `data` without copying or checking the code. */
  setParsed(code: number, data: Uint8Array): void {
    this.#map.set(code, data);
  }

  delete(code: number): boolean {
    return this.#map.delete(code);
  }

  codes(): number[] {
    return [...this.#map.keys()];
  }

  entries(): IterableIterator<[number, Uint8Array]> {
    return this.#map.entries();
  }

  [Symbol.iterator](): IterableIterator<[number, Uint8Array]> {
    return this.#map.entries();
  }

  clone(): DhcpOptions {
    return new DhcpOptions(this.#map);
  }

  #dec<V>(code: number, decode: (d: Uint8Array) => V): V | undefined {
    const d = this.#map.get(code);
    return d === undefined ? undefined : decode(d);
  }

  #put(code: number, data: Uint8Array): this {
    this.#map.set(code, data);
    return this;
  }

  // 53
  getMessageType(): MessageType | undefined {
    return this.#dec(OPT.MESSAGE_TYPE, (d) => T.decodeU8(OPT.MESSAGE_TYPE, d));
  }
  setMessageType(t: MessageType): this {
    return this.#put(OPT.MESSAGE_TYPE, T.encodeU8(OPT.MESSAGE_TYPE, t));
  }

  // addresses: 1, 28, 50, 54
  getSubnetMask(): string | undefined {
    return this.#dec(OPT.SUBNET_MASK, (d) => T.decodeIp(OPT.SUBNET_MASK, d));
  }
  setSubnetMask(ip: string): this {
    return this.#put(OPT.SUBNET_MASK, T.encodeIp(OPT.SUBNET_MASK, ip));
  }
  getBroadcastAddress(): string | undefined {
    return this.#dec(OPT.BROADCAST_ADDRESS, (d) => T.decodeIp(OPT.BROADCAST_ADDRESS, d));
  }
  setBroadcastAddress(ip: string): this {
    return this.#put(OPT.BROADCAST_ADDRESS, T.encodeIp(OPT.BROADCAST_ADDRESS, ip));
  }
  getRequestedIp(): string | undefined {
    return this.#dec(OPT.REQUESTED_IP, (d) => T.decodeIp(OPT.REQUESTED_IP, d));
  }
  setRequestedIp(ip: string): this {
    return this.#put(OPT.REQUESTED_IP, T.encodeIp(OPT.REQUESTED_IP, ip));
  }
  getServerId(): string | undefined {
    return this.#dec(OPT.SERVER_ID, (d) => T.decodeIp(OPT.SERVER_ID, d));
  }
  setServerId(ip: string): this {
    return this.#put(OPT.SERVER_ID, T.encodeIp(OPT.SERVER_ID, ip));
  }

  // address lists: 3, 6, 42
  getRouters(): string[] | undefined {
    return this.#dec(OPT.ROUTERS, (d) => T.decodeIpList(OPT.ROUTERS, d));
  }
  setRouters(ips: readonly string[]): this {
    return this.#put(OPT.ROUTERS, T.encodeIpList(OPT.ROUTERS, ips));
  }
  getDnsServers(): string[] | undefined {
    return this.#dec(OPT.DNS_SERVERS, (d) => T.decodeIpList(OPT.DNS_SERVERS, d));
  }
  setDnsServers(ips: readonly string[]): this {
    return this.#put(OPT.DNS_SERVERS, T.encodeIpList(OPT.DNS_SERVERS, ips));
  }
  getNtpServers(): string[] | undefined {
    return this.#dec(OPT.NTP_SERVERS, (d) => T.decodeIpList(OPT.NTP_SERVERS, d));
  }
  setNtpServers(ips: readonly string[]): this {
    return this.#put(OPT.NTP_SERVERS, T.encodeIpList(OPT.NTP_SERVERS, ips));
  }

  // strings: 12, 15, 56, 60, 66, 67
  getHostName(): string | undefined {
    return this.#dec(OPT.HOST_NAME, (d) => T.decodeString(OPT.HOST_NAME, d));
  }
  setHostName(s: string): this {
    return this.#put(OPT.HOST_NAME, T.encodeString(OPT.HOST_NAME, s));
  }
  getDomainName(): string | undefined {
    return this.#dec(OPT.DOMAIN_NAME, (d) => T.decodeString(OPT.DOMAIN_NAME, d));
  }
  setDomainName(s: string): this {
    return this.#put(OPT.DOMAIN_NAME, T.encodeString(OPT.DOMAIN_NAME, s));
  }
  getMessage(): string | undefined {
    return this.#dec(OPT.MESSAGE, (d) => T.decodeString(OPT.MESSAGE, d));
  }
  setMessage(s: string): this {
    return this.#put(OPT.MESSAGE, T.encodeString(OPT.MESSAGE, s));
  }
  getVendorClass(): string | undefined {
    return this.#dec(OPT.VENDOR_CLASS, (d) => T.decodeString(OPT.VENDOR_CLASS, d));
  }
  setVendorClass(s: string): this {
    return this.#put(OPT.VENDOR_CLASS, T.encodeString(OPT.VENDOR_CLASS, s));
  }
  getTftpServerName(): string | undefined {
    return this.#dec(OPT.TFTP_SERVER_NAME, (d) => T.decodeString(OPT.TFTP_SERVER_NAME, d));
  }
  setTftpServerName(s: string): this {
    return this.#put(OPT.TFTP_SERVER_NAME, T.encodeString(OPT.TFTP_SERVER_NAME, s));
  }
  getBootFileName(): string | undefined {
    return this.#dec(OPT.BOOT_FILE_NAME, (d) => T.decodeString(OPT.BOOT_FILE_NAME, d));
  }
  setBootFileName(s: string): this {
    return this.#put(OPT.BOOT_FILE_NAME, T.encodeString(OPT.BOOT_FILE_NAME, s));
  }

  // times and sizes: 51, 57, 58, 59
  getLeaseTime(): number | undefined {
    return this.#dec(OPT.LEASE_TIME, (d) => T.decodeU32(OPT.LEASE_TIME, d));
  }
  setLeaseTime(seconds: number): this {
    return this.#put(OPT.LEASE_TIME, T.encodeU32(OPT.LEASE_TIME, seconds));
  }
  getRenewalTime(): number | undefined {
    return this.#dec(OPT.RENEWAL_TIME, (d) => T.decodeU32(OPT.RENEWAL_TIME, d));
  }
  setRenewalTime(seconds: number): this {
    return this.#put(OPT.RENEWAL_TIME, T.encodeU32(OPT.RENEWAL_TIME, seconds));
  }
  getRebindingTime(): number | undefined {
    return this.#dec(OPT.REBINDING_TIME, (d) => T.decodeU32(OPT.REBINDING_TIME, d));
  }
  setRebindingTime(seconds: number): this {
    return this.#put(OPT.REBINDING_TIME, T.encodeU32(OPT.REBINDING_TIME, seconds));
  }
  getMaxMessageSize(): number | undefined {
    return this.#dec(OPT.MAX_MESSAGE_SIZE, (d) => T.decodeU16(OPT.MAX_MESSAGE_SIZE, d));
  }
  setMaxMessageSize(bytes: number): this {
    return this.#put(OPT.MAX_MESSAGE_SIZE, T.encodeU16(OPT.MAX_MESSAGE_SIZE, bytes));
  }

  // 55
  getParameterList(): number[] | undefined {
    return this.#dec(OPT.PARAMETER_LIST, (d) => T.decodeU8List(OPT.PARAMETER_LIST, d));
  }
  setParameterList(codes: readonly number[]): this {
    return this.#put(OPT.PARAMETER_LIST, T.encodeU8List(OPT.PARAMETER_LIST, codes));
  }

  // 43: raw vendor bytes, or the PXE sub-option view
  getVendorSpecific(): Uint8Array | undefined {
    return this.#map.get(OPT.VENDOR_SPECIFIC);
  }
  setVendorSpecific(data: Uint8Array): this {
    return this.#put(OPT.VENDOR_SPECIFIC, copyBytes(data));
  }
  getPxeVendorOptions(): PxeVendorOptions | undefined {
    return this.#dec(OPT.VENDOR_SPECIFIC, decodePxeVendorOptions);
  }
  setPxeVendorOptions(o: PxeVendorOptions): this {
    return this.#put(OPT.VENDOR_SPECIFIC, encodePxeVendorOptions(o));
  }

  // 61
  getClientId(): ClientId | undefined {
    return this.#dec(OPT.CLIENT_ID, decodeClientId);
  }
  setClientId(id: ClientId): this {
    return this.#put(OPT.CLIENT_ID, encodeClientId(id));
  }

  // 77
  getUserClass(): string[] | undefined {
    return this.#dec(OPT.USER_CLASS, (d) => decodeUserClass(d).classes);
  }
  getUserClassDetail(): UserClass | undefined {
    return this.#dec(OPT.USER_CLASS, decodeUserClass);
  }
  /** True when option 77 carries `name` in either form ("iPXE" from iPXE's plain string). */
  hasUserClass(name: string): boolean {
    return this.getUserClass()?.includes(name) ?? false;
  }
  setUserClass(classes: readonly string[], form: UserClass["form"] = "rfc3004"): this {
    return this.#put(OPT.USER_CLASS, encodeUserClass(classes, form));
  }

  // 82
  getRelayAgentInfo(): RelayAgentInfo | undefined {
    return this.#dec(OPT.RELAY_AGENT_INFO, decodeRelayAgentInfo);
  }
  setRelayAgentInfo(info: Omit<RelayAgentInfo, "subOptions"> & { extra?: SubOption[] }): this {
    return this.#put(OPT.RELAY_AGENT_INFO, encodeRelayAgentInfo(info));
  }

  // 93, 94, 97
  getClientArch(): number[] | undefined {
    return this.#dec(OPT.CLIENT_ARCH, (d) => T.decodeU16List(OPT.CLIENT_ARCH, d));
  }
  setClientArch(archs: readonly number[]): this {
    return this.#put(OPT.CLIENT_ARCH, T.encodeU16List(OPT.CLIENT_ARCH, archs));
  }
  getClientNdi(): ClientNdi | undefined {
    return this.#dec(OPT.CLIENT_NDI, decodeClientNdi);
  }
  setClientNdi(n: ClientNdi): this {
    return this.#put(OPT.CLIENT_NDI, encodeClientNdi(n));
  }
  getClientUuid(): ClientUuid | undefined {
    return this.#dec(OPT.CLIENT_UUID, decodeClientUuid);
  }
  setClientUuid(u: ClientUuid): this {
    return this.#put(OPT.CLIENT_UUID, encodeClientUuid(u));
  }

  // 119, 121
  getDomainSearch(): string[] | undefined {
    return this.#dec(OPT.DOMAIN_SEARCH, decodeDomainSearch);
  }
  setDomainSearch(names: readonly string[]): this {
    return this.#put(OPT.DOMAIN_SEARCH, encodeDomainSearch(names));
  }
  getClasslessRoutes(): ClasslessRoute[] | undefined {
    return this.#dec(OPT.CLASSLESS_ROUTES, decodeClasslessRoutes);
  }
  setClasslessRoutes(routes: readonly ClasslessRoute[]): this {
    return this.#put(OPT.CLASSLESS_ROUTES, encodeClasslessRoutes(routes));
  }

  // 124, 125
  getVendorIdentifyingClass(): VendorClassEntry[] | undefined {
    return this.#dec(OPT.VENDOR_ID_CLASS, decodeVendorClass);
  }
  setVendorIdentifyingClass(entries: readonly VendorClassEntry[]): this {
    return this.#put(OPT.VENDOR_ID_CLASS, encodeVendorClass(entries));
  }
  getVendorIdentifyingInfo(): VendorInfoEntry[] | undefined {
    return this.#dec(OPT.VENDOR_ID_INFO, decodeVendorInfo);
  }
  setVendorIdentifyingInfo(entries: readonly VendorInfoEntry[]): this {
    return this.#put(OPT.VENDOR_ID_INFO, encodeVendorInfo(entries));
  }

  // 175
  getIpxeOptions(): IpxeOptions | undefined {
    return this.#dec(OPT.IPXE, decodeIpxeOptions);
  }
  setIpxeOptions(subs: readonly SubOption[]): this {
    return this.#put(OPT.IPXE, encodeIpxeOptions(subs));
  }
}
