import { describe, expect, test } from "bun:test";
import { TemplateEngine } from "./engine.ts";
import { NO_AGENT } from "./context.ts";
import { checkTemplate } from "./compile.ts";
import { RenderError, missingParam } from "./render-error.ts";
import { envView, formatMac, hexAddress, machineView, renderContext, baseUrl } from "./views.ts";

const params: Record<string, unknown> = { "ntp-servers": ["198.51.100.1"], "root-hash": "$6$x&y<z>'q\"" };

function ctx(overrides: Partial<Parameters<typeof renderContext>[0]> = {}) {
  const url = "http://198.51.100.1:8091";
  return renderContext({
    machine: machineView({ Uuid: "u-1", Name: "n1", Address: "198.51.100.7", HardwareAddrs: ["52:54:00:12:34:56"], Arch: "amd64", BootEnv: "ks" }, url),
    env: envView({ Name: "ks", OS: { Name: "rocky-9" }, Kernel: "vmlinuz", Initrds: ["initrd.img"] }, url, () => "ip=dhcp"),
    provisionerAddress: "198.51.100.1",
    provisionerURL: url,
    apiPin: "sha256//pin",
    caCert: "",
    apiURL: "https://198.51.100.1:8092",
    param(name) {
      if (!(name in params)) throw missingParam(name, `parameter ${JSON.stringify(name)} is not set for machine "n1"`);
      return params[name];
    },
    paramExists: (name) => name in params,
    generateToken: () => "tok",
    agent: NO_AGENT,
    ...overrides,
  });
}

function renderError(fn: () => unknown): RenderError {
  try {
    fn();
  } catch (err) {
    if (err instanceof RenderError) return err;
    throw err;
  }
  throw new Error("expected a RenderError");
}

describe("output is the file as written", () => {
  test("no HTML escaping, line breaks kept after tags", () => {
    const e = new TemplateEngine();
    e.set("ks", "rootpw --iscrypted <%= it.param('root-hash') %>\n<% if (it.ParamExists('ntp-servers')) { %>\ntimesource --ntp-server <%= it.param('ntp-servers')[0] %>\n<% } %>\nreboot\n");
    expect(e.render("ks", ctx())).toBe("rootpw --iscrypted $6$x&y<z>'q\"\n\ntimesource --ntp-server 198.51.100.1\n\nreboot\n");
  });

  test("iPXE script lines stay separate; Eta turns CRLF in template text into LF", () => {
    const e = new TemplateEngine();
    e.set("ipxe", "#!ipxe\r\nkernel <%= it.ProvisionerURL %>/<%= it.Env.Kernel %> <%= it.BootParams %>\r\ninitrd <%= it.Env.Initrds[0] %>\nboot\n");
    expect(e.render("ipxe", ctx())).toBe("#!ipxe\nkernel http://198.51.100.1:8091/vmlinuz ip=dhcp\ninitrd initrd.img\nboot\n");
    // A file that needs CRLF (Windows batch files) writes it as a value.
    e.set("cmd", "wpeinit<%= '\\r\\n' %>exit<%= '\\r\\n' %>");
    expect(e.render("cmd", ctx())).toBe("wpeinit\r\nexit\r\n");
  });

  test("machine helpers: MacAddr formats, HexAddress, Path, Url", () => {
    const e = new TemplateEngine();
    e.set("m", "<%= it.Machine.MacAddr() %> <%= it.Machine.MacAddr('pxelinux') %> <%= it.Machine.MacAddr('raw') %> <%= it.Machine.HexAddress %> <%= it.Machine.Url %>");
    expect(e.render("m", ctx())).toBe("52:54:00:12:34:56 01-52-54-00-12-34-56 525400123456 C6336407 http://198.51.100.1:8091/machines/u-1");
    expect(formatMac("52-54-00-AA-BB-CC", "grub")).toBe("52:54:00:aa:bb:cc");
    expect(hexAddress("")).toBe("");
    expect(hexAddress("198.51.100.300")).toBe("");
    expect(baseUrl("http", "fd00::1", 8091)).toBe("http://[fd00::1]:8091");
    expect(baseUrl("http", "198.51.100.1", 80)).toBe("http://198.51.100.1");
  });
});

describe("includes", () => {
  test("three levels deep, with it passed through and extra data merged", () => {
    const e = new TemplateEngine();
    e.set("top", "top\n<%~ include('mid', it) %>end\n");
    e.set("mid", "mid <%= it.Machine.Name %>\n<%~ include('leaf', { disk: 'vda' }) %>");
    e.set("leaf", "leaf <%= it.disk %> <%= it.Env.Name %>\n");
    expect(e.render("top", ctx())).toBe("top\nmid n1\nleaf vda ks\nend\n");
  });

  test("a missing template is named, with the chain and lines that led to it", () => {
    const e = new TemplateEngine();
    e.set("a", "1\n2 <%~ include('b', it) %>\n");
    e.set("b", "x\ny\n<%~ include('nope', it) %>");
    const err = renderError(() => e.render("a", ctx()));
    expect(err.kind).toBe("missing-template");
    expect(err.subject).toBe("nope");
    expect(err.message).toBe('template "a" line 2 -> template "b" line 3: template "nope" not found');
    expect(renderError(() => e.render("zzz", ctx())).message).toBe('template "zzz" not found');
  });

  test("cycles and depth are errors naming the chain", () => {
    const e = new TemplateEngine({ maxDepth: 4 });
    e.set("a", "<%~ include('b', it) %>");
    e.set("b", "<%~ include('a', it) %>");
    const cyc = renderError(() => e.render("a", ctx()));
    expect(cyc.kind).toBe("cycle");
    expect(cyc.message).toContain("include cycle: a -> b -> a");
    for (let i = 1; i <= 5; i++) e.set(`d${i}`, i < 5 ? `<%~ include('d${i + 1}', it) %>` : "deep");
    const deep = renderError(() => e.render("d1", ctx()));
    expect(deep.kind).toBe("depth");
    expect(deep.message).toContain("includes nested deeper than 4: d1 -> d2 -> d3 -> d4 -> d5");
    // The engine is usable after errors (its include stack unwound).
    e.set("ok", "fine");
    expect(e.render("ok", ctx())).toBe("fine");
  });
});

