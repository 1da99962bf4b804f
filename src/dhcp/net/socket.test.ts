// Device binding on the loopback interface (no DHCP traffic leaves the host); the namespace tests
// in test/dhcp-socket.test.ts cover real segments.
import { expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { nullLogger } from "../../log/logger.ts";
import { SocleError } from "../../model/errors.ts";
import { openDhcpSocket, socketError } from "./socket.ts";

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
