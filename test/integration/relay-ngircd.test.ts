/**
 * The relay linked to a real ngIRCd (Debian's, with zlib and TLS): plain and
 * TLS, with and without compression, a client on each side chatting in a
 * channel and in private; and a chain relay – ngIRCd – relay. ngIRCd's own
 * log says whether it compressed the link.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { afterEach, describe, test } from 'node:test';
import type { RelayOptions } from '../../src/cli/relay/server.js';
import { LoggedRelay } from '../helpers/logged-relay.js';
import { registerPeer, type Peer } from '../helpers/irc-peer.js';
import { findNgircd, Ngircd, NGIRCD_MISSING, ngircdFeatures } from '../helpers/ngircd.js';
import { localhostCert } from '../helpers/tls-cert.js';

const bin = findNgircd();
const features = bin === undefined ? { zlib: false, ssl: false } : ngircdFeatures(bin);
const skip = bin === undefined ? NGIRCD_MISSING : false;
const PASSWORD = 'ngpw';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function relay(opts: RelayOptions): Promise<LoggedRelay> {
  const r = await LoggedRelay.start({ listen: [{ host: '127.0.0.1', port: 0 }], linkPassword: PASSWORD, linkRetry: { min: 100, max: 500 }, ...opts });
  cleanups.push(() => r.relay.close());
  return r;
}

async function ngircd(opts: Parameters<typeof Ngircd.start>[1]): Promise<Ngircd> {
  const server = await Ngircd.start(bin as string, opts);
  cleanups.push(() => server.stop());
  return server;
}

async function user(port: number, nick: string): Promise<Peer> {
  const p = await registerPeer(port, nick);
  cleanups.push(() => {
    p.client.socket.destroy();
  });
  return p;
}

/** A client on ngIRCd and one on the relay meet in #chat and in private; UTF-8 both ways. */
async function chat(ng: Ngircd, r: LoggedRelay): Promise<void> {
  const ana = await user(ng.port, 'ana');
  const rui = await user(r.relay.ports[0]!, 'rui');
  ana.send('JOIN #chat');
  await ana.expect(/ 366 ana #chat /);
  // Ordered over the link: once rui has this, ana's JOIN is known on the relay.
  ana.send('PRIVMSG rui :olá, ligação 🔗');
  await rui.expect(/^:ana!~ana@127\.0\.0\.1 PRIVMSG rui :olá, ligação 🔗$/);
  rui.send('JOIN #chat');
  assert.match(await rui.expect(/ 353 rui = #chat /), /ana/);
  await ana.expect(/^:rui!~rui@127\.0\.0\.1 JOIN :?#chat$/);
  rui.send('PRIVMSG #chat :ça marche — ✓', 'PRIVMSG ana :só para ti');
  await ana.expect(/^:rui!~rui@127\.0\.0\.1 PRIVMSG #chat :ça marche — ✓$/);
  await ana.expect(/^:rui!~rui@127\.0\.0\.1 PRIVMSG ana :só para ti$/);
  ana.send('PRIVMSG #chat :recebido ü€');
  await rui.expect(/^:ana!~ana@127\.0\.0\.1 PRIVMSG #chat :recebido ü€$/);
  ana.send('QUIT :bye');
  await rui.expect(/^:ana!~ana@127\.0\.0\.1 QUIT :?"?bye/);
}

describe('relay linked to ngIRCd', { skip }, () => {
  for (const tls of [false, true]) {
    for (const compress of [true, false]) {
      const label = `${tls ? (compress ? 'TLS pinned by fingerprint' : 'TLS verified by CA') : 'plain'}, ${compress ? 'compressed' : 'uncompressed'}`;
      const why = tls && !features.ssl ? 'ngIRCd built without SSL' : compress && !features.zlib ? 'ngIRCd built without zlib' : false;
      test(label, { skip: why }, async () => {
        const cert = tls ? localhostCert() : undefined;
        const ng = await ngircd({
          name: 'ng.test',
          servers: [{ name: 'relay.test', password: PASSWORD, passive: true }],
          tls: cert === undefined ? undefined : { certPath: cert.certPath, keyPath: cert.keyPath },
        });
        const r = await relay({
          name: 'relay.test',
          links: [{ name: 'ng.test', host: '127.0.0.1', port: tls ? (ng.tlsPort as number) : ng.port }],
          // ngIRCd's certificate trusted two ways: by a CA (here, itself), and pinned by its SHA-256 fingerprint.
          linkTls: cert === undefined ? undefined : compress ? { fingerprint: `sha256:${new X509Certificate(cert.cert).fingerprint256}` } : { ca: cert.cert },
          linkCompress: compress,
        });
        const up = await r.logged(/link ng\.test up/);
        assert.match(up, compress ? /compressed/ : /plain/);
        if (tls) assert.match(up, /tls/);
        await ng.logged(/Server "relay\.test" registered/);
        await chat(ng, r);
        // ngIRCd's word for it: it logs the switch, and the closing byte counts per direction.
        const enabled = ng.lines.some((l) => /Enabled link compression \(zlib\)/.test(l));
        assert.equal(enabled, compress);
      });
    }
  }

  test('a link pinned to another fingerprint never comes up: the relay logs ERR_TLS_FINGERPRINT and tries again', { skip: features.ssl ? false : 'ngIRCd built without SSL' }, async () => {
    const cert = localhostCert();
    const ng = await ngircd({
      name: 'ng.test',
      servers: [{ name: 'relay.test', password: PASSWORD, passive: true }],
      tls: { certPath: cert.certPath, keyPath: cert.keyPath },
    });
    const r = await relay({
      name: 'relay.test',
      links: [{ name: 'ng.test', host: '127.0.0.1', port: ng.tlsPort as number }],
      linkTls: { fingerprint: `sha256:${'ab'.repeat(32)}` },
    });
    await r.logged(/link ng\.test to .*ERR_TLS_FINGERPRINT; again in/);
    assert.ok(!r.lines.some((l) => /link ng\.test up/.test(l)));
  });

  test('a chain relay – ngIRCd – relay routes a private message end to end', async () => {
    const ng = await ngircd({
      name: 'hub.test',
      servers: [
        { name: 'left.test', password: PASSWORD, passive: true },
        { name: 'right.test', password: PASSWORD, passive: true },
      ],
    });
    const left = await relay({ name: 'left.test', links: [{ name: 'hub.test', host: '127.0.0.1', port: ng.port }] });
    const right = await relay({ name: 'right.test', links: [{ name: 'hub.test', host: '127.0.0.1', port: ng.port }] });
    await left.logged(/link hub\.test up/);
    await right.logged(/link hub\.test up/);
    await ng.logged(/Server "left\.test" registered/);
    await ng.logged(/Server "right\.test" registered/);
    const lia = await user(left.relay.ports[0]!, 'lia');
    const rob = await user(right.relay.ports[0]!, 'rob');
    // rob's introduction travels right → hub → left; retry until lia's relay knows him.
    for (;;) {
      lia.send('ISON rob');
      if (/ 303 lia :?rob$/.test(await lia.expect(/ 303 lia /))) break;
    }
    lia.send('PRIVMSG rob :através do hub ✓');
    await rob.expect(/^:lia!~lia@127\.0\.0\.1 PRIVMSG rob :através do hub ✓$/);
    rob.send('WHOIS lia');
    await rob.expect(/ 312 rob lia left\.test /);
  });
});
