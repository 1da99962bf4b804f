// The object types the CLI knows, with what a human wants to see in `-o table` lists. The CLI is
// a client of the API, so it keeps its own small table instead of importing the server's model.

export interface Column {
  header: string;
  /** Dotted path into the object: "OS.Name". */
  path: string;
}

/** The verbs every type has unless it says otherwise (crud.ts). */
export const CRUD_VERBS = ["list", "show", "exists", "create", "update", "patch", "destroy"] as const;
export type CrudVerb = (typeof CRUD_VERBS)[number];

export interface CliType {
  /** API prefix and CLI word: "machines". */
  name: string;
  /** For messages: "machine". */
  singular: string;
  /** Key field. */
  key: string;
  columns: Column[];
  /** Which of the generic verbs it has, when not all of them (jobs are made by the scheduler). */
  verbs?: readonly CrudVerb[];
}

const col = (path: string, header = path): Column => ({ header, path });

export const CLI_TYPES: readonly CliType[] = [
  {
    name: "machines",
    singular: "machine",
    key: "Uuid",
    columns: [col("Uuid"), col("Name"), col("Address"), col("HardwareAddrs"), col("BootEnv"), col("Available")],
  },
  { name: "bootenvs", singular: "bootenv", key: "Name", columns: [col("Name"), col("OS.Name", "OS"), col("Available"), col("ReadOnly")] },
  { name: "templates", singular: "template", key: "ID", columns: [col("ID"), col("ReadOnly")] },
  { name: "params", singular: "param", key: "Name", columns: [col("Name"), col("Schema.type", "Type"), col("Secure"), col("Description")] },
  { name: "profiles", singular: "profile", key: "Name", columns: [col("Name"), col("Profiles"), col("Description")] },
  {
    name: "subnets",
    singular: "subnet",
    key: "Name",
    columns: [col("Name"), col("Subnet"), col("ActiveStart"), col("ActiveEnd"), col("Proxy"), col("Enabled")],
  },
  { name: "reservations", singular: "reservation", key: "Addr", columns: [col("Addr"), col("Token"), col("NextServer")] },
  { name: "leases", singular: "lease", key: "Addr", columns: [col("Addr"), col("Token"), col("State"), col("ExpireTime")] },
  { name: "users", singular: "user", key: "Name", columns: [col("Name"), col("Roles"), col("Description")] },
  { name: "roles", singular: "role", key: "Name", columns: [col("Name"), col("Claims"), col("Description")] },
  { name: "tasks", singular: "task", key: "Name", columns: [col("Name"), col("Prerequisites"), col("ReadOnly"), col("Description")] },
  { name: "stages", singular: "stage", key: "Name", columns: [col("Name"), col("BootEnv"), col("Tasks"), col("ReadOnly")] },
  { name: "workflows", singular: "workflow", key: "Name", columns: [col("Name"), col("Stages"), col("ReadOnly"), col("Description")] },
  {
    name: "jobs",
    singular: "job",
    key: "Uuid",
    columns: [col("Uuid"), col("Machine"), col("Task"), col("State"), col("ExitState"), col("StartTime")],
    // Jobs are history the scheduler writes: `jobs create` asks it for one (verbs/jobs.ts).
    verbs: ["list", "show", "exists", "destroy"],
  },
  { name: "webhooks", singular: "webhook", key: "Name", columns: [col("Name"), col("Url"), col("Events"), col("Enabled")] },
];

export function findType(name: string): CliType | undefined {
  return CLI_TYPES.find((t) => t.name === name);
}
