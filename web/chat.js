// The ircsock relay's web chat page: an IRC client in plain JavaScript, over
// the IRCv3 WebSocket extension (one message = one line). No framework, no
// build step. Everything a peer sends is put in the page with textContent
// only, never as HTML.
'use strict';

(() => {
  const TEXT = 'text.ircv3.net';
  const BINARY = 'binary.ircv3.net';
  /** The capabilities we use when the server offers them. */
  const WANTED_CAPS = ['server-time', 'message-tags', 'echo-message'];

  const $ = (id) => document.getElementById(id);
  const ui = {
    status: $('status'),
    connectForm: $('connect'),
    nick: $('nick'),
    channel: $('channel'),
    connectButton: $('connect-button'),
    disconnectButton: $('disconnect-button'),
    topic: $('topic'),
    messages: $('messages'),
    sayForm: $('say'),
    line: $('line'),
    sendButton: $('send-button'),
    members: $('members'),
    memberCount: $('member-count'),
  };

  const encoder = new TextEncoder();
  const decoder = new TextDecoder('utf-8');

  /** One session: a socket and what the server told us. */
  let session = null;

  // --- parsing and formatting (IRCv3 message-tags) --------------------------

  const TAG_UNESCAPE = { ':': ';', s: ' ', '\\': '\\', r: '\r', n: '\n' };

  function unescapeTag(value) {
    return value.replace(/\\(.?)/g, (_, c) => (c in TAG_UNESCAPE ? TAG_UNESCAPE[c] : c));
  }

  /** `{ tags, source, nick, command, params }` from one line, or null. */
  function parse(line) {
    let rest = line;
    const tags = {};
    if (rest.startsWith('@')) {
      const sp = rest.indexOf(' ');
      if (sp < 0) return null;
      for (const pair of rest.slice(1, sp).split(';')) {
        if (pair === '') continue;
        const eq = pair.indexOf('=');
        if (eq < 0) tags[pair] = '';
        else tags[pair.slice(0, eq)] = unescapeTag(pair.slice(eq + 1));
      }
      rest = rest.slice(sp + 1).replace(/^ +/, '');
    }
    let source = '';
    if (rest.startsWith(':')) {
      const sp = rest.indexOf(' ');
      if (sp < 0) return null;
      source = rest.slice(1, sp);
      rest = rest.slice(sp + 1).replace(/^ +/, '');
    }
    const params = [];
    while (rest !== '') {
      if (rest.startsWith(':')) {
        params.push(rest.slice(1));
        break;
      }
      const sp = rest.indexOf(' ');
      if (sp < 0) {
        params.push(rest);
        break;
      }
      params.push(rest.slice(0, sp));
      rest = rest.slice(sp + 1).replace(/^ +/, '');
    }
    const command = (params.shift() || '').toUpperCase();
    if (command === '') return null;
    const bang = source.indexOf('!');
    return { tags, source, nick: bang < 0 ? source : source.slice(0, bang), command, params };
  }

  /** A line from a command and parameters; the last one may hold spaces. */
  function format(command, ...params) {
    const clean = params.map((p) => String(p).replace(/[\r\n\0]+/g, ' '));
    const last = clean.pop();
    const head = [command, ...clean].join(' ');
    return last === undefined ? head : `${head} :${last}`;
  }

  // --- the page -------------------------------------------------------------

  function setState(state, text) {
    ui.status.dataset.state = state;
    ui.status.textContent = text;
    const live = state === 'connecting' || state === 'connected';
    ui.connectButton.disabled = live;
    ui.nick.disabled = live;
    ui.channel.disabled = live;
    ui.disconnectButton.disabled = !live;
    const joined = state === 'connected' && session !== null && session.joined;
    ui.line.disabled = !joined;
    ui.sendButton.disabled = !joined;
  }

  function clock(date) {
    return date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  }

  /** When the server says the message happened (`server-time`), else now. */
  function timeOf(msg) {
    const t = msg && msg.tags && msg.tags.time;
    if (t !== undefined) {
      const d = new Date(t);
      if (!Number.isNaN(d.getTime())) return { date: d, server: true };
    }
    return { date: new Date(), server: false };
  }

  /**
   * One row of the log. `kind`: 'privmsg', 'action', 'notice', 'event',
   * 'error'. Every piece is a text node.
   */
  function addRow(kind, when, nick, text) {
    const stick = ui.messages.scrollHeight - ui.messages.scrollTop - ui.messages.clientHeight < 40;
    const li = document.createElement('li');
    li.className = `msg ${kind}`;
    const time = document.createElement('time');
    time.className = 'time';
    time.dateTime = when.date.toISOString();
    time.textContent = clock(when.date);
    time.title = when.server ? `server-time ${when.date.toISOString()}` : 'local time';
    li.append(time);
    if (nick !== '') {
      const who = document.createElement('span');
      who.className = 'nick';
      who.textContent = kind === 'action' ? `* ${nick}` : nick;
      who.dataset.colour = String(colourOf(nick));
      if (session !== null && nick === session.nick) who.classList.add('self');
      li.append(who);
    }
    const body = document.createElement('span');
    body.className = 'text';
    body.textContent = text;
    li.append(body);
    ui.messages.append(li);
    // Keep the log bounded: a busy channel must not grow the page forever.
    while (ui.messages.childElementCount > 1000) ui.messages.firstElementChild.remove();
    if (stick) ui.messages.scrollTop = ui.messages.scrollHeight;
  }

  function event(text, msg) {
    addRow('event', timeOf(msg), '', text);
  }

  function colourOf(nick) {
    let h = 0;
    for (const ch of nick.toLowerCase()) h = (h * 31 + ch.codePointAt(0)) >>> 0;
    return h % 8;
  }

  function renderMembers() {
    const names = session === null ? [] : [...session.members.values()];
    names.sort((a, b) => a.nick.toLowerCase().localeCompare(b.nick.toLowerCase()));
    const items = names.map((m) => {
      const li = document.createElement('li');
      li.className = 'member';
      li.dataset.colour = String(colourOf(m.nick));
      if (session !== null && m.nick === session.nick) li.classList.add('self');
      li.textContent = m.prefix + m.nick;
      return li;
    });
    ui.members.replaceChildren(...items);
    ui.memberCount.textContent = String(names.length);
  }

  // --- the connection -------------------------------------------------------

  function connect(nick, channel) {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    // Text first: a browser speaks UTF-8 strings; binary works too (bytes through TextDecoder).
    const ws = new WebSocket(`${scheme}//${location.host}/`, [TEXT, BINARY]);
    ws.binaryType = 'arraybuffer';
    session = {
      ws,
      nick,
      wantedNick: nick,
      channel,
      registered: false,
      joined: false,
      caps: new Set(),
      offered: [],
      members: new Map(),
      names: null,
      closedByUs: false,
    };
    const s = session;
    ui.messages.replaceChildren();
    renderMembers();
    ui.topic.textContent = channel;
    setState('connecting', 'connecting…');

    ws.addEventListener('open', () => {
      if (session !== s) return;
      setState('connecting', `registering as ${nick}…`);
      send('CAP LS 302');
      send(format('NICK', nick));
      send(format('USER', 'web', '0', '*', 'ircsock web chat'));
    });
    ws.addEventListener('message', (ev) => {
      if (session !== s) return;
      const line = typeof ev.data === 'string' ? ev.data : decoder.decode(ev.data);
      const msg = parse(line);
      if (msg !== null) handle(s, msg);
    });
    ws.addEventListener('close', (ev) => {
      if (session !== s) return;
      const why = ev.code === 1000 || ev.code === 1005 ? '' : ` (code ${ev.code}${ev.reason ? `: ${ev.reason}` : ''})`;
      event(`Disconnected${why}`);
      session = null;
      renderMembers();
      ui.topic.textContent = 'Not in a channel';
      setState('disconnected', 'disconnected');
    });
  }

  function send(line) {
    if (session === null || session.ws.readyState !== WebSocket.OPEN) return;
    if (session.ws.protocol === BINARY) session.ws.send(encoder.encode(line));
    else session.ws.send(line);
  }

  function disconnect() {
    if (session === null) return;
    session.closedByUs = true;
    send(format('QUIT', 'Leaving'));
    // The server closes after QUIT; close from here too, in case it does not.
    setTimeout(() => {
      if (session !== null && session.ws.readyState === WebSocket.OPEN) session.ws.close(1000);
    }, 1000);
  }

  function sameNick(a, b) {
    return a.toLowerCase() === b.toLowerCase();
  }

  function isOurChannel(s, name) {
    return name !== undefined && sameNick(name, s.channel);
  }

  function handle(s, msg) {
    const p = msg.params;
    switch (msg.command) {
      case 'PING':
        send(format('PONG', p[0] ?? ''));
        return;
      case 'CAP':
        capReply(s, p);
        return;
      case '001':
        s.registered = true;
        if (p[0] !== undefined) s.nick = p[0];
        setState('connected', `connected as ${s.nick}`);
        event(p[1] ?? 'Welcome', msg);
        send(format('JOIN', s.channel));
        return;
      case '433': // nick in use: during registration, try another
        if (!s.registered) {
          s.wantedNick = `${s.wantedNick}_`.slice(0, 30);
          send(format('NICK', s.wantedNick));
          event(`Nick ${p[1] ?? ''} is taken, trying ${s.wantedNick}`, msg);
        } else {
          event(`Nick ${p[1] ?? ''} is taken`, msg);
        }
        return;
      case '332':
        if (isOurChannel(s, p[1])) ui.topic.textContent = `${s.channel} — ${p[2] ?? ''}`;
        return;
      case '353': {
        if (!isOurChannel(s, p[2])) return;
        s.names ??= new Map();
        for (const entry of (p[3] ?? '').split(' ')) {
          const m = /^([~&@%+]*)(.+)$/.exec(entry);
          if (m !== null) s.names.set(m[2].toLowerCase(), { prefix: m[1].slice(0, 1), nick: m[2] });
        }
        return;
      }
      case '366':
        if (!isOurChannel(s, p[1])) return;
        if (s.names !== null) s.members = s.names;
        s.names = null;
        renderMembers();
        return;
      case 'JOIN':
        if (!isOurChannel(s, p[0])) return;
        if (sameNick(msg.nick, s.nick)) {
          s.joined = true;
          s.members = new Map();
          setState('connected', `connected as ${s.nick} in ${s.channel}`);
          ui.line.focus();
          event(`You joined ${s.channel}`, msg);
        } else {
          event(`${msg.nick} joined`, msg);
        }
        s.members.set(msg.nick.toLowerCase(), { prefix: '', nick: msg.nick });
        renderMembers();
        return;
      case 'PART':
        if (!isOurChannel(s, p[0])) return;
        s.members.delete(msg.nick.toLowerCase());
        renderMembers();
        event(`${msg.nick} left${p[1] ? ` (${p[1]})` : ''}`, msg);
        return;
      case 'QUIT':
        if (!s.members.delete(msg.nick.toLowerCase())) return;
        renderMembers();
        event(`${msg.nick} quit${p[0] ? ` (${p[0]})` : ''}`, msg);
        return;
      case 'NICK': {
        const to = p[0] ?? '';
        const member = s.members.get(msg.nick.toLowerCase());
        if (sameNick(msg.nick, s.nick)) s.nick = to;
        if (member !== undefined) {
          s.members.delete(msg.nick.toLowerCase());
          s.members.set(to.toLowerCase(), { prefix: member.prefix, nick: to });
          renderMembers();
          event(`${msg.nick} is now known as ${to}`, msg);
        }
        if (s.joined && sameNick(to, s.nick)) setState('connected', `connected as ${s.nick} in ${s.channel}`);
        return;
      }
      case 'PRIVMSG':
      case 'NOTICE':
        message(s, msg);
        return;
      case 'ERROR':
        addRow('error', timeOf(msg), '', p[0] ?? 'ERROR');
        return;
      case '422': // no MOTD: not an error worth red
        return;
      default:
        // Numerics 400–599 are errors worth showing; the rest of the welcome burst is not.
        if (/^[45]\d\d$/.test(msg.command)) addRow('error', timeOf(msg), '', p.slice(1).join(' '));
    }
  }

  function capReply(s, p) {
    const sub = (p[1] ?? '').toUpperCase();
    if (sub === 'LS') {
      // `CAP * LS * :...` continues on the next line; the last one has no `*`.
      const more = p[2] === '*';
      const list = more ? p[3] : p[2];
      for (const token of (list ?? '').split(' ')) if (token !== '') s.offered.push(token.split('=')[0]);
      if (more) return;
      const want = WANTED_CAPS.filter((c) => s.offered.includes(c));
      if (want.length === 0) send('CAP END');
      else send(format('CAP', 'REQ', want.join(' ')));
    } else if (sub === 'ACK') {
      for (const c of (p[2] ?? '').split(' ')) if (c !== '' && !c.startsWith('-')) s.caps.add(c);
      if (!s.registered) send('CAP END');
    } else if (sub === 'NAK') {
      if (!s.registered) send('CAP END');
    }
  }

  function message(s, msg) {
    const [target, text = ''] = msg.params;
    const toChannel = isOurChannel(s, target);
    // Server notices before registration come to `*` or our nick: show them as events.
    if (msg.command === 'NOTICE' && (!toChannel || !msg.source.includes('!'))) {
      event(`${msg.nick || 'server'}: ${text}`, msg);
      return;
    }
    const CTCP = '\x01';
    const action = text.startsWith(`${CTCP}ACTION `) ? text.slice(8, text.endsWith(CTCP) ? -1 : undefined) : null;
    if (!toChannel) {
      addRow('notice', timeOf(msg), msg.nick, `(private) ${action ?? text}`);
      return;
    }
    if (action !== null) addRow('action', timeOf(msg), msg.nick, action);
    else if (text.startsWith(CTCP)) return; // other CTCP
    else addRow(msg.command === 'NOTICE' ? 'notice' : 'privmsg', timeOf(msg), msg.nick, text);
  }

  /** What the user typed: a message, or /me, /nick, /quit. */
  function say(text) {
    const s = session;
    if (s === null || !s.joined) return;
    let line;
    let shown;
    const cmd = /^\/(\w+)\s*(.*)$/.exec(text);
    if (cmd !== null && !text.startsWith('//')) {
      const [, name, arg] = cmd;
      switch (name.toLowerCase()) {
        case 'me':
          line = format('PRIVMSG', s.channel, `\x01ACTION ${arg}\x01`);
          shown = ['action', arg];
          break;
        case 'nick':
          if (arg !== '') send(format('NICK', arg.split(' ')[0]));
          return;
        case 'quit':
          disconnect();
          return;
        default:
          event(`Unknown command /${name} (try /me, /nick, /quit)`);
          return;
      }
    } else {
      const body = text.startsWith('//') ? text.slice(1) : text;
      line = format('PRIVMSG', s.channel, body);
      shown = ['privmsg', body];
    }
    send(line);
    // With echo-message the server sends our line back (with its time); without, show it now.
    if (!s.caps.has('echo-message')) addRow(shown[0], { date: new Date(), server: false }, s.nick, shown[1]);
  }

  // --- wiring ---------------------------------------------------------------

  ui.connectForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (session !== null) return;
    let channel = ui.channel.value.trim();
    if (!/^[#&]/.test(channel)) channel = `#${channel}`;
    connect(ui.nick.value.trim(), channel);
  });
  ui.disconnectButton.addEventListener('click', () => {
    disconnect();
  });
  ui.sayForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = ui.line.value;
    if (text.trim() === '') return;
    ui.line.value = '';
    say(text);
  });

  // `/?nick=ann&channel=%23x` fills the form in.
  const query = new URLSearchParams(location.search);
  if (query.get('nick')) ui.nick.value = query.get('nick');
  if (query.get('channel')) ui.channel.value = query.get('channel');
  setState('disconnected', 'disconnected');
})();
