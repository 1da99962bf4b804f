// The appliance image's text files, imported as text (`with { type: "text" }`) by appliance-image.ts.
declare module "*/appliance-image/init" {
  const text: string;
  export default text;
}
declare module "*/appliance-image/socle-appliance-settings" {
  const text: string;
  export default text;
}
declare module "*/appliance-image/udhcpc.script" {
  const text: string;
  export default text;
}
declare module "*/appliance-image/socle.conf" {
  const text: string;
  export default text;
}
