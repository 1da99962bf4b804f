import { describe, expect, test } from "bun:test";
import type { FilePresence } from "../files/file-source.ts";
import type { ModelObject } from "../model/object.ts";
import { bootFileStatusView, missingBootFiles } from "./boot-file-status.ts";

/** A boot file server holding `names`; records every lookup. */
function fakeFiles(...names: string[]): FilePresence & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    async exists(path) {
      asked.push(path);
      return names.includes(path);
    },
  };
}

/** A boot file server whose every lookup fails (a disk error, not an absent file). */
const failingFiles: FilePresence = {
  async exists(path) {
    throw new Error(`EIO: i/o error, stat '${path}'`);
  },
};

const env = (fields: ModelObject): ModelObject => ({ Name: "e", Kernel: "", Initrds: [], Available: true, Errors: [], ...fields });
const ROCKY = env({ Name: "rocky-9", Kernel: "rocky-9/install/images/pxeboot/vmlinuz", Initrds: ["rocky-9/install/images/pxeboot/initrd.img"] });

describe("missingBootFiles", () => {
  test("one error per absent path, naming the field, the path and how to upload it", async () => {
    expect(await missingBootFiles(ROCKY, fakeFiles().exists)).toEqual([
      'Kernel: "rocky-9/install/images/pxeboot/vmlinuz" is not on the boot file server (upload it: socle files upload FILE rocky-9/install/images/pxeboot/vmlinuz)',
      'Initrds[0]: "rocky-9/install/images/pxeboot/initrd.img" is not on the boot file server (upload it: socle files upload FILE rocky-9/install/images/pxeboot/initrd.img)',
    ]);
    expect(await missingBootFiles(ROCKY, fakeFiles("rocky-9/install/images/pxeboot/vmlinuz").exists)).toEqual([
      expect.stringMatching(/^Initrds\[0\]: /),
    ]);
  });

  test("nothing to check without a kernel (local, ignore)", async () => {
    const files = fakeFiles();
    expect(await missingBootFiles(env({ Name: "local" }), files.exists)).toEqual([]);
    expect(files.asked).toEqual([]);
  });

  test("a path written as a template is skipped: it names a file only for a machine", async () => {
    const files = fakeFiles();
    const e = env({ Kernel: "<%= it.param('kernel-path') %>", Initrds: ["talos/<%= it.Machine.Arch %>/initramfs.xz", "fixed.img"] });
    expect(await missingBootFiles(e, files.exists)).toEqual([expect.stringMatching(/^Initrds\[1\]: "fixed.img" is not on/)]);
    expect(files.asked).toEqual(["fixed.img"]);
  });

  test("paths are looked up as the boot file server normalises them; refused paths are invalid, never looked up", async () => {
    const files = fakeFiles("etc/passwd");
    expect(await missingBootFiles(env({ Kernel: "/etc/passwd" }), files.exists)).toEqual([]);
    const bad = await missingBootFiles(env({ Kernel: "..\\..\\etc\\passwd", Initrds: ["C:\\x", "a/../../b"] }), files.exists);
    expect(bad).toEqual([
      'Kernel: invalid boot file path "..\\\\..\\\\etc\\\\passwd": empty, "..", NUL or a drive letter',
      'Initrds[0]: invalid boot file path "C:\\\\x": empty, "..", NUL or a drive letter',
      'Initrds[1]: invalid boot file path "a/../../b": empty, "..", NUL or a drive letter',
    ]);
    expect(files.asked).toEqual(["etc/passwd"]);
  });

  test("a path that needs quoting for the shell is quoted in the hint", async () => {
    const [msg] = await missingBootFiles(env({ Kernel: "my os/vmlinuz" }), fakeFiles().exists);
    expect(msg).toBe(`Kernel: "my os/vmlinuz" is not on the boot file server (upload it: socle files upload FILE 'my os/vmlinuz')`);
  });

  test("a lookup that fails is an error naming the path and the failure, not a present file", async () => {
    expect(await missingBootFiles(env({ Kernel: "k" }), failingFiles.exists)).toEqual([
      `Kernel: cannot look up "k" on the boot file server: EIO: i/o error, stat 'k'`,
    ]);
  });
});

describe("bootFileStatusView", () => {
  test("only BootEnvs, and only when a boot file server is known", () => {
    expect(bootFileStatusView("bootenvs", undefined)).toBeUndefined();
    expect(bootFileStatusView("machines", fakeFiles())).toBeUndefined();
    expect(bootFileStatusView("bootenvs", fakeFiles())).toBeDefined();
  });

  test("missing files make a copy Available: false after the stored errors; complete envs are returned as they are", async () => {
    const dangling = { ...ROCKY, Name: "mine", Available: false, Errors: ['Templates[0].ID: template "x" does not exist'] };
    const local = env({ Name: "local" });
    const stored = [Object.freeze(ROCKY), Object.freeze(dangling), Object.freeze(local)];
    const [rocky, mine, same] = await bootFileStatusView("bootenvs", fakeFiles())!.apply(stored);
    expect(rocky!.Available).toBe(false);
    expect(rocky!.Errors).toEqual([expect.stringMatching(/^Kernel: /), expect.stringMatching(/^Initrds\[0\]: /)]);
    expect(mine!.Errors).toEqual(['Templates[0].ID: template "x" does not exist', expect.stringMatching(/^Kernel: /), expect.stringMatching(/^Initrds\[0\]: /)]);
    expect(same).toBe(local);
    expect(ROCKY.Available).toBe(true); // the stored object is untouched
  });

  test("each path is looked up once per view; a new view looks again", async () => {
    const files = fakeFiles("rocky-9/install/images/pxeboot/vmlinuz", "rocky-9/install/images/pxeboot/initrd.img");
    const view = bootFileStatusView("bootenvs", files)!;
    const out = await view.apply([ROCKY, { ...ROCKY, Name: "copy" }]);
    expect(out.map((o) => o.Available)).toEqual([true, true]);
    await view.apply([ROCKY]);
    expect(files.asked.length).toBe(2);
    await bootFileStatusView("bootenvs", files)!.apply([ROCKY]);
    expect(files.asked.length).toBe(4);
  });

  test("a failing boot file server makes the env unavailable, with the reason", async () => {
    const [out] = await bootFileStatusView("bootenvs", failingFiles)!.apply([ROCKY]);
    expect(out!.Available).toBe(false);
    expect((out!.Errors as string[])[0]).toContain("cannot look up");
  });
});
