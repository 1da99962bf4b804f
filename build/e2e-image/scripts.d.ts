// The e2e disk image's shell scripts, imported as text (`with { type: "text" }`) by e2e-image.ts.
declare module "*/e2e-image/init" {
  const text: string;
  export default text;
}
declare module "*/e2e-image/socle-image-config" {
  const text: string;
  export default text;
}
