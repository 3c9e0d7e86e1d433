// Firstline agent console: small vanilla JS over the JSON agent API. No build step, no CDN.
"use strict";
(() => {
  const T = JSON.parse(document.getElementById("texts").textContent);
  const page = document.body.dataset.page;
  const me = Number(document.body.dataset.agentId || 0);
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const CSRF = csrfMeta ? csrfMeta.content : "";
  const $ = (sel) => document.querySelector(sel);
  const OPEN = ["new", "open", "pending_user", "escalated"];

  function el(tag, attrs = {}, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") e.className = v; else if (k === "text") e.textContent = v;
      else if (k === "html") e.innerHTML = v;  // only ever given escaped-then-formatted text (kb.js md())
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c);
    return e;
  }

  async function api(method, url, body) {
    const headers = { "Accept": "application/json" };
    if (method !== "GET") { headers["X-CSRF-Token"] = CSRF; headers["Content-Type"] = "application/json"; }
    const r = await fetch(url, { method, headers, credentials: "same-origin",
                                 body: body === undefined ? undefined : JSON.stringify(body) });
    if (r.status === 401) { location.href = "/console"; throw new Error("signed out"); }
    if (r.status === 204) return null;
    const data = await r.json().catch(() => ({}));
    if (!r.ok) {
      const msg = Array.isArray(data.detail) ? data.detail.map((d) => d.msg).join("; ") : (data.message || data.detail);
      throw new Error(msg || `${T.err} (${r.status})`);
    }
    return data;
  }
  window.FirstlineConsole = { el, api };  // for the KB pages' script (kb.js)

  function toast(text) {
    const t = $("#toast"); if (!t) return;
    t.textContent = text; t.hidden = false;
    clearTimeout(toast.timer); toast.timer = setTimeout(() => { t.hidden = true; }, 4000);
  }

  function when(iso) {
    const d = new Date(iso);
    const sameDay = d.toDateString() === new Date().toDateString();
    return sameDay ? d.toLocaleTimeString(document.documentElement.lang, { hour: "2-digit", minute: "2-digit" })
                   : d.toLocaleString(document.documentElement.lang, { dateStyle: "short", timeStyle: "short" });
  }

  function liveUpdates(onChange) {
    const live = $("#live");
    let es, timer;
    const connect = () => {
      es = new EventSource("/api/v1/console/events");
      es.onopen = () => { if (live) { live.textContent = T.live; live.classList.add("on"); } };
      es.addEventListener("change", (ev) => onChange(JSON.parse(ev.data)));
      es.onerror = () => {
        if (live) { live.textContent = T.offline; live.classList.remove("on"); }
        if (es.readyState === EventSource.CLOSED) { clearTimeout(timer); timer = setTimeout(connect, 3000); }
      };
    };
    connect();
    addEventListener("pagehide", () => es && es.close());
  }

  function beep() {
    try {
      const ctx = new (window.AudioContext || window.webkitAudioContext)();
      const o = ctx.createOscillator(), g = ctx.createGain();
      o.frequency.value = 880; g.gain.value = 0.08; o.connect(g); g.connect(ctx.destination);
      o.start(); o.stop(ctx.currentTime + 0.18);
    } catch (_) { /* no audio: the visual cue is enough */ }
  }

  const statusBadge = (s) => el("span", { class: `badge st-${s}`, text: T[`st_${s}`] || s });

  // ---- queue -------------------------------------------------------------------------------------------
  function initQueue() {
    const form = $("#filters"), list = $("#queue"), empty = $("#queue-empty");
    const sound = $("#f-sound");
    sound.checked = localStorage.getItem("fl-sound") === "1";
    sound.addEventListener("change", () => localStorage.setItem("fl-sound", sound.checked ? "1" : "0"));
    let seen = null;  // ticket numbers already shown: anything else arriving is a new handoff
    let loading = null;
    const freshUntil = new Map();
    let lastKey = "";  // a new handoff stays highlighted for a minute

    async function load() {
      const p = new URLSearchParams();
      const f = new FormData(form);
      if (f.get("status")) p.set("status", f.get("status"));
      if (f.get("line")) p.set("line", f.get("line"));
      if (f.get("who")) p.set(f.get("who"), "true");
      const q = (f.get("q") || "").trim(); if (q) p.set("q", q);
      const tickets = await api("GET", `/api/v1/tickets?${p}`);
      const fresh = seen === null ? [] : tickets.filter((t) => !seen.has(t.number));
      seen = seen || new Set();
      tickets.forEach((t) => seen.add(t.number));
      fresh.forEach((t) => freshUntil.set(t.number, Date.now() + 60000));
      const flags = tickets.map((t) => (freshUntil.get(t.number) || 0) > Date.now());
      const key = JSON.stringify([tickets, flags]);
      if (key !== lastKey) {  // unchanged: keep the DOM (and the keyboard focus) as it is
        lastKey = key;
        list.replaceChildren(...tickets.map((t, i) => row(t, flags[i])));
      }
      list.setAttribute("aria-busy", "false");
      empty.hidden = tickets.length > 0;
      const handoffs = fresh.filter((t) => t.status === "new");
      if (handoffs.length) {
        const msg = `${T.new_handoff}: ${handoffs.map((t) => `#${t.number} ${t.subject}`).join(", ")}`;
        $("#queue-announce").textContent = msg; toast(msg);
        document.title = `(${handoffs.length}) ${document.title.replace(/^\(\d+\) /, "")}`;
        if (sound.checked) beep();
      }
    }
    const reload = () => { loading = (loading || Promise.resolve()).then(load).catch((e) => toast(e.message)); };

    function row(t, fresh) {
      const mine = t.assignee_id === me;
      return el("li", { class: `q-item${fresh ? " fresh" : ""}${mine ? " mine" : ""}`, "data-number": t.number },
        el("a", { href: `/console/tickets/${t.number}`, class: "q-link" },
          el("span", { class: "q-top" },
            el("strong", { class: "q-num", text: `#${t.number}` }), statusBadge(t.status),
            el("span", { class: "badge line", text: t.line }),
            el("span", { class: "badge chan", text: t.channel }),
            fresh ? el("span", { class: "badge new-flag", text: T.new_handoff }) : null,
            el("time", { datetime: t.created_at, text: when(t.created_at) })),
          el("span", { class: "q-subject", text: t.subject }),
          el("span", { class: "q-sub muted" },
            `${t.requester} · ${T[t.handoff_reason] || t.handoff_reason}` +
            (t.assignee_id ? ` · ${T.assigned_to}: ${mine ? T.you : "#" + t.assignee_id}` : ` · ${T.unassigned}`))));
    }

    let debounce;
    form.addEventListener("input", (e) => {
      clearTimeout(debounce);
      debounce = setTimeout(() => { seen = null; reload(); }, e.target.type === "search" ? 300 : 0);
    });
    form.addEventListener("submit", (e) => e.preventDefault());
    reload();
    liveUpdates(() => { if (seen !== null) reload(); });
  }

  // ---- conversation ------------------------------------------------------------------------------------
  function initTicket() {
    const number = Number($(".ticket-page").dataset.number);
    const shown = new Set();
    let ticket = null, suggested = false;
    const err = $("#action-error");

    function msgItem(m) {
      const fb = /^\[(helped|not_helped|human)\]$/.exec(m.text || "");
      const who = m.author === "agent" && m.agent ? `${T.agent} · ${m.agent}` : (T[m.author] || m.author);
      const body = [];
      if (fb && m.author === "user") body.push(el("span", { class: "feedback", text: `${T.feedback}: ${T["fb_" + fb[1]]}` }));
      else body.push(el("div", { class: "text", text: m.text }));
      if (m.article) body.push(el("p", { class: "offered" }, `${T.article}: `,
        el("a", { href: m.article.url || `/kb/${m.article.id}`, target: "_blank", rel: "noopener", text: m.article.title }),
        el("code", { text: ` ${m.article.id}` })));
      return el("li", { class: `msg ${m.author}${fb ? " fb" : ""}`, "data-id": m.id },
        el("div", { class: "who" }, who, " · ", el("time", { datetime: m.created_at, text: when(m.created_at) })), body);
    }

    function render(t) {
      const firstRender = ticket === null;
      ticket = t;
      $("#t-title").textContent = `#${t.number} ${t.subject}`;
      document.title = `#${t.number} ${t.subject} · Firstline`;
      const meta = $("#t-meta");
      meta.replaceChildren(statusBadge(t.status), " ", el("span", { class: "badge line", text: t.line }), " ",
        `${T.channel}: ${t.channel} · ${T.user}: ${t.requester} · ${T.created}: ${when(t.created_at)} · ${T.assigned_to}: `,
        t.assignee_id ? (t.assignee_id === me ? T.you : `#${t.assignee_id}`) : T.nobody);
      $("#t-reason").textContent = T[t.handoff_reason] || t.handoff_reason;
      $("#t-tried").replaceChildren(...(t.bot_tried.length ? [el("p", { class: "muted", text: T.bot_tried }),
        el("ul", {}, t.bot_tried.map((a) => el("li", {}, el("a", { href: `/kb/${a.article_id}`, target: "_blank", text: a.title }),
          el("span", { class: "muted", text: ` (${a.article_id}, ${Number(a.score).toFixed(2)})` }))))] : []));
      const tr = $("#transcript");
      let newUser = false;
      for (const m of t.transcript) {
        if (shown.has(m.id)) continue;
        shown.add(m.id); tr.append(msgItem(m));
        if (!firstRender && m.author === "user") newUser = true;
      }
      if (newUser) { toast(T.new_messages); tr.lastElementChild.classList.add("fresh"); }
      if (firstRender || newUser) tr.lastElementChild && tr.lastElementChild.scrollIntoView({ block: "nearest" });
      $("#events").replaceChildren(...t.events.map((e) => el("li", {},
        el("time", { datetime: e.created_at, text: when(e.created_at) }), ` ${e.action} · ${e.actor}`)));
      const open = OPEN.includes(t.status);
      const mine = t.assignee_id === me;
      $("#claim").hidden = !(open && t.assignee_id === null);
      $("#handback-box").hidden = !(open && mine);
      $("#resolve-box").hidden = !(open && mine);
      const canReply = open && mine;
      $("#reply-text").disabled = !canReply;
      $("#reply-form button").disabled = !canReply;
      $("#reply-hint").hidden = canReply || !open;
      document.querySelectorAll(".send-article").forEach((b) => { b.disabled = !canReply; });
      if (!suggested) { suggested = true; suggest(t.question); }
    }

    async function load() { render(await api("GET", `/api/v1/tickets/${number}`)); }
    const act = (fn) => async (e) => {
      if (e) e.preventDefault();
      err.textContent = "";
      try { await fn(); await load(); } catch (x) { err.textContent = x.message; }
    };

    async function suggest(q) {
      const ul = $("#suggestions");
      try {
        const res = await api("GET", `/api/v1/kb/search?${new URLSearchParams({ q, k: 4 })}`);
        if (!res.hits.length) { ul.replaceChildren(el("li", { class: "muted", text: T.no_suggestions })); return; }
        const canReply = ticket && OPEN.includes(ticket.status) && ticket.assignee_id === me;
        ul.replaceChildren(...res.hits.map((h) => el("li", { class: "sugg" },
          el("a", { href: `/kb/${h.article_id}`, target: "_blank", rel: "noopener", class: "sugg-title", text: h.title }),
          el("span", { class: "muted small", text: ` ${h.article_id} · ${h.score.toFixed(2)}` }),
          el("p", { class: "passage", text: h.passage.length > 220 ? h.passage.slice(0, 220) + "…" : h.passage }),
          el("button", { type: "button", class: "send-article", disabled: !canReply, "data-article": h.article_id,
            onclick: act(() => api("POST", `/api/v1/tickets/${number}/reply`,
              { text: `${h.title}\n${location.origin}/kb/${h.article_id}\n\n${h.passage}` })) }, T.send_article))));
      } catch (x) { ul.replaceChildren(el("li", { class: "error", text: x.message })); }
    }

    $("#claim").addEventListener("click", act(() => api("POST", `/api/v1/tickets/${number}/claim`)));
    $("#reply-form").addEventListener("submit", act(async () => {
      const box = $("#reply-text");
      await api("POST", `/api/v1/tickets/${number}/reply`, { text: box.value });
      box.value = ""; box.focus();
    }));
    $("#reply-text").addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) $("#reply-form").requestSubmit();
    });
    $("#handback-form").addEventListener("submit", act(() =>
      api("POST", `/api/v1/tickets/${number}/handback`, { note: $("#handback-note").value })));
    $("#resolve-form").addEventListener("submit", act(() => api("POST", `/api/v1/tickets/${number}/resolve`, {
      resolution: $("#resolution").value,
      articles: $("#resolve-articles").value.split(",").map((s) => s.trim()).filter(Boolean),
    })));
    load().catch((x) => { err.textContent = x.message; });
    liveUpdates(() => { if (ticket) load().catch(() => {}); });
  }

  // ---- dashboard ---------------------------------------------------------------------------------------
  const NS = "http://www.w3.org/2000/svg";
  function svg(tag, attrs = {}, text) {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  const PALETTE = ["#2457c5", "#1f9d6b", "#e08a1e", "#c2410c", "#7c3aed", "#64748b"];

  function barChart(host, entries, { vertical = false, label } = {}) {
    if (!entries.length || entries.every(([, v]) => !v)) { host.replaceChildren(el("p", { class: "muted", text: T.no_data })); return; }
    const max = Math.max(1, ...entries.map(([, v]) => v));
    const desc = entries.map(([k, v]) => `${k}: ${v}`).join(", ");
    if (vertical) {
      const W = 960, H = 150, bw = W / entries.length;
      const s = svg("svg", { viewBox: `0 0 ${W} ${H + 18}`, role: "img", "aria-label": `${label}: ${desc}`, class: "chart-svg" });
      entries.forEach(([k, v], i) => {
        const h = (v / max) * (H - 14);
        const r = svg("rect", { x: i * bw + 2, y: H - h, width: bw - 4, height: h, rx: 2, fill: PALETTE[0] });
        r.append(svg("title", {}, `${k}: ${v}`)); s.append(r);
        if (v) s.append(svg("text", { x: i * bw + bw / 2, y: H - h - 3, "text-anchor": "middle", class: "val" }, v));
        if (i % 3 === 0) s.append(svg("text", { x: i * bw + bw / 2, y: H + 14, "text-anchor": "middle", class: "axis" }, k));
      });
      host.replaceChildren(s); return;
    }
    const row = 30, W = 360, LW = 150, H = entries.length * row;
    const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": `${label}: ${desc}`, class: "chart-svg" });
    entries.forEach(([k, v], i) => {
      const w = (v / max) * (W - LW - 40);
      s.append(svg("text", { x: LW - 8, y: i * row + 19, "text-anchor": "end", class: "lbl" }, k));
      const r = svg("rect", { x: LW, y: i * row + 5, width: Math.max(w, v ? 3 : 0), height: row - 10, rx: 3, fill: PALETTE[i % PALETTE.length] });
      r.append(svg("title", {}, `${k}: ${v}`)); s.append(r);
      s.append(svg("text", { x: LW + w + 6, y: i * row + 19, class: "val" }, v));
    });
    host.replaceChildren(s);
  }

  function donut(host, rate, label) {
    if (rate === null || rate === undefined) { host.replaceChildren(el("p", { class: "muted", text: T.no_data })); return; }
    const R = 52, C = 2 * Math.PI * R, pct = Math.round(rate * 100);
    const s = svg("svg", { viewBox: "0 0 140 140", role: "img", "aria-label": `${label}: ${pct}%`, class: "chart-svg donut" });
    s.append(svg("circle", { cx: 70, cy: 70, r: R, fill: "none", stroke: "#e3e8f2", "stroke-width": 18 }));
    s.append(svg("circle", { cx: 70, cy: 70, r: R, fill: "none", stroke: PALETTE[1], "stroke-width": 18,
      "stroke-dasharray": `${C * rate} ${C}`, transform: "rotate(-90 70 70)" }));
    s.append(svg("text", { x: 70, y: 77, "text-anchor": "middle", class: "big" }, `${pct}%`));
    host.replaceChildren(s);
  }

  async function initDashboard() {
    async function load() {
      const d = await api("GET", "/api/v1/dashboard");
      $("#d-date").textContent = `${T.today} (${d.date})`;
      $("#k-conv").textContent = d.conversations_today;
      $("#k-tickets").textContent = d.tickets_today;
      $("#k-defl").textContent = d.deflection_rate === null ? "–" : `${Math.round(d.deflection_rate * 100)}%`;
      donut($("#c-deflection"), d.deflection_rate, T.deflection);
      barChart($("#c-reasons"), Object.entries(d.handoff_reasons).map(([k, v]) => [T[k] || k, v]), { label: T.reasons });
      barChart($("#c-lines"), Object.entries(d.open_by_line), { label: T.open_by_line });
      barChart($("#c-outcomes"), Object.entries(d.outcomes).map(([k, v]) => [T[k] || k, v]), { label: T.outcomes });
      barChart($("#c-hours"), d.by_hour.map((v, h) => [String(h).padStart(2, "0"), v]), { vertical: true, label: T.by_hour });
    }
    await load().catch((x) => toast(x.message));
    setInterval(() => load().catch(() => {}), 15000);
  }

  if (page === "queue") initQueue();
  else if (page === "ticket") initTicket();
  else if (page === "dashboard" && $("#c-hours")) initDashboard();
})();
