// The chat page the server serves at GET /: one self-contained HTML file
// (inline style and script; its CSP lets it talk to its own origin and
// nothing else). It keeps one WebSocket and, like any chat page, reconnects
// when it closes; it writes down every 'open' and 'close' and every message,
// in window.chat, for the lab's browser role to read. The badge names the
// server version; an upgraded server tells a carried connection its new one.
import { CHAT_PATH, END_FROM, END_TEXT } from './chat';

/** No fetch but our own origin (the WebSocket included): the page asks the network for nothing else. */
export const PAGE_CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:";

const STYLE = `
  body { font: 15px/1.4 system-ui, sans-serif; margin: 0; background: #f4f5f7; color: #1d232b; display: flex; flex-direction: column; height: 100vh; }
  header { display: flex; align-items: center; gap: 12px; padding: 10px 16px; background: #1d232b; color: #fff; }
  header h1 { font-size: 17px; margin: 0; font-weight: 600; }
  #badge { padding: 2px 10px; border-radius: 10px; font-size: 13px; font-weight: 700; background: #8a939e; color: #fff; }
  #badge.new { background: #1f9d55; }
  #status { margin-left: auto; font-size: 13px; color: #c9d1d9; }
  #banner { padding: 6px 16px; font-size: 14px; background: #e8eaed; color: #4a535d; }
  #banner.good { background: #dcf5e6; color: #155d35; }
  #banner.bad { background: #fde2de; color: #8e2317; }
  #messages { list-style: none; margin: 0; padding: 8px 16px; flex: 1; overflow-y: auto; }
  #messages li { padding: 2px 0; }
  #messages .from { font-weight: 600; margin-right: 6px; }
  #messages time { color: #1f9d55; font-size: 12px; margin-right: 6px; font-variant-numeric: tabular-nums; }
  #messages .note { color: #6a737d; font-style: italic; }
  #messages .note.bad { color: #c0392b; font-style: normal; font-weight: 600; }
  form { display: flex; gap: 8px; padding: 10px 16px; border-top: 1px solid #d0d7de; background: #fff; }
  form input { flex: 1; font: inherit; padding: 6px 8px; }
`;

/** The page's script: no framework, no fetch; window.chat is what the lab reads. */
const SCRIPT = `
'use strict';
const name = new URLSearchParams(location.search).get('name') || 'guest';
const $ = (id) => document.getElementById(id);
const chat = (window.chat = { name, opens: 0, closes: [], failedAttempts: 0, received: [], sent: 0, unsent: 0, lastSent: 0, lastEcho: 0, sawEnd: false, version: document.body.dataset.version, versions: [document.body.dataset.version], newFormat: 0 });
const KEEP = 200; // lines on screen: older ones scroll away
let ws;

function line(node) {
  const list = $('messages');
  list.appendChild(node);
  while (list.children.length > KEEP) list.firstChild.remove();
  list.scrollTop = list.scrollHeight;
}
function note(text, bad) {
  const li = document.createElement('li');
  li.className = bad ? 'note bad' : 'note';
  li.textContent = text;
  line(li);
}
/** The last thing that happened to the connection, kept in sight above the messages. */
function banner(text, kind) {
  $('banner').textContent = new Date().toTimeString().slice(0, 8) + '  ' + text;
  $('banner').className = kind;
}
function status() {
  const state = ws && ws.readyState === 1 ? 'connected' : 'disconnected';
  $('status').textContent = name + ': ' + state + ' · opened ' + chat.opens + 'x · closed ' + chat.closes.length + 'x · server ' + chat.versions.join(' → ') + ' · ' + chat.received.length + ' messages';
}
function setVersion(version) {
  if (version !== chat.version) chat.versions.push(version);
  chat.version = version;
  $('badge').textContent = 'server ' + version;
  $('badge').className = version === document.body.dataset.first ? '' : 'new';
}
function connect() {
  let opened = false;
  ws = new WebSocket('ws://' + location.host + '${CHAT_PATH}?name=' + encodeURIComponent(name));
  ws.onopen = () => {
    opened = true;
    chat.opens += 1;
    if (chat.opens > 1) {
      note('reconnected (connection #' + chat.opens + '): messages sent meanwhile are gone', true);
      banner('reconnected: this is connection #' + chat.opens + '; the first one closed (' + chat.closes.join(', ') + ')', 'bad');
    } else banner('connected to server ' + chat.version, '');
    status();
  };
  ws.onclose = (event) => {
    // A connection that never opened is a failed attempt to reconnect (refused while no server listens).
    if (opened) {
      chat.closes.push(event.code);
      note('connection closed (code ' + event.code + '): reconnecting', true);
      banner('connection closed (code ' + event.code + '): reconnecting', 'bad');
    } else chat.failedAttempts += 1;
    status();
    setTimeout(connect, 300);
  };
  ws.onmessage = (event) => {
    const m = JSON.parse(event.data);
    if (m.type === 'hello') setVersion(m.version);
    else if (m.type === 'version') {
      const from = chat.version;
      setVersion(m.version);
      note('the server is now ' + m.version + ': same connection, no reload');
      banner('server upgraded ' + from + ' → ' + m.version + ' on this same connection: no reload, no reconnect', 'good');
    }
    else if (m.type === 'msg') {
      chat.received.push([m.seq, m.from, m.n]);
      if (m.from === name) chat.lastEcho = m.n;
      if (m.from === '${END_FROM}' && m.text === '${END_TEXT}') chat.sawEnd = true;
      const li = document.createElement('li');
      if (m.at) {
        chat.newFormat += 1;
        const time = document.createElement('time');
        time.textContent = m.at;
        li.appendChild(time);
      }
      const from = document.createElement('span');
      from.className = 'from';
      from.textContent = m.from;
      li.append(from, m.text);
      line(li);
    }
    status();
  };
}
/** Says something through the page's own form, as a person would. */
chat.type = (text) => { $('text').value = text; $('say').requestSubmit(); };
$('say').addEventListener('submit', (event) => {
  event.preventDefault();
  const text = $('text').value;
  if (!text) return;
  chat.sent += 1;
  if (ws.readyState === 1) {
    ws.send(JSON.stringify({ type: 'say', n: chat.sent, text }));
    chat.lastSent = chat.sent;
  }
  else { chat.unsent += 1; note('not sent (disconnected): ' + text, true); }
  $('text').value = '';
});
connect();
`;

/** The page, as `version` serves it (its badge starts with that version). */
export function chatPage(version: string, first = 'v1'): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${PAGE_CSP}">
<link rel="icon" href="data:,">
<title>fdlab chat</title>
<style>${STYLE}</style>
</head>
<body data-version="${version}" data-first="${first}">
<header><h1>fdlab chat</h1><span id="badge" class="${version === first ? '' : 'new'}">server ${version}</span><span id="status">connecting</span></header>
<div id="banner">connecting</div>
<ul id="messages"></ul>
<form id="say"><input id="text" autocomplete="off" placeholder="Say something"><button>Send</button></form>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
