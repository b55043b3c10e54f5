/**
 * A real IRC client library against `ircsock relay`: two irc-framework clients
 * register, join #test and talk both ways, over plain TCP and over TLS. One
 * negotiates message-tags and server-time, the other none, so both kinds of
 * delivery group are exercised.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, test } from 'node:test';
import { startRelay, type Relay, type RelayOptions } from '../../src/cli/relay/server.js';
import { once } from '../helpers/net.js';
import { localhostCert } from '../helpers/tls-cert.js';

// irc-framework is CommonJS without type declarations: the little of it used here, typed.
interface IrcEvent {
  nick: string;
  target: string;
  channel: string;
  message: string;
  tags: Record<string, string>;
}
type Middleware = (command: string, message: { params: string[] }, rawLine: string, client: IrcClient, next: () => void) => void;
interface IrcClient extends NodeJS.EventEmitter {
  connect(): void;
  join(channel: string): void;
  say(target: string, text: string, tags?: Record<string, string>): void;
  quit(message?: string): void;
  use(fn: (client: IrcClient, raw: { use(m: Middleware): void }) => void): IrcClient;
  network: { cap: { enabled: string[] } };
}
const require = createRequire(import.meta.url);
const IRC = require('irc-framework') as { Client: new (opts: Record<string, unknown>) => IrcClient };

const TEXT_A = 'héllo ☃ 日本 from tagger';
const TEXT_B = 'héllo ☃ 日本 from plain';
const ISO_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

function makeClient(relay: Relay, nick: string, tls: boolean, caps: boolean): IrcClient {
  const client = new IRC.Client({
    host: '127.0.0.1',
    port: relay.ports[0],
    nick,
    username: nick,
    gecos: `${nick} test`,
    tls,
    // irc-framework cannot be given a CA, so the throwaway certificate is not verified here;
    // that the link is TLS is checked on the relay's side.
    rejectUnauthorized: false,
    auto_reconnect: false,
    ping_interval: 0,
    ping_timeout: 0,
  });
  if (!caps) {
    // irc-framework asks for every capability it knows: this one is shown none, as an old client would be.
    client.use((_c, raw) => {
      raw.use((command, message, _line, _client, next) => {
        if (command === 'CAP' && message.params[1] === 'LS') message.params[message.params.length - 1] = '';
        next();
      });
    });
  }
  client.connect();
  return client;
}

/** Resolves with the next event of that name (passing `filter`); fails the test after 5 s. */
async function next(client: IrcClient, event: string, filter?: (e: IrcEvent) => boolean): Promise<IrcEvent> {
  const [e] = await once(client, event, filter === undefined ? {} : { filter: (arg) => filter(arg as IrcEvent) });
  return e as IrcEvent;
}

async function chat(opts: RelayOptions, tls: boolean): Promise<void> {
  const relay = await startRelay(opts);
  const clients: IrcClient[] = [];
  try {
    const tagger = makeClient(relay, 'tagger', tls, true);
    const plain = makeClient(relay, 'plain', tls, false);
    clients.push(tagger, plain);
    await Promise.all([next(tagger, 'registered'), next(plain, 'registered')]);
    assert.deepEqual([...tagger.network.cap.enabled].sort(), ['message-tags', 'server-time']);
    assert.deepEqual(plain.network.cap.enabled, []);
    for (const conn of relay.backend.connections.values()) assert.equal(conn.tls !== undefined, tls);

    tagger.join('#test');
    await next(tagger, 'join', (e) => e.nick === 'tagger');
    plain.join('#test');
    await next(tagger, 'join', (e) => e.nick === 'plain');

    const toPlain = next(plain, 'privmsg');
    tagger.say('#test', TEXT_A, { '+draft/react': 'x' });
    const gotB = await toPlain;
    assert.equal(gotB.message, TEXT_A);
    assert.equal(gotB.nick, 'tagger');
    assert.equal(gotB.target, '#test');
    // No capability, no tags: neither the client tag nor server-time.
    assert.deepEqual(Object.keys(gotB.tags), []);

    const toTagger = next(tagger, 'privmsg');
    plain.say('#test', TEXT_B);
    const gotA = await toTagger;
    assert.equal(gotA.message, TEXT_B);
    assert.equal(gotA.nick, 'plain');
    assert.match(gotA.tags.time ?? '', ISO_MS);

    // A private message, the other way round.
    const dm = next(plain, 'privmsg');
    tagger.say('plain', `${TEXT_A} (private)`);
    assert.equal((await dm).message, `${TEXT_A} (private)`);

    const closed = [next(tagger, 'close'), next(plain, 'close')];
    const quitSeen = next(tagger, 'quit');
    plain.quit('bye');
    assert.equal((await quitSeen).nick, 'plain');
    tagger.quit('bye');
    await Promise.all(closed);
  } finally {
    await relay.close();
  }
}

describe('irc-framework clients through ircsock relay', () => {
  test('plain TCP: register, join #test, UTF-8 both ways, tags for the one that asked', async () => {
    await chat({ listen: [{ host: '127.0.0.1', port: 0 }] }, false);
  });

  test('TLS: the same over a TLS listener', async () => {
    const cert = localhostCert();
    await chat({ tlsListen: [{ host: '127.0.0.1', port: 0 }], tlsCert: cert.certPath, tlsKey: cert.keyPath }, true);
  });
});
