// One UDP socket per served interface, bound to that device (SO_BINDTODEVICE). A DHCP client has
// no address yet: its DISCOVER is a broadcast from 0.0.0.0, so neither the source nor the
// destination says which segment it came from. A device-bound socket only receives what arrived on
// its device, and its broadcast reply (255.255.255.255) leaves by that device, whatever the
// routing table says.
//
// Node's and Bun's dgram APIs cannot bind to a device, so the socket is made through bun:ffi
// (socket, setsockopt SO_REUSEADDR/SO_BROADCAST/SO_BINDTODEVICE, bind 0.0.0.0:port) and adopted
// with Bun.udpSocket({ fd }), which then owns and closes the descriptor. A self-test reads
// SO_BINDTODEVICE back and checks that Bun really adopted the descriptor (it would otherwise bind a
// fresh socket on a random port).
//
// The receive buffer is raised to 2 MiB. The default (net.core.rmem_default, 208 KiB) is charged
// per datagram at the kernel's buffer size, not the payload's: a 300-byte DISCOVER arriving over a
// veth costs about 1.5-2 KiB, so roughly a hundred fit. A burst of new clients (200 PXE machines
// powered on together) then overflows it while the JS thread is busy, the kernel drops the rest
// silently (UdpRcvbufErrors), and each dropped client waits 1-2 s to retransmit; measured, the
// avalanche's resends equalled the receive-buffer drops. SO_RCVBUFFORCE (root, CAP_NET_ADMIN)
// ignores net.core.rmem_max; otherwise SO_RCVBUF is capped by it, and the size obtained is logged.
//
// Fallback where FFI or libc is unavailable: one plain Bun.udpSocket on 0.0.0.0:port with
// setBroadcast(true). It receives from every interface without saying which, and its broadcast
// replies leave by the routing table's choice: it only works on a host with one served segment
// that carries the default route (255.255.255.255 follows the default route). A warning says so.

import { SocleError } from "../../model/errors.ts";
import type { Logger } from "../../log/logger.ts";
import {
  AF_INET,
  EACCES,
  EADDRINUSE,
  ENODEV,
  EPERM,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  SOL_SOCKET,
  SO_BINDTODEVICE,
  SO_BROADCAST,
  SO_RCVBUF,
  SO_RCVBUFFORCE,
  SO_REUSEADDR,
  errnoName,
  loadSocketLibc,
  sockaddrAny,
  type SocketLibc,
} from "./socket-libc.ts";

export interface DhcpSocketOptions {
  /** Interface to bind to; omitted = the unbound fallback socket. */
  iface?: string;
  port: number;
  log: Logger;
  onMessage(data: Uint8Array, from: { address: string; port: number }): void;
  /** Use the fallback even when FFI works (tests). */
  forceFallback?: boolean;
}

export interface DhcpSocket {
  /** The bound interface; "" for the fallback socket. */
  readonly iface: string;
  readonly port: number;
  readonly bound: "device" | "fallback";
  /** The receive buffer the kernel reports (getsockopt SO_RCVBUF: twice the usable size); 0 when unknown (fallback). */
  readonly receiveBuffer: number;
  /** Queue one datagram; false when the kernel refused it (buffer full, no route). */
  send(data: Uint8Array, address: string, port: number): boolean;
  close(): void;
}

/** Linux IFNAMSIZ is 16 including the NUL. */
const IFNAMSIZ = 16;

/** Receive buffer asked for on every device-bound DHCP socket (see the header). */
export const DHCP_RECEIVE_BUFFER = 2 << 20;

/**
 * Ask for a `bytes` receive buffer on `fd`: SO_RCVBUFFORCE, and SO_RCVBUF when that is not
 * permitted. Returns what the kernel then reports, which is twice the usable size (Linux doubles
 * the value to cover its bookkeeping), and whether the request was forced; -1 if it cannot be read.
 */
export function raiseReceiveBuffer(libc: SocketLibc, fd: number, bytes: number): { reported: number; forced: boolean } {
  const value = new Uint8Array(new Int32Array([bytes]).buffer);
  const forced = libc.setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, value) === 0;
  // Without CAP_NET_ADMIN (EPERM): the plain option, capped by rmem_max. Neither failing is fatal,
  // the socket works with the default buffer.
  if (!forced) libc.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, value);
  const got = new Uint8Array(4);
  const len = libc.getsockopt(fd, SOL_SOCKET, SO_RCVBUF, got);
  return { reported: len === 4 ? new DataView(got.buffer).getInt32(0, true) : -1, forced };
}

/** True when device-bound sockets can be made here (bun:ffi and libc load). */
export async function deviceBindingAvailable(): Promise<boolean> {
  return (await loadSocketLibc()) !== null;
}

export async function openDhcpSocket(opts: DhcpSocketOptions): Promise<DhcpSocket> {
  checkPort(opts.port);
  const libc = opts.forceFallback ? null : await loadSocketLibc();
  if (opts.iface === undefined || libc === null) {
    if (opts.iface !== undefined) {
      opts.log.warn("cannot bind DHCP sockets to interfaces (bun:ffi or libc unavailable): one socket on 0.0.0.0 serves all; replies follow the routing table", {
        iface: opts.iface,
        port: opts.port,
      });
    }
    return openFallback(opts);
  }
  return openBound(libc, opts.iface, opts);
}

function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new SocleError("ValidationError", "dhcp", String(port), `open DHCP socket: invalid port ${port}`);
  }
}

function fail(iface: string, msg: string): SocleError {
  return new SocleError("Unavailable", "dhcp", iface, msg);
}

