// "linkguard/led": the board IO module the manifest picks per platform (led-digital.ts on
// esp32 and its boards, led-none.ts elsewhere).
declare module "linkguard/led" {
  export default function ledWrite(pin: number, value: number): void;
}
