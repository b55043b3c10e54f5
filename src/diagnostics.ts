import diagnostics_channel from 'node:diagnostics_channel';

/**
 * Tracing through `node:diagnostics_channel`: free when nobody subscribes, no
 * logging dependency. Subscribe with
 * `diagnostics_channel.subscribe('ircsock:connection:open', (msg) => …)`.
 *
 * | channel | message |
 * | --- | --- |
 * | `ircsock:connection:open` | `{ connection }` — accepted or connected |
 * | `ircsock:connection:close` | `{ connection, reason, error }` — once per connection |
 * | `ircsock:connection:refused` | `{ refusal }` — a listener turned a peer away |
 * | `ircsock:input:error` | `{ connection, error }` — a malformed or over-long line |
 */
export const channels = Object.freeze({
  open: diagnostics_channel.channel('ircsock:connection:open'),
  close: diagnostics_channel.channel('ircsock:connection:close'),
  refused: diagnostics_channel.channel('ircsock:connection:refused'),
  inputError: diagnostics_channel.channel('ircsock:input:error'),
});