/** The one-line error for a failed socket call, naming the port or interface and what to do. */
export function socketError(step: "socket" | "setsockopt" | "bindtodevice" | "bind", errno: number, iface: string, port: number): SocleError {
  const where = iface ? ` on interface "${iface}"` : "";
  const code = errnoName(errno);
  if (step === "bind" && errno === EACCES) {
    return fail(iface, `cannot bind DHCP port ${port}${where}: permission denied (${code}); run as root or with CAP_NET_BIND_SERVICE, or choose another port with --dhcp-port`);
  }
  if (step === "bind" && errno === EADDRINUSE) {
    return fail(iface, `cannot bind DHCP port ${port}${where}: address in use (${code}); is another DHCP server running? (or choose another port with --dhcp-port)`);
  }
  if (step === "bindtodevice" && errno === ENODEV) {
    return fail(iface, `cannot bind DHCP socket to interface "${iface}": no such device (${code}); check --dhcp-interfaces`);
  }
  if (step === "bindtodevice" && errno === EPERM) {
    return fail(iface, `cannot bind DHCP socket to interface "${iface}": operation not permitted (${code}); SO_BINDTODEVICE needs root or CAP_NET_RAW`);
  }
  return fail(iface, `cannot open DHCP socket for port ${port}${where}: ${step} failed (${code})`);
}

async function openBound(libc: SocketLibc, iface: string, opts: DhcpSocketOptions): Promise<DhcpSocket> {
  const name = new TextEncoder().encode(iface);
  if (name.length === 0 || name.length >= IFNAMSIZ || name.includes(0)) {
    throw new SocleError("ValidationError", "dhcp", iface, `open DHCP socket: invalid interface name "${iface}"`);
  }
  const fd = libc.socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw socketError("socket", libc.errno(), iface, opts.port);
  let adopted = false;
  try {
    const one = new Uint8Array(new Int32Array([1]).buffer);
    if (libc.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, one) !== 0) throw socketError("setsockopt", libc.errno(), iface, opts.port);
    if (libc.setsockopt(fd, SOL_SOCKET, SO_BROADCAST, one) !== 0) throw socketError("setsockopt", libc.errno(), iface, opts.port);
    const dev = new Uint8Array(name.length + 1);
    dev.set(name);
    if (libc.setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, dev) !== 0) throw socketError("bindtodevice", libc.errno(), iface, opts.port);
    // Self-test: the kernel reports the device back, or the option silently did nothing.
    const got = new Uint8Array(IFNAMSIZ);
    const len = libc.getsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, got);
    const back = len > 0 ? new TextDecoder().decode(got.subarray(0, len)).replace(/\0.*$/s, "") : "";
    if (back !== iface) {
      throw fail(iface, `cannot bind DHCP socket to interface "${iface}": self-test read back "${back}"${len < 0 ? ` (${errnoName(libc.errno())})` : ""}`);
    }
    const rcv = raiseReceiveBuffer(libc, fd, DHCP_RECEIVE_BUFFER);
    const fields = { iface, requested: DHCP_RECEIVE_BUFFER, reported: rcv.reported, forced: rcv.forced };
    if (rcv.reported >= 2 * DHCP_RECEIVE_BUFFER) opts.log.info("DHCP socket receive buffer", fields);
    else opts.log.warn("DHCP socket receive buffer is smaller than asked for (not root, and net.core.rmem_max is lower): a burst of clients may be dropped and retransmit", fields);
    if (libc.bind(fd, sockaddrAny(opts.port)) !== 0) throw socketError("bind", libc.errno(), iface, opts.port);

    const sock = await Bun.udpSocket({
      fd,
      binaryType: "uint8array",
      socket: {
        data: (_s, data, port, address) => opts.onMessage(data, { address, port }),
      },
    } as Bun.udp.SocketOptions<"uint8array"> & { fd: number });
    adopted = true;
    // A Bun without fd adoption ignores the option and binds a new socket on a random port.
    if (opts.port !== 0 && sock.port !== opts.port) {
      sock.close();
      adopted = false;
      throw fail(iface, `cannot adopt DHCP socket for interface "${iface}": Bun bound port ${sock.port} instead of ${opts.port} (Bun.udpSocket ignored fd)`);
    }
    return wrap(sock, iface, "device", Math.max(0, rcv.reported));
  } finally {
    if (!adopted) libc.close(fd);
  }
}

async function openFallback(opts: DhcpSocketOptions): Promise<DhcpSocket> {
  let sock: Bun.udp.Socket<"uint8array">;
  try {
    sock = await Bun.udpSocket({
      hostname: "0.0.0.0",
      port: opts.port,
      binaryType: "uint8array",
      socket: { data: (_s, data, port, address) => opts.onMessage(data, { address, port }) },
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const errno = code === "EACCES" ? EACCES : code === "EADDRINUSE" ? EADDRINUSE : -1;
    if (errno > 0) throw socketError("bind", errno, "", opts.port);
    throw fail("", `cannot open DHCP socket on 0.0.0.0:${opts.port}: ${(err as Error).message}`);
  }
  sock.setBroadcast(true);
  return wrap(sock, "", "fallback", 0);
}

function wrap(sock: Bun.udp.Socket<"uint8array">, iface: string, bound: "device" | "fallback", receiveBuffer: number): DhcpSocket {
  return {
    iface,
    port: sock.port,
    bound,
    receiveBuffer,
    send(data, address, port) {
      if (sock.closed) return false;
      try {
        return sock.send(data, port, address);
      } catch {
        // EHOSTUNREACH, ENETUNREACH, EMSGSIZE: the datagram is lost, as UDP allows
        return false;
      }
    },
    close() {
      if (!sock.closed) sock.close();
    },
  };
}
