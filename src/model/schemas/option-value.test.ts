import { describe, expect, test } from "bun:test";
import { hasPlaceholders, parseOptionValue, suggestPlaceholders } from "./option-value.ts";
import { subnets } from "./subnets.ts";
import { reservations } from "./reservations.ts";
import { messagesOf } from "./test-util.ts";

const parts = (v: string) => {
  const r = parseOptionValue(v);
  if (!r.ok) throw new Error(r.error);
  return r.parts;
};
const error = (v: string) => {
  const r = parseOptionValue(v);
  if (r.ok) throw new Error(`expected ${JSON.stringify(v)} to be refused`);
  return r.error;
};

describe("option value placeholders", () => {
  test("text and placeholders, alternatives, quoted literals, spaces inside braces", () => {
    expect(parts("198.51.100.1")).toEqual(["198.51.100.1"]);
    expect(parts("")).toEqual([]);
    expect(parts("node-{{macHex}}.lab")).toEqual(["node-", [{ field: "macHex" }], ".lab"]);
    expect(parts("{{ hostname | macHex }}")).toEqual([[{ field: "hostname" }, { field: "macHex" }]]);
    expect(parts('{{options.60}}{{options.17|""}}')).toEqual([[{ option: 60 }], [{ option: 17 }, { text: "" }]]);
    expect(parts('a{{"{{"}}b}}')).toEqual(["a", [{ text: "{{" }], "b}}"]);
    expect(hasPlaceholders("3600")).toBe(false);
    expect(hasPlaceholders("{{mac}}")).toBe(true);
  });

  test("an unknown field is refused naming the value and the field", () => {
    expect(error("{{pid}}")).toBe('"{{pid}}" names unknown field "pid"; known: mac, macHex, hostname, address, ciaddr, giaddr, serverAddress, subnet, arch, userClass, vendorClass, uuid, options.<code> (column 3)');
    expect(error("x-{{process.pid}}")).toStartWith('"x-{{process.pid}}" names unknown field "process.pid"');
    expect(error("{{constructor}}")).toContain('unknown field "constructor"');
    expect(error("{{toString}}")).toContain('unknown field "toString"');
    expect(error("{{mac|__proto__}}")).toContain('unknown field "__proto__"');
  });

  test("malformed placeholders say what and where", () => {
    expect(error("a{{mac")).toBe('"a{{mac" has "{{" without its closing "}}" (column 2)');
    expect(error("{{}}")).toBe('"{{}}" has "}" where a field name or a quoted text belongs (column 3)');
    expect(error("{{mac + 1}}")).toBe('"{{mac + 1}}" has "+" inside a placeholder; alternatives are separated by "|" (column 7)');
    expect(error("{{mac()}}")).toContain('has "(" inside a placeholder');
    expect(error('{{"abc}}')).toBe('"{{\\"abc}}" has a quoted text without its closing quote (column 3)');
    expect(error("{{options.0}}")).toContain("names request option 0; option codes are 1 to 254");
    expect(error("{{options.255}}")).toContain("option codes are 1 to 254");
  });

  test("Eta is refused, with the {{}} spelling of its simple forms as a hint", () => {
    expect(error("<%= process.pid %>")).toBe('"<%= process.pid %>" is template code (Eta "<%"), which option values do not run; write request fields as {{field}} (known: mac, macHex, hostname, address, ciaddr, giaddr, serverAddress, subnet, arch, userClass, vendorClass, uuid, options.<code>)');
    expect(error("node-<%= it.mac %>")).toBe('"node-<%= it.mac %>" is template code (Eta "<%"), which option values do not run; write request fields as {{field}}: "node-{{mac}}"');
    expect(suggestPlaceholders("<%= it.options[12] %>.<%= it.subnet %>")).toBe("{{options.12}}.{{subnet}}");
    expect(suggestPlaceholders('<%= it.mac.replaceAll(":", "") %>')).toBeUndefined();
    expect(suggestPlaceholders("<%= it.nope %>")).toBeUndefined();
    expect(suggestPlaceholders("<% while(true){} %>")).toBeUndefined();
  });
});

describe("subnet and reservation options are checked when written", () => {
  const subnet = (Value: string) => ({ Name: "lab", Subnet: "198.51.100.0/24", ActiveStart: "198.51.100.10", ActiveEnd: "198.51.100.20", Options: [{ Code: 3, Value: "198.51.100.1" }, { Code: 12, Value }] });

  test("a placeholder over known fields is stored as written", () => {
    expect(subnets.prepare(subnet("node-{{macHex}}")).Options).toEqual([{ Code: 3, Value: "198.51.100.1" }, { Code: 12, Value: "node-{{macHex}}" }]);
  });

  test("code and unknown fields are 422 naming the option and the value", () => {
    expect(messagesOf(subnets, subnet("<%= process.pid %>"))).toEqual([
      'Options[1].Value: "<%= process.pid %>" is template code (Eta "<%"), which option values do not run; write request fields as {{field}} (known: mac, macHex, hostname, address, ciaddr, giaddr, serverAddress, subnet, arch, userClass, vendorClass, uuid, options.<code>)',
    ]);
    expect(messagesOf(reservations, { Addr: "198.51.100.50", Token: "52:54:00:00:00:01", Options: [{ Code: 15, Value: "{{pid}}" }] })[0]).toStartWith(
      'Options[0].Value: "{{pid}}" names unknown field "pid"',
    );
  });
});
