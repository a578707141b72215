// Board IO for platforms with GPIO (the manifest maps "linkguard/led" here for esp32 and its
// boards): the status LED through the SDK's pins/digital.
import Digital from "pins/digital";

/** Drive `pin` high (1) or low (0). */
export default function ledWrite(pin: number, value: number): void {
  Digital.write(pin, value);
}
