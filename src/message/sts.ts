/**
 * The IRCv3 `sts` capability's value (https://ircv3.net/specs/extensions/sts):
 * on a plain connection it names the TLS port to upgrade to; on a TLS
 * connection it sets how long (seconds) clients must come back over TLS only,
 * `0` withdrawing the policy, and `preload` consenting to preload lists.
 */
export type StsPolicy =
  | { port: number }
  | { duration: number; preload?: boolean };

/** `port=6697`, or `duration=2592000` / `duration=2592000,preload`; throws `RangeError` on a bad number. */
export function stsValue(policy: StsPolicy): string {
  if ('port' in policy) {
    const { port } = policy;
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`sts port must be 1 to 65535, got ${String(port)}`);
    return `port=${port}`;
  }
  const { duration } = policy;
  if (!Number.isSafeInteger(duration) || duration < 0) throw new RangeError(`sts duration must be whole seconds, 0 or more, got ${String(duration)}`);
  return policy.preload === true && duration > 0 ? `duration=${duration},preload` : `duration=${duration}`;
}

/**
 * The `sts` value for one connection: `port=` on a plain one (when there is a
 * TLS port to name), `duration=` on a TLS one; `undefined` when there is
 * nothing to advertise there.
 */
export function stsValueFor(secure: boolean, policy: { port: number | undefined; duration: number; preload?: boolean }): string | undefined {
  if (secure) return stsValue({ duration: policy.duration, ...(policy.preload === undefined ? {} : { preload: policy.preload }) });
  return policy.port === undefined ? undefined : stsValue({ port: policy.port });
}
