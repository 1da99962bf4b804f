// Files imported `with { type: "file" }` resolve to a path (inside the compiled binary's
// embedded file system when compiled).
declare module "swagger-ui-dist/swagger-ui-bundle.js" {
  const path: string;
  export default path;
}
declare module "swagger-ui-dist/swagger-ui.css" {
  const path: string;
  export default path;
}

// Shell scripts of the discovery image, imported as text (`with { type: "text" }`) so the
// compiled binary carries them.
declare module "*/discovery/init" {
  const text: string;
  export default text;
}
declare module "*/discovery/socle-register" {
  const text: string;
  export default text;
}
declare module "*/agent/socle-agent" {
  const text: string;
  export default text;
}
declare module "*/agent/socle-agent.service" {
  const text: string;
  export default text;
}
declare module "*/agent/socle-agent.init" {
  const text: string;
  export default text;
}
