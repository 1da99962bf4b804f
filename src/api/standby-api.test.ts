import { expect, test } from "bun:test";
import { standbyApi } from "./standby-api.ts";

test("every path and method on a standby: 503 naming the node, its state and the VIP; nothing else", async () => {
  const app = standbyApi({ vip: "198.51.100.10", apiPort: 8092, facts: () => ({ Node: "node-b", State: "standby", Term: 3, Peer: { Name: "node-a", State: "active" } }) });
  for (const [method, path] of [["GET", "/api/v3/ha"], ["POST", "/api/v3/machines"], ["GET", "/api/v3/info"], ["DELETE", "/x/../../etc/passwd"]] as const) {
    const r = await app.request(path, { method });
    expect(r.status).toBe(503);
    expect(r.headers.get("retry-after")).toBe("1");
    const body = (await r.json()) as { Type: string; Messages: string[]; Code: number };
    expect(body.Type).toBe("Unavailable");
    expect(body.Code).toBe(503);
    expect(body.Messages[0]).toBe("this node (node-b) is the HA standby (standby, term 3; partner node-a is active): the API is served on the VIP, https://198.51.100.10:8092");
  }
});