describe("strict", () => {
  test("a missing parameter names itself, the template and its line", () => {
    const e = new TemplateEngine();
    e.set("outer", "a\n<%~ include('inner', it) %>\n");
    e.set("inner", "first line\ndisk=<%= it.param('operating-system-disk') %>\n");
    const err = renderError(() => e.render("outer", ctx()));
    expect(err.kind).toBe("missing-param");
    expect(err.subject).toBe("operating-system-disk");
    expect(err.where).toEqual({ template: "inner", line: 2 });
    expect(err.message).toBe('template "outer" line 2 -> template "inner" line 2: parameter "operating-system-disk" is not set for machine "n1"');
  });

  test("a misspelt field is an error, not the text 'undefined'", () => {
    const e = new TemplateEngine();
    e.set("t", "<%= it.machine.Name %>");
    expect(renderError(() => e.render("t", ctx())).message).toMatch(/^template "t" line 1: it has no field "machine"; known: Machine, Env/);
    e.set("t2", "<%= it.Machine.Nmae %>");
    expect(renderError(() => e.render("t2", ctx())).message).toContain('it.Machine has no field "Nmae"');
    e.set("t3", "<%= it.Machine.MacAddr('cisco') %>");
    expect(renderError(() => e.render("t3", ctx())).message).toContain('unknown MAC format "cisco"');
  });

  test("an unknown machine: it.Machine is undefined, and using it says where", () => {
    const e = new TemplateEngine();
    e.set("t", "<%= it.Machine ? it.Machine.Name : 'unknown' %>\n<%= it.Machine.Name %>\n");
    const c = ctx({ machine: undefined });
    const err = renderError(() => e.render("t", c));
    expect(err.kind).toBe("runtime");
    expect(err.where).toEqual({ template: "t", line: 2 });
  });

  test("nothing half-rendered: the error replaces the whole output", () => {
    const e = new TemplateEngine();
    e.set("t", "A".repeat(1000) + "\n<%= it.param('missing') %>\nB\n");
    let out: string | undefined;
    expect(() => {
      out = e.render("t", ctx());
    }).toThrow(RenderError);
    expect(out).toBeUndefined();
  });

  test("lazy fields run only when read, once", () => {
    let calls = 0;
    const url = "http://a";
    const env = envView({ Name: "e", OS: { Name: "x" }, Kernel: "", Initrds: [] }, url, () => {
      calls++;
      return "console=ttyS0";
    });
    const e = new TemplateEngine();
    e.set("no", "<%~ include('no2', it) %>");
    e.set("no2", "plain");
    e.set("yes", "<%= it.BootParams %> <%= it.Env.BootParams %>");
    const c = ctx({ env });
    expect(e.render("no", c)).toBe("plain");
    expect(calls).toBe(0);
    expect(e.render("yes", c)).toBe("console=ttyS0 console=ttyS0");
    expect(calls).toBe(1);
  });
});

describe("compile errors carry line numbers", () => {
  test("JavaScript errors in tags", () => {
    expect(checkTemplate("t", "ok\n<% if (it.x) { %>\nA\n<% } } %>\nB\n")).toBe('template "t" line 4: JavaScript syntax error: Expected "finally" but found "__eta" in "<% } } %>"');
    expect(checkTemplate("t", "one\ntwo\nthree <%= it.y( %>\n")).toMatch(/^template "t" line 3: JavaScript syntax error: .* in "three <%= it.y\( %>"$/);
  });

  test("Eta parse errors: unclosed tags and strings", () => {
    expect(checkTemplate("t", "a\nb\n<%= it.x\n")).toBe('template "t" line 3: unclosed tag (column 1)');
    expect(checkTemplate("t", "a\n<%= 'x %>")).toBe('template "t" line 2: unclosed string (column 5)');
  });

  test("valid templates pass; a registered broken template fails its includers with its own error", () => {
    expect(checkTemplate("t", "fine <%= it.x %>\n<% for (const a of [1,2]) { %><%= a %><% } %>")).toBeUndefined();
    const e = new TemplateEngine();
    expect(() => e.set("bad", "x\n<% } %>")).toThrow(RenderError);
    e.set("top", "<%~ include('bad', it) %>");
    const err = renderError(() => e.render("top", ctx()));
    expect(err.kind).toBe("syntax");
    expect(err.message).toMatch(/^template "top" line 1 -> template "bad" line 2: JavaScript syntax error/);
  });
});
