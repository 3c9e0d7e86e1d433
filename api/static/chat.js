// The employee's web chat: messages and answers (Markdown through /static/markdown.js), feedback buttons, the live
// stream of agent replies (SSE), "my tickets", files; restores everything on reload from the server.
(function () {
  const $ = (id) => document.getElementById(id);
  const log = $("log"), form = $("form"), input = $("text"), errorBox = $("error"), stateBox = $("state");
  const md = window.FirstlineMarkdown.md;
  let T = {};  // the chat's labels in the user's language (GET /api/v1/chat/config)
  const tr = (key, vars) => (T[key] || key).replace(/\{(\w+)\}/g, (_, k) => (vars && k in vars ? vars[k] : `{${k}}`));

  // Signed in with the company account (/auth/oidc/callback): the identity arrives in the URL fragment, which the
  // browser never sends to a server; kept in this browser's storage like an anonymous chat's, then removed from
  // the address bar.
  const hash = new URLSearchParams(location.hash.slice(1));
  if (hash.get("fl_user") && hash.get("fl_token")) {
    localStorage.setItem("fl_user", hash.get("fl_user")); localStorage.setItem("fl_token", hash.get("fl_token"));
  }
  if (location.hash) history.replaceState(null, "", location.pathname + location.search);
  let user = localStorage.getItem("fl_user");
  if (!user) { user = "web-" + crypto.randomUUID(); localStorage.setItem("fl_user", user); }
  let token = localStorage.getItem("fl_token") || "";
  const me = {name: localStorage.getItem("fl_name") || "", email: localStorage.getItem("fl_email") || ""};
  let lang = navigator.language && navigator.language.toLowerCase().startsWith("ru") ? "ru" : "en";
  let lastId = 0, source = null, ticket = null, chatState = "bot";
  const seen = new Set();
  // Messages on screen before the server has answered their POST, by what they say: the stream may bring the stored
  // copy first, and then it takes the place of the one on screen instead of showing it twice.
  const pending = new Map();
  const pendingKey = (m) => (m.action ? `a:${m.action}` : `t:${m.text || ""}`);  // a press is stored as "[human]"

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") e.className = v; else if (k === "text") e.textContent = v;
      else if (k === "html") e.innerHTML = v;  // only md() output: escaped first, links http(s)/mailto/relative
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
    }
    for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c);
    return e;
  }

  function headers() {
    const h = {"Content-Type": "application/json"};
    if (token) h["X-Chat-Token"] = token;
    return h;
  }

  // -- messages -------------------------------------------------------------------------------------------
  function who(m) {
    if (m.author === "agent") return m.agent || tr("agent");
    if (m.author === "user") return tr("you");
    return tr("bot");
  }

  function body(m) {
    let text = m.text || "";
    if (m.article && m.article.url) {  // the link is shown once, as a button-like link under the answer
      text = text.split("\n").filter((line) => !line.includes(m.article.url)).join("\n").trimEnd();
    }
    if (m.author === "user" && m.action) {  // a button the user pressed, in their words
      const choice = /^choose_(\d+)$/.exec(m.action);
      text = choice ? `${choice[1]}.` : tr(m.action);
    } else if (m.author === "user" && m.files && m.files.length && /^\[attachment\]$/.test(text)) text = "";
    if (m.author === "user") return el("div", {class: "text", text});
    return el("div", {class: "text md", html: md(text)});
  }

  function render(m, opts) {
    const key = String(m.id);
    if (seen.has(key)) return null;
    seen.add(key);
    if (m.author === "user" && typeof m.id === "number" && pending.has(pendingKey(m))) {
      const local = pending.get(pendingKey(m));
      pending.delete(pendingKey(m));
      local.setAttribute("data-id", key);
      lastId = Math.max(lastId, m.id);
      return null;
    }
    if (typeof m.id === "number") lastId = Math.max(lastId, m.id);
    const div = el("div", {class: `msg ${m.author}`, "data-id": key},
      el("div", {class: "who", text: who(m)}), body(m));
    for (const name of m.files || []) div.append(el("div", {class: "file", text: name}));
    if (m.article && m.article.url) {
      div.append(el("a", {class: "article-link", href: m.article.url, target: "_blank", rel: "noopener",
                          text: `${tr("full_article")}: ${m.article.title}`}));
    }
    if (m.actions && m.actions.length) {
      const bar = el("div", {class: "actions"});
      for (const act of m.actions) {
        const choice = (m.choices || []).find((c) => c.action === act);  // "did you mean": the article's title
        bar.append(el("button", {type: "button", "data-action": act, text: choice ? choice.title : tr(act),
          onclick: () => { disableActions(); send({action: act}); }}));
      }
      div.append(bar);
    }
    if (opts && opts.note) div.append(el("div", {class: "note", text: opts.note}));
    log.append(div);
    log.scrollTop = log.scrollHeight;
    return div;
  }

  // Only the newest bot message's buttons can be pressed: feedback given (or a newer question) closes older ones.
  function disableActions() { log.querySelectorAll(".actions button").forEach((b) => { b.disabled = true; }); }
  function settleActions() {
    const msgs = [...log.querySelectorAll(".msg")];
    const lastBar = msgs.length ? msgs[msgs.length - 1].querySelector(".actions") : null;
    log.querySelectorAll(".actions").forEach((bar) => {
      if (bar !== lastBar) bar.querySelectorAll("button").forEach((b) => { b.disabled = true; });
    });
  }

  function showState(state, number) {
    chatState = state || "bot"; ticket = number || null;
    stateBox.textContent = ticket && chatState !== "bot" ? tr("waiting", {number: ticket}) : "";
  }

  // -- sending --------------------------------------------------------------------------------------------
  function newIdentity() {  // the old chat's token expired or was revoked: continue as a new chat
    user = "web-" + crypto.randomUUID(); localStorage.setItem("fl_user", user);
    token = ""; localStorage.removeItem("fl_token");
    if (source) { source.close(); source = null; }
  }

  function accept(data, local) {
    if (data.user_token && data.user_token !== token) { token = data.user_token; localStorage.setItem("fl_token", token); }
    if (local && data.user_message_id) {  // the message on screen is the stored one: the stream must not repeat it
      seen.add(String(data.user_message_id)); local.setAttribute("data-id", String(data.user_message_id));
      lastId = Math.max(lastId, data.user_message_id);
      if (data.state !== "bot" && data.ticket && !data.replies.length) {
        local.append(el("div", {class: "note", text: `✓ ${tr("sent_to_ticket", {number: data.ticket})}`}));
      }
    }
    lang = data.lang || lang;
    showState(data.state, data.ticket);
    for (const rep of data.replies) render({id: rep.id, author: "bot", text: rep.text, article: rep.article,
                                            actions: rep.actions, choices: rep.choices});
    settleActions();
    listen();
  }

  async function send(payload, retried) {
    errorBox.textContent = "";
    log.querySelectorAll(".topics").forEach((bar) => bar.remove());  // the greeting's quick topics: asked is asked
    const body = Object.assign({user, client_msg_id: crypto.randomUUID(), locale: navigator.language}, payload);
    if (!user.startsWith("person:")) {  // the anonymous chat's answer to "who are you" (unverified)
      if (me.name) body.name = me.name;
      if (me.email) body.email = me.email;
    }
    const local = retried ? null : render({id: "local-" + body.client_msg_id, author: "user", text: payload.text || "",
                                           action: payload.action});
    const key = pendingKey({text: payload.text || "", action: payload.action});
    if (local) pending.set(key, local);
    try {
      const r = await fetch("/api/v1/chat", {method: "POST", headers: headers(), body: JSON.stringify(body)});
      const data = await r.json();
      if (r.status === 401 && !retried && payload.text && !user.startsWith("person:")) { newIdentity(); return send(payload, true); }
      if (!r.ok) { errorBox.textContent = data.message || "Error " + r.status; return; }
      accept(data, local);
    } catch (e) { errorBox.textContent = tr("network_error"); }
    finally { if (pending.get(key) === local) pending.delete(key); }
  }

  async function sendFile(file) {
    errorBox.textContent = "";
    const local = render({id: "local-file-" + crypto.randomUUID(), author: "user", text: tr("uploading", {name: file.name})});
    const q = new URLSearchParams({user, name: file.name, locale: navigator.language, client_msg_id: crypto.randomUUID()});
    try {
      const h = {"Content-Type": "application/octet-stream"};
      if (token) h["X-Chat-Token"] = token;
      const r = await fetch(`/api/v1/chat/files?${q}`, {method: "POST", headers: h, body: file});
      const data = await r.json();
      if (!r.ok) { local.remove(); errorBox.textContent = data.message || "Error " + r.status; return; }
      local.querySelector(".text").textContent = "";
      local.append(el("div", {class: "file", text: file.name}));
      accept(data, local);
    } catch (e) { local.remove(); errorBox.textContent = tr("network_error"); }
  }

  function listen() {
    if (source || !token) return;
    // The token travels in the HttpOnly cookie set by POST /api/v1/chat, not in the URL.
    source = new EventSource(`/api/v1/chat/stream?user=${encodeURIComponent(user)}&after=${lastId}`);
    source.addEventListener("message", (ev) => {
      const m = JSON.parse(ev.data);
      if (!render(m)) return;
      settleActions();
      if (m.kind === "resolved" || m.kind === "handed_back") showState("bot", null);
    });
  }

  // -- restoring a reloaded page ------------------------------------------------------------------------
  async function restore() {
    if (!token) return false;
    const q = `user=${encodeURIComponent(user)}`;
    const r = await fetch(`/api/v1/chat/messages?${q}&after=0`, {headers: headers()});
    if (!r.ok) return false;
    const messages = await r.json();
    for (const m of messages) render(m);
    settleActions();
    const s = await fetch(`/api/v1/chat/state?${q}`, {headers: headers()});
    if (s.ok) { const st = await s.json(); showState(st.state, st.ticket); }
    listen();
    return messages.length > 0;
  }

  // -- my tickets -------------------------------------------------------------------------------------------
  async function openTickets() {
    const panel = $("tickets-panel"), list = $("tickets-list"), thread = $("ticket-thread");
    panel.hidden = false; thread.hidden = true; $("tickets-toggle").setAttribute("aria-expanded", "true");
    const r = await fetch(`/api/v1/chat/tickets?user=${encodeURIComponent(user)}`, {headers: headers()});
    const rows = r.ok ? await r.json() : [];
    list.replaceChildren(...(rows.length ? rows.map((t) => el("li", {},
      el("button", {type: "button", class: "ticket-row", onclick: () => openThread(t.number)},
        el("strong", {text: `#${t.number}`}), " ", el("span", {text: t.subject}),
        el("span", {class: "badge", text: tr("st_" + t.status)}),
        el("time", {class: "muted", datetime: t.updated_at || t.created_at,
                    text: `${tr("updated")} ${new Date(t.updated_at || t.created_at).toLocaleString(lang)}`}))))
      : [el("li", {class: "muted", text: tr("no_tickets")})]));
  }

  async function openThread(number) {
    const thread = $("ticket-thread");
    const r = await fetch(`/api/v1/chat/tickets/${number}?user=${encodeURIComponent(user)}`, {headers: headers()});
    if (!r.ok) return;
    thread.replaceChildren(...(await r.json()).map((m) => el("li", {class: `msg ${m.author}`},
      el("div", {class: "who", text: who(m)}), body(m),
      (m.files || []).map((name) => el("div", {class: "file", text: name})))));
    thread.hidden = false;
  }

  // -- who the user is, and the page in their language -------------------------------------------------
  function applyTexts(config) {
    T = config.texts || {};
    document.documentElement.lang = config.lang || lang;
    document.querySelectorAll("[data-t]").forEach((n) => { if (T[n.dataset.t]) n.textContent = T[n.dataset.t]; });
    document.querySelectorAll("[data-t-placeholder]").forEach((n) => { n.placeholder = T[n.dataset.tPlaceholder] || n.placeholder; });
    document.querySelectorAll("[data-t-label]").forEach((n) => { n.setAttribute("aria-label", T[n.dataset.tLabel] || ""); });
    $("chat-title").textContent = config.brand_name || T.title;
    document.title = config.brand_name || T.title;
    if (config.brand_color) document.documentElement.style.setProperty("--accent", config.brand_color);
    if (config.logo_url) { $("logo").src = config.logo_url; $("logo").hidden = false; }
  }

  function greet(config) {
    const topics = config.topics || [];
    const div = el("div", {class: "msg bot greeting", "data-id": "greeting"},
      el("div", {class: "who", text: tr("bot")}), el("div", {class: "text", text: tr("greeting")}));
    if (topics.length) {
      div.append(el("div", {class: "actions topics"}, topics.map((t) => el("button", {type: "button", text: t.title,
        onclick: () => send({text: t.question})}))));
    }
    log.append(div);
  }

  async function identify(config) {
    if (hash.get("embed_email") && hash.get("embed_sig")) {
      const r = await fetch("/api/v1/chat/session", {method: "POST", headers: {"Content-Type": "application/json"},
        body: JSON.stringify({email: hash.get("embed_email"), name: hash.get("embed_name") || null,
                              ts: Number(hash.get("embed_ts")), sig: hash.get("embed_sig")})});
      const data = await r.json();
      if (r.ok) {
        user = data.user; token = data.user_token;
        localStorage.setItem("fl_user", user); localStorage.setItem("fl_token", token);
      } else errorBox.textContent = data.message || "Error " + r.status;
    }
    if (config.identity !== "anonymous" && !user.startsWith("person:")) {
      $("signin").hidden = false;
      form.querySelectorAll("textarea, button").forEach((x) => { x.disabled = true; });
      const link = $("signin-link");
      if (config.sso_url) link.href = config.sso_url;
      else { link.hidden = true; $("signin-text").textContent = tr("open_from_intranet"); }
      return false;
    }
    if (config.identity === "anonymous" && !me.name && !localStorage.getItem("fl_intro_done")) {
      const intro = $("intro");
      intro.hidden = false;
      const done = () => { localStorage.setItem("fl_intro_done", "1"); intro.hidden = true; input.focus(); };
      intro.addEventListener("submit", (ev) => {
        ev.preventDefault();
        me.name = $("intro-name").value.trim(); me.email = $("intro-email").value.trim();
        localStorage.setItem("fl_name", me.name); localStorage.setItem("fl_email", me.email);
        done();
      });
      $("intro-skip").addEventListener("click", done);
    }
    return true;
  }

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = input.value.trim(); if (!text) return;
    input.value = ""; send({text});
  });
  input.addEventListener("keydown", (ev) => { if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); form.requestSubmit(); } });
  $("attach").addEventListener("click", () => $("file").click());
  $("file").addEventListener("change", () => { const f = $("file").files[0]; $("file").value = ""; if (f) sendFile(f); });
  $("tickets-toggle").addEventListener("click", () => openTickets().catch(() => {}));
  $("tickets-close").addEventListener("click", () => { $("tickets-panel").hidden = true; $("tickets-toggle").setAttribute("aria-expanded", "false"); });

  (async function start() {
    let config = {identity: "anonymous", texts: {}};
    try { config = await (await fetch(`/api/v1/chat/config?lang=${encodeURIComponent(navigator.language || "en")}`)).json(); }
    catch (e) { /* the page still works with its built-in English labels */ }
    applyTexts(config);
    if (!(await identify(config))) return;
    const had = await restore().catch(() => false);
    if (!had) greet(config);
  })();
})();
