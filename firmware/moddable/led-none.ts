// Board IO where there is no GPIO (the manifest maps "linkguard/led" here for lin, the SDK's
// desktop simulator, whose pins/digital is "unsupported"): the link state is traced instead.

/** No LED to drive. */
export default function ledWrite(_pin: number, _value: number): void {
  // nothing: main.js traces every state change
}
