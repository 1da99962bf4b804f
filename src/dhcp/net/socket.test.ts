// Device binding on the loopback interface (no DHCP traffic leaves the host); the namespace tests
// in test/dhcp-socket.test.ts cover real segments.
import { expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { nullLogger } from "../../log/logger.ts";
import { SocleError } from "../../model/errors.ts";
import { DHCP_RECEIVE_BUFFER, openDhcpSocket, raiseReceiveBuffer, socketError } from "./socket.ts";
import { AF_INET, SOCK_CLOEXEC, SOCK_DGRAM, SOL_SOCKET, SO_RCVBUF, SO_RCVBUFFORCE, loadSocketLibc, type SocketLibc } from "./socket-libc.ts";

const root = process.getuid?.() === 0;

test("error messages name the port or interface and what to do", () => {
  expect(socketError("bind", 13, "", 67).message).toBe(
    "cannot bind DHCP port 67: permission denied (EACCES); run as root or with CAP_NET_BIND_SERVICE, or choose another port with --dhcp-port",
  );
  expect(socketError("bindtodevice", 19, "eth9", 67).message).toContain('cannot bind DHCP socket to interface "eth9": no such device (ENODEV)');
  expect(socketError("bind", 98, "eth1", 67).message).toContain('port 67 on interface "eth1": address in use (EADDRINUSE)');
  expect(socketError("setsockopt", 22, "eth1", 67).message).toBe('cannot open DHCP socket for port 67 on interface "eth1": setsockopt failed (EINVAL)');
  expect(socketError("bind", 13, "", 67)).toBeInstanceOf(SocleError);
});

test("invalid interface names and ports are refused before any socket call", async () => {
  const onMessage = () => {};
  await expect(openDhcpSocket({ iface: "a-name-longer-than-15", port: 67, log: nullLogger, onMessage })).rejects.toThrow('invalid interface name "a-name-longer-than-15"');
  await expect(openDhcpSocket({ iface: "", port: 67, log: nullLogger, onMessage })).rejects.toThrow('invalid interface name ""');
  await expect(openDhcpSocket({ iface: "lo", port: 70000, log: nullLogger, onMessage })).rejects.toThrow("invalid port 70000");
});

test("a missing interface is ENODEV, naming it", async () => {
  await expect(openDhcpSocket({ iface: "nosuch9z", port: 0, log: nullLogger, onMessage: () => {} })).rejects.toThrow(
    'cannot bind DHCP socket to interface "nosuch9z": no such device (ENODEV)',
  );
});

test("a socket bound to lo receives, replies and closes", async () => {
  const got: string[] = [];
  const sock = await openDhcpSocket({ iface: "lo", port: 0, log: nullLogger, onMessage: (d, from) => got.push(`${new TextDecoder().decode(d)} ${from.address}`) });
  expect(sock.bound).toBe("device");
  expect(sock.iface).toBe("lo");
  expect(sock.port).toBeGreaterThan(0);
  const replies: string[] = [];
  const peer = await Bun.udpSocket({ hostname: "127.0.0.1", socket: { data: (_s, d) => void replies.push(d.toString()) } });
  try {
    peer.send("ping", sock.port, "127.0.0.1");
    for (let i = 0; i < 100 && got.length === 0; i++) await Bun.sleep(10);
    expect(got).toEqual(["ping 127.0.0.1"]);
    expect(sock.send(new TextEncoder().encode("pong"), "127.0.0.1", peer.port)).toBe(true);
    for (let i = 0; i < 100 && replies.length === 0; i++) await Bun.sleep(10);
    expect(replies).toEqual(["pong"]);
  } finally {
    sock.close();
    sock.close(); // idempotent
    peer.close();
  }
  expect(sock.send(new TextEncoder().encode("late"), "127.0.0.1", peer.port)).toBe(false);
});

test.skipIf(!root)("port 67 without privileges: one line naming the port and --dhcp-port", async () => {
  const dir = mkdtempSync(join(tmpdir(), "socle-eacces-"));
  try {
    chmodSync(dir, 0o755); // readable by the unprivileged child
    const script = join(dir, "open.ts");
    writeFileSync(
      script,
      `import { openDhcpSocket } from ${JSON.stringify(resolve(import.meta.dir, "socket.ts"))};\n` +
        `import { nullLogger } from ${JSON.stringify(resolve(import.meta.dir, "../../log/logger.ts"))};\n` +
        `try { await openDhcpSocket({ iface: "lo", port: 67, log: nullLogger, onMessage() {} }); console.log("opened"); }\n` +
        `catch (e) { console.log(e.message); }\n`,
    );
    const proc = Bun.spawn(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", process.execPath, script], { stdout: "pipe", stderr: "pipe", cwd: dir });
    const out = await new Response(proc.stdout).text();
    const err = await new Response(proc.stderr).text();
    await proc.exited;
    expect(`${out}${err}`.trim()).toBe(
      "cannot bind DHCP port 67 on interface \"lo\": permission denied (EACCES); run as root or with CAP_NET_BIND_SERVICE, or choose another port with --dhcp-port",
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the receive buffer: forced when permitted, else SO_RCVBUF, and what the kernel reports back", async () => {
  const libc = await loadSocketLibc();
  if (!libc) return; // no bun:ffi or libc here: the fallback socket has no buffer to raise
  const fd = libc.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  expect(fd).toBeGreaterThanOrEqual(0);
  try {
    const r = raiseReceiveBuffer(libc, fd, DHCP_RECEIVE_BUFFER);
    const buf = new Uint8Array(4);
    expect(libc.getsockopt(fd, SOL_SOCKET, SO_RCVBUF, buf)).toBe(4);
    const now = new DataView(buf.buffer).getInt32(0, true);
    expect(r.reported).toBe(now);
    const rmemMax = Number(await Bun.file("/proc/sys/net/core/rmem_max").text());
    // Linux reports twice the size set; unforced, the size is capped at rmem_max.
    expect(r.forced).toBe(root);
    expect(now).toBe(2 * (r.forced ? DHCP_RECEIVE_BUFFER : Math.min(DHCP_RECEIVE_BUFFER, rmemMax)));
  } finally {
    libc.close(fd);
  }
});

test("without CAP_NET_ADMIN (EPERM on SO_RCVBUFFORCE) the plain SO_RCVBUF is set", () => {
  const calls: string[] = [];
  const fake: SocketLibc = {
    name: "fake",
    socket: () => 3,
    setsockopt: (_fd, _level, opt, value) => {
      calls.push(`${opt === SO_RCVBUFFORCE ? "force" : opt === SO_RCVBUF ? "rcvbuf" : opt}=${new DataView(value.buffer).getInt32(0, true)}`);
      return opt === SO_RCVBUFFORCE ? -1 : 0;
    },
    getsockopt: (_fd, _level, _opt, buf) => {
      new DataView(buf.buffer).setInt32(0, 425_984, true);
      return 4;
    },
    bind: () => 0,
    close: () => 0,
    errno: () => 1,
  };
  expect(raiseReceiveBuffer(fake, 3, 1 << 20)).toEqual({ reported: 425_984, forced: false });
  expect(calls).toEqual([`force=${1 << 20}`, `rcvbuf=${1 << 20}`]);
});

test("a device-bound socket carries the raised receive buffer", async () => {
  const sock = await openDhcpSocket({ iface: "lo", port: 0, log: nullLogger, onMessage: () => {} });
  try {
    if (root) expect(sock.receiveBuffer).toBe(2 * DHCP_RECEIVE_BUFFER);
    else expect(sock.receiveBuffer).toBeGreaterThan(0);
  } finally {
    sock.close();
  }
});
