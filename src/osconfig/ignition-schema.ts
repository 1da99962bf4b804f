// The structure of an Ignition config, spec 3.3.0 and 3.4.0, as a JSON Schema for
// model/json-schema.ts. Transcribed by hand from the spec documents (coreos/ignition
// docs/configuration-v3_3.md and -v3_4.md); every object refuses keys it does not list, as
// Ignition's parser does (it fails on an unknown key rather than skipping it).
//
// What 3.4.0 adds over 3.3.0, and nothing else here differs:
//   storage.luks[].discard, storage.luks[].openOptions, storage.luks[].clevis.tang[].advertisement
// (3.4 also accepts `arn:` URLs and setuid/setgid/sticky bits on directories; those are values,
// not keys, and Socle writes neither.) kernelArguments exists since 3.3.0.
// Rules across entries that a schema cannot say (unique paths, unique unit names) are checked by
// checkIgnition in ignition.ts.
//
// Checked once (2026-12-07) against the JSON schemas published in coreos/ignition
// (config/v3_3 and v3_4 schema/ignition.json, not copied here): the same property paths, 203 and
// 207, with the same types. The only differences are `required` here that the published schema
// leaves to Ignition's Go validation, which refuses their absence too: ignition.version (3.3.0),
// the source of a merged config and of a CA ("source is required"), a tang server's url.

export type IgnitionVersion = "3.3.0" | "3.4.0";
export const IGNITION_VERSIONS: readonly IgnitionVersion[] = ["3.3.0", "3.4.0"];

type Schema = Record<string, unknown>;

/** An object of exactly these optional keys (plus `required`). */
const obj = (properties: Record<string, Schema>, required: string[] = []): Schema => ({
  type: "object",
  properties,
  ...(required.length ? { required } : {}),
  additionalProperties: false,
});
const list = (items: Schema): Schema => ({ type: "array", items });
const str: Schema = { type: "string" };
const strOrNull: Schema = { type: ["string", "null"] };
const int: Schema = { type: ["integer", "null"] };
const bool: Schema = { type: ["boolean", "null"] };
const strings = list(str);

/** A remote or inline resource (config, file contents, CA bundle, key file). */
function resource(sourceRequired: boolean): Schema {
  return obj(
    {
      source: sourceRequired ? str : strOrNull,
      compression: strOrNull,
      httpHeaders: list(obj({ name: str, value: strOrNull }, ["name"])),
      verification: obj({ hash: strOrNull }),
    },
    sourceRequired ? ["source"] : [],
  );
}

const owner = obj({ id: int, name: strOrNull });

export function ignitionSchema(version: IgnitionVersion): Schema {
  const v34 = version === "3.4.0";
  const tang: Record<string, Schema> = { url: str, thumbprint: strOrNull };
  if (v34) tang.advertisement = strOrNull;
  const luks: Record<string, Schema> = {
    name: str,
    device: strOrNull,
    keyFile: resource(false),
    label: strOrNull,
    uuid: strOrNull,
    options: strings,
    wipeVolume: bool,
    clevis: obj({
      tang: list(obj(tang, ["url"])),
      tpm2: bool,
      threshold: int,
      custom: obj({ pin: str, config: str, needsNetwork: bool }),
    }),
  };
  if (v34) {
    luks.discard = bool;
    luks.openOptions = strings;
  }
  return obj(
    {
      ignition: obj(
        {
          version: { type: "string", const: version },
          config: obj({ merge: list(resource(true)), replace: resource(false) }),
          timeouts: obj({ httpResponseHeaders: int, httpTotal: int }),
          security: obj({ tls: obj({ certificateAuthorities: list(resource(true)) }) }),
          proxy: obj({ httpProxy: strOrNull, httpsProxy: strOrNull, noProxy: strings }),
        },
        ["version"],
      ),
      storage: obj({
        disks: list(
          obj(
            {
              device: str,
              wipeTable: bool,
              partitions: list(
                obj({
                  label: strOrNull,
                  number: { type: "integer" },
                  sizeMiB: int,
                  startMiB: int,
                  typeGuid: strOrNull,
                  guid: strOrNull,
                  wipePartitionEntry: bool,
                  shouldExist: bool,
                  resize: bool,
                }),
              ),
            },
            ["device"],
          ),
        ),
        raid: list(obj({ name: str, level: strOrNull, devices: strings, spares: int, options: strings }, ["name"])),
        filesystems: list(
          obj(
            {
              device: str,
              format: strOrNull,
              path: strOrNull,
              wipeFilesystem: bool,
              label: strOrNull,
              uuid: strOrNull,
              options: strings,
              mountOptions: strings,
            },
            ["device"],
          ),
        ),
        files: list(
          obj(
            {
              path: str,
              overwrite: bool,
              contents: resource(false),
              append: list(resource(false)),
              mode: int,
              user: owner,
              group: owner,
            },
            ["path"],
          ),
        ),
        directories: list(obj({ path: str, overwrite: bool, mode: int, user: owner, group: owner }, ["path"])),
        links: list(obj({ path: str, overwrite: bool, user: owner, group: owner, target: strOrNull, hard: bool }, ["path"])),
        luks: list(obj(luks, ["name"])),
      }),
      systemd: obj({
        units: list(
          obj(
            {
              name: str,
              enabled: bool,
              mask: bool,
              contents: strOrNull,
              dropins: list(obj({ name: str, contents: strOrNull }, ["name"])),
            },
            ["name"],
          ),
        ),
      }),
      passwd: obj({
        users: list(
          obj(
            {
              name: str,
              passwordHash: strOrNull,
              sshAuthorizedKeys: strings,
              uid: int,
              gecos: strOrNull,
              homeDir: strOrNull,
              noCreateHome: bool,
              primaryGroup: strOrNull,
              groups: strings,
              noUserGroup: bool,
              noLogInit: bool,
              shell: strOrNull,
              shouldExist: bool,
              system: bool,
            },
            ["name"],
          ),
        ),
        groups: list(obj({ name: str, gid: int, passwordHash: strOrNull, shouldExist: bool, system: bool }, ["name"])),
      }),
      kernelArguments: obj({ shouldExist: strings, shouldNotExist: strings }),
    },
    ["ignition"],
  );
}
