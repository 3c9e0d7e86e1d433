// Web chat: POST messages, render replies with feedback buttons, stream agent replies (SSE).
(function () {
  const log = document.getElementById("log"), form = document.getElementById("form");
  const input = document.getElementById("text"), errorBox = document.getElementById("error");
  const LABELS = {
    en: {helped: "Helped", not_helped: "Didn't help", human: "Talk to a human"},
    ru: {helped: "Помогло", not_helped: "Не помогло", human: "Позвать человека"},
  };
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
  let lang = navigator.language && navigator.language.startsWith("ru") ? "ru" : "en";
  let lastId = 0, source = null;
  const seen = new Set();

  function render(m) {
    if (seen.has(m.id)) return;
    seen.add(m.id);
    if (typeof m.id === "number") lastId = Math.max(lastId, m.id);
    const div = document.createElement("div");
    div.className = "msg " + m.author;
    const who = m.author === "agent" ? (m.agent || "Agent") : m.author === "user" ? "You" : "IT bot";
    const head = document.createElement("div"); head.className = "who"; head.textContent = who;
    const body = document.createElement("div"); body.className = "text"; body.textContent = m.text;
    div.append(head, body);
    if (m.article && m.article.url) {
      const a = document.createElement("a"); a.href = m.article.url; a.target = "_blank";
      a.textContent = m.article.title; a.className = "article-link"; div.append(a);
    }
    if (m.actions && m.actions.length) {
      const bar = document.createElement("div"); bar.className = "actions";
      for (const act of m.actions) {
        const b = document.createElement("button"); b.type = "button";
        const choice = (m.choices || []).find(c => c.action === act);  // "did you mean": the article's title
        b.textContent = choice ? choice.title : (LABELS[lang] || LABELS.en)[act] || act;
        b.onclick = () => { bar.querySelectorAll("button").forEach(x => x.disabled = true); send({action: act}); };
        bar.append(b);
      }
      div.append(bar);
    }
    log.append(div); log.scrollTop = log.scrollHeight;
  }

  function newIdentity() {  // the old chat's token expired or was revoked: continue as a new chat
    user = "web-" + crypto.randomUUID(); localStorage.setItem("fl_user", user);
    token = ""; localStorage.removeItem("fl_token");
    if (source) { source.close(); source = null; }
  }

  async function send(payload, retried) {
    errorBox.textContent = "";
    const body = Object.assign({user, client_msg_id: crypto.randomUUID(), locale: navigator.language}, payload);
    if (!user.startsWith("person:")) {  // the anonymous chat's answer to "who are you" (unverified)
      if (me.name) body.name = me.name;
      if (me.email) body.email = me.email;
    }
    if (payload.text && !retried) render({id: "local-" + body.client_msg_id, author: "user", text: payload.text});
    const headers = {"Content-Type": "application/json"};
    if (token) headers["X-Chat-Token"] = token;
    try {
      const r = await fetch("/api/v1/chat", {method: "POST", headers, body: JSON.stringify(body)});
      const data = await r.json();
      if (r.status === 401 && !retried && payload.text) { newIdentity(); return send(payload, true); }
      if (!r.ok) { errorBox.textContent = data.message || "Error " + r.status; return; }
      lang = data.lang || lang;
      showState(data);
      if (data.user_token && data.user_token !== token) { token = data.user_token; localStorage.setItem("fl_token", token); }
      for (const rep of data.replies) render({id: rep.id, author: "bot", text: rep.text, article: rep.article,
                                              actions: rep.actions, choices: rep.choices});
      listen();
    } catch (e) { errorBox.textContent = "Network error: your message was not sent. Please try again."; }
  }

  const stateBox = document.getElementById("state");
  function showState(data) {
    const waiting = {en: "Ticket #N: a person will reply here. Everything you write goes to the ticket.",
                     ru: "Заявка №N: сотрудник ответит здесь. Всё, что вы напишете, попадёт в заявку."};
    stateBox.textContent = data.ticket && data.state !== "bot"
      ? (waiting[lang] || waiting.en).replace("N", data.ticket) : "";
  }

  function listen() {
    if (source || !token) return;
    // The token travels in the HttpOnly cookie set by POST /api/v1/chat, not in the URL.
    source = new EventSource(`/api/v1/chat/stream?user=${encodeURIComponent(user)}&after=${lastId}`);
    source.addEventListener("message", ev => {
      const m = JSON.parse(ev.data);
      if (m.author === "user") { seen.add(m.id); return; }  // already shown locally
      render(m);
      if (m.kind === "resolved" || m.kind === "handed_back") stateBox.textContent = "";
    });
  }

  form.addEventListener("submit", ev => {
    ev.preventDefault();
    const text = input.value.trim(); if (!text) return;
    input.value = ""; send({text});
  });
  input.addEventListener("keydown", ev => { if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); form.requestSubmit(); } });
  // Who the user is, as this desk wants it (GET /api/v1/chat/config): a company sign-in, a signed intranet embed,
  // or anonymous with an optional "who are you".
  async function identify() {
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
    const config = await (await fetch("/api/v1/chat/config")).json();
    if (config.identity !== "anonymous" && !user.startsWith("person:")) {
      document.getElementById("signin").hidden = false;
      form.querySelectorAll("textarea, button").forEach(x => x.disabled = true);
      const link = document.getElementById("signin-link");
      if (config.sso_url) link.href = config.sso_url;
      else { link.hidden = true; document.getElementById("signin-text").textContent =
        "Open the chat from your company's intranet page: it tells us who you are."; }
      return;
    }
    if (config.identity === "anonymous" && !me.name && !localStorage.getItem("fl_intro_done")) {
      const intro = document.getElementById("intro");
      intro.hidden = false;
      const done = () => { localStorage.setItem("fl_intro_done", "1"); intro.hidden = true; input.focus(); };
      intro.addEventListener("submit", ev => {
        ev.preventDefault();
        me.name = document.getElementById("intro-name").value.trim();
        me.email = document.getElementById("intro-email").value.trim();
        localStorage.setItem("fl_name", me.name); localStorage.setItem("fl_email", me.email);
        done();
      });
      document.getElementById("intro-skip").addEventListener("click", done);
    }
  }
  identify().catch(() => {});
  if (token) listen();
})();
