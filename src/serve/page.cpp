#include "serve/page.h"

namespace ss::serve {

// Plain HTML + JS: POST /v1/chat/completions with stream: true, read the
// server-sent events from fetch's body, and poll /v1/sessions/{id} to draw
// the cache. ?q=text sends one message on load (the headless browser test).
std::string_view page_html() {
  return R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>sinkstream</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 0; color: #222; background: #f6f6f4; }
header { padding: 10px 16px; background: #283845; color: #fff; }
header code { background: #3d5263; padding: 1px 5px; border-radius: 3px; }
main { display: flex; gap: 16px; padding: 16px; }
#chat { flex: 3; min-width: 0; }
#cache { flex: 2; min-width: 0; }
#log { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 10px;
       height: 380px; overflow-y: auto; }
.msg { margin: 6px 0; padding: 6px 10px; border-radius: 6px; white-space: pre-wrap; }
.user { background: #dbe9f6; margin-left: 20%; }
.assistant { background: #eee8d5; margin-right: 20%; }
.error { background: #f8d7da; }
form { display: flex; gap: 8px; margin-top: 8px; }
textarea { flex: 1; font: inherit; }
#opts { margin-top: 8px; color: #555; }
#opts input { width: 56px; }
#stats { margin-bottom: 8px; line-height: 1.6; }
#grid { display: flex; flex-wrap: wrap; gap: 2px; }
.cell { width: 14px; height: 14px; border-radius: 2px; background: #ddd; }
.cell.sink { background: #e8a33d; }
.cell.win { background: #5b8fc7; }
.cell.newest { outline: 2px solid #c0392b; }
.legend span { display: inline-block; width: 10px; height: 10px; margin: 0 4px 0 10px; }
</style>
</head>
<body>
<header><b>sinkstream</b> &middot; model <code id="model">?</code> &middot; session
  <code id="sid"></code> <button id="new">new chat</button></header>
<main>
<section id="chat">
  <div id="log"></div>
  <form id="form"><textarea id="msg" rows="2" placeholder="Type a message"></textarea>
    <button id="send">Send</button></form>
  <div id="opts">sinks <input id="sinks" type="number" value="4" min="0">
    window <input id="window" type="number" value="60" min="1">
    temperature <input id="temp" type="number" value="0.8" step="0.1" min="0" max="2">
    max tokens <input id="maxtok" type="number" value="64" min="1">
    seed <input id="seed" type="number" placeholder="any"></div>
  <p id="status">idle &middot; <span id="chunks">0</span> chunks</p>
</section>
<section id="cache">
  <h3>KV cache</h3>
  <div id="stats">no tokens yet</div>
  <div id="grid"></div>
  <p class="legend"><span style="background:#e8a33d"></span>sink slot
    <span style="background:#5b8fc7"></span>window slot
    <span style="background:#ddd"></span>empty
    <span style="outline:2px solid #c0392b"></span>newest</p>
</section>
</main>
<script>
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
let sid = '', model = '', chunks = 0, busy = false;

function newChat() {
  sid = params.get('session') || 'web-' + Math.random().toString(36).slice(2, 10);
  $('sid').textContent = sid;
  $('log').innerHTML = '';
  $('grid').innerHTML = '';
  $('stats').textContent = 'no tokens yet';
}

function bubble(cls, text) {
  const d = document.createElement('div');
  d.className = 'msg ' + cls;
  d.textContent = text;
  $('log').appendChild(d);
  $('log').scrollTop = $('log').scrollHeight;
  return d;
}

async function refreshCache() {
  const r = await fetch('/v1/sessions/' + encodeURIComponent(sid));
  if (!r.ok) return;
  const s = await r.json();
  $('stats').innerHTML = `policy <b>${s.policy}</b> (${s.sinks} sinks + ${s.window} window)<br>` +
    `tokens seen <b>${s.n_seen}</b> &middot; kept <b>${s.kept}</b> / ${s.capacity} &middot; ` +
    `evicted <b id="evicted">${s.evicted}</b><br>rounds ${s.rounds} &middot; cache ` +
    `${(s.cache_bytes / 1024).toFixed(1)} KiB (constant)`;
  const grid = $('grid');
  if (grid.children.length !== s.capacity) {
    grid.innerHTML = '';
    for (let i = 0; i < s.capacity; i++) grid.appendChild(document.createElement('div'));
  }
  s.slots.forEach((tok, i) => {
    const c = grid.children[i];
    c.className = 'cell' + (tok === null ? '' : i < s.sinks ? ' sink' : ' win') +
      (i === s.newest_slot ? ' newest' : '');
    c.title = tok === null ? 'empty' : `slot ${i}: ${JSON.stringify(tok)}`;
  });
}

async function send(text) {
  if (busy || !text.trim()) return;
  busy = true;
  bubble('user', text);
  const out = bubble('assistant', '');
  $('status').firstChild.textContent = 'generating \u00b7 ';
  const body = {
    model, session_id: sid, stream: true, messages: [{role: 'user', content: text}],
    sinks: +$('sinks').value, window: +$('window').value, temperature: +$('temp').value,
    max_tokens: +$('maxtok').value,
  };
  if ($('seed').value !== '') body.seed = +$('seed').value;
  const timer = setInterval(refreshCache, 300);
  try {
    const r = await fetch('/v1/chat/completions', {
      method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)});
    if (!r.ok) throw new Error((await r.json()).error.message);
    const reader = r.body.getReader(), dec = new TextDecoder();
    let buf = '';
    for (;;) {
      const {done, value} = await reader.read();
      if (done) break;
      buf += dec.decode(value, {stream: true});
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (!line.startsWith('data: ') || line === 'data: [DONE]') continue;
        const j = JSON.parse(line.slice(6));
        if (j.error) throw new Error(j.error.message);
        const delta = j.choices.length ? j.choices[0].delta.content : '';
        if (delta) {
          out.textContent += delta;
          $('chunks').textContent = ++chunks;
          $('log').scrollTop = $('log').scrollHeight;
        }
      }
    }
  } catch (e) {
    out.className = 'msg error';
    out.textContent = 'error: ' + e.message;
  }
  clearInterval(timer);
  await refreshCache();
  $('status').firstChild.textContent = 'idle \u00b7 ';
  busy = false;
  document.body.dataset.state = 'done';
}

$('form').onsubmit = (e) => {
  e.preventDefault();
  const text = $('msg').value;
  $('msg').value = '';
  send(text);
};
$('msg').onkeydown = (e) => {
  if (e.key === 'Enter' && !e.shiftKey) $('form').requestSubmit();
};
$('new').onclick = newChat;

(async () => {
  newChat();
  const m = await (await fetch('/v1/models')).json();
  model = m.data[0].id;
  $('model').textContent = model;
  if (params.get('q')) {
    if (params.get('seed')) $('seed').value = params.get('seed');
    $('msg').value = params.get('q');
    $('form').requestSubmit();
  }
})();
</script>
</body>
</html>
)html";
}

}  // namespace ss::serve
