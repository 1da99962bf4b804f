// Minimal reader for classic libpcap files (not pcapng): Ethernet (optionally one 802.1Q tag),
// IPv4 (unfragmented), UDP. Enough to pull DHCP payloads out of captures for golden tests.

export interface UdpDatagram {
  /** 1-based frame number, as Wireshark shows it. */
  frame: number;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  payload: Uint8Array;
}

export function readPcapUdp(file: Uint8Array): UdpDatagram[] {
  if (file.length < 24) throw new Error(`read pcap: ${file.length} bytes is shorter than the 24-byte file header`);
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const magic = dv.getUint32(0, false);
  let le: boolean;
  if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d) le = false;
  else if (magic === 0xd4c3b2a1 || magic === 0x4d3cb2a1) le = true;
  else throw new Error(`read pcap: magic 0x${magic.toString(16)} is not libpcap (pcapng is not supported)`);
  const linktype = dv.getUint32(20, le);
  if (linktype !== 1) throw new Error(`read pcap: link type ${linktype} is not Ethernet (1)`);

  const out: UdpDatagram[] = [];
  let off = 24;
  let frame = 0;
  while (off < file.length) {
    if (off + 16 > file.length) throw new Error(`read pcap: record header at offset ${off} is cut off`);
    const incl = dv.getUint32(off + 8, le);
    const start = off + 16;
    if (start + incl > file.length) {
      throw new Error(`read pcap: record at offset ${off} claims ${incl} bytes but ${file.length - start} remain`);
    }
    frame++;
    const udp = udpOf(file.subarray(start, start + incl), frame);
    if (udp) out.push(udp);
    off = start + incl;
  }
  return out;
}

function udpOf(f: Uint8Array, frame: number): UdpDatagram | undefined {
  let p = 12;
  if (f.length < 14) return undefined;
  let etherType = (f[p]! << 8) | f[p + 1]!;
  if (etherType === 0x8100 && f.length >= 18) {
    p += 4;
    etherType = (f[p]! << 8) | f[p + 1]!;
  }
  if (etherType !== 0x0800) return undefined;
  const ip = p + 2;
  if (f.length < ip + 20) return undefined;
  const ihl = (f[ip]! & 0x0f) * 4;
  const totalLen = (f[ip + 2]! << 8) | f[ip + 3]!;
  const fragment = ((f[ip + 6]! & 0x3f) << 8) | f[ip + 7]!; // MF bit and offset
  if (f[ip + 9] !== 17 || fragment !== 0 || ihl < 20) return undefined;
  const u = ip + ihl;
  const end = Math.min(f.length, ip + totalLen);
  if (end < u + 8) return undefined;
  const udpLen = (f[u + 4]! << 8) | f[u + 5]!;
  const addr = (o: number) => `${f[o]}.${f[o + 1]}.${f[o + 2]}.${f[o + 3]}`;
  return {
    frame,
    src: addr(ip + 12),
    dst: addr(ip + 16),
    srcPort: (f[u]! << 8) | f[u + 1]!,
    dstPort: (f[u + 2]! << 8) | f[u + 3]!,
    payload: Uint8Array.from(f.subarray(u + 8, Math.min(end, u + udpLen))),
  };
}

const DHCP_PORTS = new Set([67, 68, 4011]);

/** UDP datagrams to or from the DHCP and PXE boot server ports. */
export function readPcapDhcp(file: Uint8Array): UdpDatagram[] {
  return readPcapUdp(file).filter((d) => DHCP_PORTS.has(d.srcPort) || DHCP_PORTS.has(d.dstPort));
}
