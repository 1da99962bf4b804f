// Pins finding 8 of the machine-trust issue, its part: "`/ws` upgrades for any `Origin`".
//
// Browsers apply no CORS to websockets and send the operator's cached Basic credentials along, so
// any web page could open the event stream (cross-site websocket hijacking). Raw websocket
// handshakes over TLS against a running Socle, with the Origin header as a browser would send it:
// absent (CLI, scripts) and this server's own origin are upgraded (101); another site, another
// port, plain http and the opaque "null" are refused (403, JSON).

import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect } from "node:tls";
import { ADMIN_PASSWORD, basic, startTestSocle, type TestSocle } from "../helpers/socle.ts";

let s: TestSocle;
beforeAll(async () => {
  s = await startTestSocle();
});
afterAll(async () => {
  await s.stop();
});

/** The status line and body of a websocket handshake for /api/v3/ws. */
function handshake(headers: Record<string, string>): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: "127.0.0.1", port: s.socle.apiPort, ca: s.socle.caCertPem, servername: "localhost" }, () => {
      const lines = [
        "GET /api/v3/ws HTTP/1.1",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Version: 13",
        `Sec-WebSocket-Key: ${Buffer.from("0123456789abcdef").toString("base64")}`,
        `Authorization: ${basic("admin", ADMIN_PASSWORD)}`,
        ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
        "",
        "",
      ];
      sock.write(lines.join("\r\n"));
    });
    let text = "";
    let finished = false;
    const done = () => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      sock.destroy();
      const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
      if (m) resolve({ status: Number(m[1]), text });
      else reject(new Error(`no HTTP status in ${JSON.stringify(text.slice(0, 200))}`));
    };
    sock.on("data", (d) => {
      text += d.toString("latin1");
      // A 101 keeps the connection open; an error answer is complete once its JSON body arrived.
      if (/^HTTP\/1\.1 101/.test(text) || /\r\n\r\n\{.*\}$/s.test(text)) done();
    });
    sock.on("end", done);
    sock.on("error", reject);
    const timer = setTimeout(done, 5000);
  });
}

const host = () => `127.0.0.1:${s.socle.apiPort}`;

test("no Origin (the CLI, scripts) is upgraded", async () => {
  expect((await handshake({ Host: host() })).status).toBe(101);
});

test("this server's own origin, as the client reached it, is upgraded", async () => {
  expect((await handshake({ Host: host(), Origin: `https://${host()}` })).status).toBe(101);
  const byName = `localhost:${s.socle.apiPort}`;
  expect((await handshake({ Host: byName, Origin: `https://${byName}` })).status).toBe(101);
});

test("a page of any other origin is refused with 403", async () => {
  for (const origin of [
    "https://evil.example",
    `https://evil.example:${s.socle.apiPort}`,
    `http://${host()}`,
    `https://127.0.0.1:${s.socle.apiPort + 1}`,
    `https://localhost:${s.socle.apiPort}`,
    "null",
  ]) {
    const r = await handshake({ Host: host(), Origin: origin });
    expect({ origin, status: r.status }).toEqual({ origin, status: 403 });
    expect(r.text).toContain('"Type":"Forbidden"');
  }
});
