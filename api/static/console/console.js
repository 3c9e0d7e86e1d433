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

  // Who asked, as agents name them: the directory's name, else an address, else the channel id.
  function requesterName(r) {
    if (!r) return "?";
    return r.name || r.email || (r.claimed_email ? `${r.claimed_email} (${T.unverified})` : "") || r.ref;
  }

  // The requester card on a ticket: who they are, how to reach them, their other tickets from every channel.
  function renderRequester(r, ticketsHeading) {
    const box = document.getElementById("t-requester");
    if (!box || !r) return;
    const facts = el("dl", { class: "facts" });
    const fact = (label, value) => { if (value) facts.append(el("dt", { text: label }), el("dd", { text: value })); };
    fact(T.department, r.department);
    fact(T.organisation, r.organisation);
    fact("E-mail", r.email || (r.claimed_email ? `${r.claimed_email} (${T.unverified})` : ""));
    fact(T.language_of, r.language);
    const head = el("p", { class: "req-name" }, el("strong", { text: requesterName(r) }),
      r.vip ? el("span", { class: "badge vip", text: ` ${T.vip}` }) : null,
      r.provisional ? el("span", { class: "muted small", text: ` · ${T.provisional}` }) : null);
    const channels = (r.identities || []).map((i) => el("li", { text: `${T["ch_id_" + i.kind] || i.kind}: ${i.ref}` }));
    const earlier = (r.tickets || []).map((x) => el("li", {},
      el("a", { href: `/console/tickets/${x.number}`, text: `#${x.number} ${x.subject}` }),
      el("span", { class: "muted small", text: ` · ${T["ch_" + x.channel] || x.channel} · ${x.status}` })));
    box.replaceChildren(head, facts,
      channels.length ? el("h3", { class: "sub", text: T.channels }) : "", channels.length ? el("ul", { class: "entries" }, channels) : "",
      el("h3", { class: "sub", text: ticketsHeading || T.earlier_tickets }),
      earlier.length ? el("ul", { class: "entries", id: "t-earlier" }, earlier) : el("p", { class: "muted small", text: T.no_earlier }));
    if (r.person_id) box.append(el("p", {}, el("a", { href: `/console/people/${r.person_id}`, text: T.all_tickets })));
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
  const myLine = (document.body.dataset.role || "").toUpperCase();
  const isManager = document.body.dataset.role === "manager";
  const prioBadge = (p) => el("span", { class: `badge prio prio-${p}`, title: `${T.priority}: ${T["p_" + p] || p}` },
    p === "high" || p === "critical" ? "▲ " : "", T["p_" + p] || p);
  // Not by colour only: every SLA state has its own icon and words.
  const SLA_ICON = { ok: "◷", at_risk: "⚠", breached: "✖", paused: "‖", met: "✓" };  // glyphs common fonts have
  // The deadline the agent is racing: the first response until there is one, then the resolution.
  const slaDue = (t) => (!t.first_response_at && t.first_response_due_at)
    ? { at: t.first_response_due_at, label: T.first_response_due } : (t.resolution_due_at
      ? { at: t.resolution_due_at, label: T.resolution_due } : null);
  function slaBadge(t, withDue = true) {
    const st = t.sla_state;
    if (!st || st === "none" || !SLA_ICON[st]) return null;
    const due = ["ok", "at_risk", "breached"].includes(st) ? slaDue(t) : null;
    return el("span", { class: `badge sla sla-${st}`, title: due ? `${due.label}: ${new Date(due.at).toLocaleString(document.documentElement.lang)}` : null },
      el("span", { "aria-hidden": "true", text: `${SLA_ICON[st]} ` }), `${T.sla}: ${T["sla_" + st]}`,
      withDue && due ? el("time", { datetime: due.at, text: ` · ${T.due} ${when(due.at)}` }) : null);
  }
  let groupsPromise = null;  // the skill groups, if this agent may read them (else: lines only)
  const loadGroups = () => (groupsPromise = groupsPromise || api("GET", "/api/v1/admin/groups")
    .then((g) => (Array.isArray(g) ? g : []), () => []));
  const groupName = (groups, t) => {
    if (t.group_id === null || t.group_id === undefined) return "";
    const g = groups.find((x) => x.id === t.group_id);
    return g ? g.name || g.slug : "";
  };

  // ---- queue -------------------------------------------------------------------------------------------
  function initCallForm() {
    // A phone call becomes a ticket held by this agent; its page shows KB suggestions during the call.
    const form = $("#call-form");
    if (!form) return;
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const f = new FormData(form);
      try {
        const out = await api("POST", "/api/v1/calls", {
          caller: f.get("caller"), callback_number: f.get("callback_number") || "", summary: f.get("summary"),
          lang: f.get("lang"), priority: f.get("priority") });
        location.href = `/console/tickets/${out.ticket.number}`;
      } catch (x) { toast(x.message); }
    });
  }

  function initQueue() {
    initCallForm();
    const form = $("#filters"), list = $("#queue"), empty = $("#queue-empty");
    const sound = $("#f-sound");
    sound.checked = localStorage.getItem("fl-sound") === "1";
    sound.addEventListener("change", () => localStorage.setItem("fl-sound", sound.checked ? "1" : "0"));
    let seen = null;  // ticket numbers already shown: anything else arriving is a new handoff
    let loading = null;
    const freshUntil = new Map();
    let lastKey = "";  // a new handoff stays highlighted for a minute
    let groups = [];

    async function load() {
      const p = new URLSearchParams();
      const f = new FormData(form);
      for (const k of ["status", "line", "channel", "priority", "group"]) if (f.get(k)) p.set(k, f.get(k));
      if (f.get("who")) p.set(f.get("who"), "true");
      if (f.get("sort") === "sla") p.set("sort", "sla");
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
      const group = groupName(groups, t);
      const risky = t.sla_state === "at_risk" || t.sla_state === "breached" ? ` sla-${t.sla_state}` : "";
      return el("li", { class: `q-item${fresh ? " fresh" : ""}${mine ? " mine" : ""}${risky}`, "data-number": t.number },
        el("a", { href: `/console/tickets/${t.number}`, class: "q-link" },
          el("span", { class: "q-top" },
            el("strong", { class: "q-num", text: `#${t.number}` }), statusBadge(t.status), prioBadge(t.priority),
            el("span", { class: "badge line", title: T.line, text: group ? `${t.line} · ${group}` : t.line }),
            el("span", { class: "badge chan", text: T["ch_" + t.channel] || t.channel }),
            slaBadge(t),
            fresh ? el("span", { class: "badge new-flag", text: T.new_handoff }) : null,
            el("time", { datetime: t.created_at, text: when(t.created_at) })),
          el("span", { class: "q-subject", text: t.subject }),
          el("span", { class: "q-sub muted" },
            `${requesterName(t.requester)} · ${T[t.handoff_reason] || t.handoff_reason}` +
            (t.assignee_id ? ` · ${T.assigned_to}: ${mine ? T.you : "#" + t.assignee_id}` : ` · ${T.unassigned}`))));
    }

    let debounce;
    form.addEventListener("input", (e) => {
      clearTimeout(debounce);
      debounce = setTimeout(() => { seen = null; reload(); }, e.target.type === "search" ? 300 : 0);
    });
    form.addEventListener("submit", (e) => e.preventDefault());
    loadGroups().then((g) => {
      groups = g;
      if (!g.length) return;
      $("#f-group").append(...g.map((x) => el("option", { value: x.slug, text: x.name || x.slug })));
      $("#f-group-field").hidden = false;
      lastKey = ""; reload();  // rows show group names now
    });
    reload();
    // Every change reloads, even one arriving before the first load finished: that load may have read the
    // database just before the change (reloads are chained, so they never overlap).
    liveUpdates(() => reload());
    setInterval(() => { if (seen !== null) reload(); }, 60000);  // SLA states age without any change
  }

  // ---- conversation ------------------------------------------------------------------------------------
  function initTicket() {
    const number = Number($(".ticket-page").dataset.number);
    const shown = new Map();  // message id → its delivery state as shown
    let ticket = null, suggested = false, pendingPrio = null;
    const err = $("#action-error");

    function deliveryNote(m) {
      if (m.delivery === "failed") return el("p", { class: "undelivered", role: "alert", text: `⚠ ${T.not_delivered}: ${m.delivery_error || ""}` });
      if (m.delivery === "pending" && m.delivery_error) return el("p", { class: "retrying", text: `${T.delivery_retrying}: ${m.delivery_error}` });
      return null;
    }

    function msgItem(m) {
      const fb = /^\[(helped|not_helped|human)\]$/.exec(m.text || "");
      const who = m.author === "agent" && m.agent ? `${T.agent} · ${m.agent}` : (T[m.author] || m.author);
      const body = [];
      if (fb && m.author === "user") body.push(el("span", { class: "feedback", text: `${T.feedback}: ${T["fb_" + fb[1]]}` }));
      // What the bot and agents wrote is Markdown, shown as the employee sees it (the chat's one renderer);
      // the user's own words stay plain text.
      else if (m.author === "user") body.push(el("div", { class: "text", text: m.text }));
      else body.push(el("div", { class: "text md", html: window.FirstlineMarkdown.md(m.text || "") }));
      for (const name of m.files || []) body.push(el("div", { class: "file muted small", text: `${T.file || "File"}: ${name}` }));
      if (m.article) body.push(el("p", { class: "offered" }, `${T.article}: `,
        el("a", { href: m.article.url || `/kb/${m.article.id}`, target: "_blank", rel: "noopener", text: m.article.title }),
        el("code", { text: ` ${m.article.id}` })));
      return el("li", { class: `msg ${m.author}${fb ? " fb" : ""}`, "data-id": m.id },
        el("div", { class: "who" }, who, " · ", el("time", { datetime: m.created_at, text: when(m.created_at) })), body,
        deliveryNote(m));
    }

    function render(t) {
      const firstRender = ticket === null;
      ticket = t;
      $("#t-title").textContent = `#${t.number} ${t.subject}`;
      document.title = `#${t.number} ${t.subject} · Firstline`;
      const meta = $("#t-meta");
      meta.replaceChildren(statusBadge(t.status), " ", el("span", { class: "badge line", text: t.line }), " ",
        prioBadge(t.priority), " ", `${T.channel}: ${T["ch_" + t.channel] || t.channel} · ${T.user}: ${requesterName(t.requester)} · ${T.created}: ${when(t.created_at)} · ${T.assigned_to}: `,
        t.assignee_id ? (t.assignee_id === me ? T.you : `#${t.assignee_id}`) : T.nobody);
      $("#t-reason").textContent = T[t.handoff_reason] || t.handoff_reason;
      renderRequester(t.requester);
      $("#t-tried").replaceChildren(...(t.bot_tried.length ? [el("p", { class: "muted", text: T.bot_tried }),
        el("ul", {}, t.bot_tried.map((a) => el("li", {}, el("a", { href: `/kb/${a.article_id}`, target: "_blank", text: a.title }),
          el("span", { class: "muted", text: ` (${a.article_id}, ${Number(a.score).toFixed(2)})` }))))] : []));
      const tr = $("#transcript");
      let newUser = false;
      for (const m of t.transcript) {
        const state = `${m.delivery || ""}|${m.delivery_error || ""}`;
        if (shown.has(m.id)) {  // a pushed message's delivery may change later (retrying, failed)
          if (shown.get(m.id) !== state) {
            shown.set(m.id, state);
            const old = tr.querySelector(`li[data-id="${m.id}"]`);
            if (old) old.replaceWith(msgItem(m));
          }
          continue;
        }
        shown.set(m.id, state); tr.append(msgItem(m));
        if (!firstRender && m.author === "user") newUser = true;
      }
      if (newUser) { toast(T.new_messages); tr.lastElementChild.classList.add("fresh"); }
      if (firstRender || newUser) tr.lastElementChild && tr.lastElementChild.scrollIntoView({ block: "nearest" });
      $("#events").replaceChildren(...t.events.map((e) => el("li", {},
        el("time", { datetime: e.created_at, text: when(e.created_at) }), ` ${e.action} · ${e.actor}`)));
      const open = OPEN.includes(t.status);
      const mine = t.assignee_id === me;
      // Agents take tickets of their own line and the lower ones (managers: any); the API checks it too.
      $("#claim").hidden = !(open && t.assignee_id === null && (isManager || !myLine || t.line <= myLine));
      $("#handback-box").hidden = !(open && mine);
      $("#resolve-box").hidden = !(open && mine);
      if (escFor !== t.line) fillEscalateTargets();
      $("#escalate-box").hidden = !(open && (mine || isManager)) || !$("#escalate-to").options.length;
      const prio = $("#t-priority");
      if (pendingPrio === null && document.activeElement !== prio) prio.value = t.priority;
      prio.disabled = !open;
      renderSla(t);
      renderReturn();
      const canReply = open && mine;
      $("#reply-text").disabled = !canReply;
      $("#reply-form button").disabled = !canReply;
      $("#reply-hint").hidden = canReply || !open;
      document.querySelectorAll(".send-article").forEach((b) => { b.disabled = !canReply; });
      if (!suggested) { suggested = true; suggest(t.question); }
    }

    async function load() {
      const [t] = await Promise.all([api("GET", `/api/v1/tickets/${number}`), loadEscalations()]);
      render(t);
    }
    const act = (fn, done) => async (e) => {
      if (e) e.preventDefault();
      err.textContent = "";
      try { await fn(); await load(); if (done) toast(done); } catch (x) { err.textContent = x.message; }
    };

    // -- SLA, escalation, time, requests to developers (the service-desk side of a ticket) --
    function renderSla(t) {
      $("#t-sla-badge").replaceChildren(slaBadge(t, false) || el("span", { class: "muted small", text: T.sla_none }));
      const facts = [];
      const fact = (k, v) => facts.push(el("dt", { text: k }), el("dd", {}, v));
      const at = (iso) => el("time", { datetime: iso, text: when(iso) });
      if (t.first_response_at) fact(T.first_response_done, at(t.first_response_at));
      else if (t.first_response_due_at) fact(T.first_response_due, at(t.first_response_due_at));
      if (t.resolution_due_at) fact(T.resolution_due, at(t.resolution_due_at));
      if (t.sla_state === "paused") fact(SLA_ICON.paused, T.sla_paused_help);
      $("#t-sla").replaceChildren(...facts);
    }

    let escalations = [];
    async function loadEscalations() {
      try { escalations = await api("GET", `/api/v1/tickets/${number}/escalations`); }
      catch (x) { escalations = []; $("#escalations").replaceChildren(el("li", { class: "error", text: x.message })); return; }
      const side = (line, group) => (group ? `${line} · ${group}` : line);
      $("#escalations").replaceChildren(...(escalations.length ? escalations.map((x) => el("li", { class: "esc" },
        el("div", {}, el("strong", { text: `${side(x.from_line, x.from_group)} → ${side(x.to_line, x.to_group)}` }),
          x.kind === "automatic" ? ` · ${T.esc_auto}` : "", ` · ${x.by} · `,
          el("time", { datetime: x.created_at, text: when(x.created_at) })),
        x.note ? el("div", { class: "esc-note", text: x.note }) : null,
        x.returned_at ? el("div", { class: "esc-answer" }, el("strong", { text: `↩ ${T.esc_returned}` }),
          ` · ${x.returned_by || ""} · `, el("time", { datetime: x.returned_at, text: when(x.returned_at) }),
          x.answer ? el("div", { text: x.answer }) : null)
          : el("div", { class: "muted small", text: `… ${T.esc_open}` }))) : [el("li", { class: "muted", text: T.no_escalations })]));
    }
    function renderReturn() {
      // Offered to the line the ticket was escalated to, while that escalation waits for its answer.
      const pending = [...escalations].reverse().find((x) => !x.returned_at);
      const can = ticket && OPEN.includes(ticket.status) && pending && (pending.to_line === myLine || isManager);
      $("#return-box").hidden = !can;
      if (can) $("#return-question").textContent = `${pending.from_line} → ${pending.to_line}: ${pending.note || ""}`;
    }

    let escGroups = [], escFor = null;
    function fillEscalateTargets(groups = escGroups) {
      escGroups = groups;
      const from = ticket ? ticket.line : "L1";
      escFor = from;
      const sel = $("#escalate-to");
      const up = ["L2", "L3"].filter((l) => l > from);  // hierarchical: only up the lines
      const lines = el("optgroup", { label: T.line },
        up.map((l) => el("option", { value: `line:${l}`, text: T["line_" + l] })));
      sel.replaceChildren(lines);
      if (groups.length) sel.append(el("optgroup", { label: T.skill_groups },
        groups.map((g) => el("option", { value: `group:${g.slug}`, text: g.name || g.slug }))));
    }

    async function loadTime() {
      let data;
      try { data = await api("GET", `/api/v1/tickets/${number}/time`); }
      catch (x) { $("#time-entries").replaceChildren(el("li", { class: "error", text: x.message })); return; }
      $("#time-total").textContent = `${data.total_minutes} ${T.min}`;
      const running = data.running;
      $("#timer-start").hidden = !!running;
      $("#timer-stop").hidden = !running;
      $("#timer-state").textContent = running ? `◷ ${T.timer_running} ${when(running.started_at)}` : "";
      const done = data.entries.filter((x) => x.ended_at || x.source === "manual");
      $("#time-entries").replaceChildren(...(done.length ? done.map((x) => el("li", {},
        el("strong", { text: `${x.minutes} ${T.min}` }), ` · ${x.agent} · `,
        el("time", { datetime: x.started_at, text: when(x.started_at) }), x.note ? ` · ${x.note}` : ""))
        : [el("li", { class: "muted", text: T.no_time })]));
    }
    const timeAct = (fn, done) => async (e) => {
      if (e) e.preventDefault();
      err.textContent = "";
      try { await fn(); await loadTime(); if (done) toast(done); } catch (x) { err.textContent = x.message; }
    };

    async function loadRefs() {
      let refs;
      try { refs = await api("GET", `/api/v1/tickets/${number}/external-refs`); }
      catch (x) { $("#ext-refs").replaceChildren(el("li", { class: "error", text: x.message })); return; }
      $("#ext-refs").replaceChildren(...(refs.length ? refs.map((r) => el("li", {},
        el("strong", { text: `${r.system}: ` }),
        /^https?:\/\//i.test(r.url || "") ? el("a", { href: r.url, target: "_blank", rel: "noopener noreferrer", text: r.ref }) : r.ref,
        el("span", { class: "muted small", text: ` · ${r.created_by} · ${when(r.created_at)}` }),
        r.note ? el("div", { class: "small", text: r.note }) : null))
        : [el("li", { class: "muted", text: T.no_refs })]));
    }

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
    $("#escalate-form").addEventListener("submit", act(async () => {
      const [kind, target] = $("#escalate-to").value.split(/:(.*)/s);
      await api("POST", `/api/v1/tickets/${number}/escalate`, { to_line: kind === "line" ? target : null,
        group: kind === "group" ? target : null, note: $("#escalate-note").value });
      $("#escalate-note").value = ""; $("#escalate-box").open = false;
    }, T.escalated_ok));
    $("#return-form").addEventListener("submit", act(async () => {
      await api("POST", `/api/v1/tickets/${number}/return`, { answer: $("#return-answer").value });
      $("#return-answer").value = ""; $("#return-box").open = false;
    }, T.returned_ok));
    // Debounced: arrow keys on a closed <select> fire `change` per step; one PATCH (one notice) per choice.
    let prioTimer;
    $("#t-priority").addEventListener("change", () => {
      pendingPrio = $("#t-priority").value;  // live re-renders keep the agent's choice meanwhile
      clearTimeout(prioTimer);
      prioTimer = setTimeout(act(async () => {
        const wanted = pendingPrio;
        try { if (ticket && wanted !== ticket.priority) await api("PATCH", `/api/v1/tickets/${number}`, { priority: wanted }); }
        catch (x) { if (ticket) $("#t-priority").value = ticket.priority; throw x; }  // refused: show what holds
        finally { pendingPrio = null; }
      }, T.priority_changed), 500);
    });
    $("#timer-start").addEventListener("click", timeAct(() => api("POST", `/api/v1/tickets/${number}/timer/start`)));
    $("#timer-stop").addEventListener("click", timeAct(() => api("POST", `/api/v1/tickets/${number}/timer/stop`), T.saved));
    $("#time-form").addEventListener("submit", timeAct(async () => {
      const note = $("#time-note").value.trim();
      await api("POST", `/api/v1/tickets/${number}/time`, { minutes: Number($("#time-minutes").value), ...(note ? { note } : {}) });
      $("#time-minutes").value = ""; $("#time-note").value = "";
    }, T.saved));
    $("#ext-form").addEventListener("submit", async (e) => {
      e.preventDefault(); err.textContent = "";
      const body = { system: $("#ext-system").value.trim(), ref: $("#ext-ref").value.trim() };
      const url = $("#ext-url").value.trim(), note = $("#ext-note").value.trim();
      if (url) body.url = url;
      if (note) body.note = note;
      try {
        const saved = await api("POST", `/api/v1/tickets/${number}/external-refs`, body);
        $("#ext-form").reset(); $("#ext-box").open = false;
        toast(saved && saved.webhook ? `${T.saved}: ${T.ext_webhook}` : T.saved);
        await loadRefs();
      } catch (x) { err.textContent = x.message; }
    });

    loadGroups().then((g) => { fillEscalateTargets(g); if (ticket) render(ticket); });
    load().catch((x) => { err.textContent = x.message; });
    loadTime(); loadRefs();
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

  function barChart(host, entries, { vertical = false, label, colors = PALETTE } = {}) {
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
    // The label column grows with the longest label (Russian ones run long) so none is clipped.
    const LW = Math.min(260, Math.max(90, 10 + 6.8 * Math.max(...entries.map(([k]) => String(k).length))));
    const row = 30, W = LW + 210, H = entries.length * row;
    const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": `${label}: ${desc}`, class: "chart-svg" });
    entries.forEach(([k, v], i) => {
      const w = (v / max) * (W - LW - 40);
      s.append(svg("text", { x: LW - 8, y: i * row + 19, "text-anchor": "end", class: "lbl" }, k));
      const r = svg("rect", { x: LW, y: i * row + 5, width: Math.max(w, v ? 3 : 0), height: row - 10, rx: 3, fill: colors[i % colors.length] });
      r.append(svg("title", {}, `${k}: ${v}`)); s.append(r);
      s.append(svg("text", { x: LW + w + 6, y: i * row + 19, class: "val" }, v));
    });
    host.replaceChildren(s);
  }

  // One row per category, stacked segments per series (e.g. lines × at risk / breached), with a legend.
  function stackedBars(host, rows, series, { label } = {}) {
    const total = (vals) => series.reduce((a, sr) => a + (vals[sr.key] || 0), 0);
    if (!rows.length) { host.replaceChildren(el("p", { class: "muted", text: T.no_data })); return; }
    const max = Math.max(1, ...rows.map(([, vals]) => total(vals)));
    const row = 30, W = 360, LW = 60, H = rows.length * row + 26;
    const desc = rows.map(([k, vals]) => `${k}: ${series.map((sr) => `${sr.label} ${vals[sr.key] || 0}`).join(", ")}`).join("; ");
    const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": `${label}: ${desc}`, class: "chart-svg" });
    rows.forEach(([k, vals], i) => {
      s.append(svg("text", { x: LW - 8, y: i * row + 19, "text-anchor": "end", class: "lbl" }, k));
      let x = LW;
      for (const sr of series) {
        const v = vals[sr.key] || 0, w = (v / max) * (W - LW - 50);
        if (!v) continue;
        const r = svg("rect", { x, y: i * row + 5, width: Math.max(w, 3), height: row - 10, fill: sr.color,
                                "data-series": sr.key });
        r.append(svg("title", {}, `${k} · ${sr.label}: ${v}`)); s.append(r);
        if (w > 18) s.append(svg("text", { x: x + w / 2, y: i * row + 19, "text-anchor": "middle", class: "inbar" }, v));
        x += Math.max(w, 3);
      }
      s.append(svg("text", { x: x + 6, y: i * row + 19, class: "val" }, total(vals)));
    });
    let lx = LW;
    for (const sr of series) {  // legend: colour swatch + icon + words
      s.append(svg("rect", { x: lx, y: H - 16, width: 12, height: 12, fill: sr.color }));
      const t = svg("text", { x: lx + 16, y: H - 6, class: "axis" }, sr.label); s.append(t);
      lx += 22 + sr.label.length * 7;
    }
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
      stackedBars($("#c-sla-lines"), Object.entries(d.sla_by_line || {}), [
        { key: "at_risk", label: `${SLA_ICON.at_risk} ${T.sla_at_risk}`, color: "#e08a1e" },
        { key: "breached", label: `${SLA_ICON.breached} ${T.sla_breached}`, color: "#b00020" }], { label: T.sla_by_line });
      barChart($("#c-sla"), ["breached", "at_risk", "ok", "paused"].map((k) => [`${SLA_ICON[k]} ${T["sla_" + k]}`, (d.sla || {})[k] || 0]),
        { label: T.sla_chart, colors: ["#b00020", "#e08a1e", "#1f9d6b", "#64748b"] });
      const risk = d.sla_risk || [];
      $("#sla-risk").replaceChildren(...(risk.length ? risk.map((r) => el("li", {},
        el("a", { href: `/console/tickets/${r.number}`, text: `#${r.number} ${r.subject}` }), " ",
        el("span", { class: `badge sla sla-${r.sla_state}` }, `${SLA_ICON[r.sla_state]} ${T["sla_" + r.sla_state]}`), " ",
        el("span", { class: "badge line", text: r.line }), " ", prioBadge(r.priority),
        r.due_at ? el("time", { class: "muted small", datetime: r.due_at, text: ` ${T.due} ${when(r.due_at)}` }) : null))
        : [el("li", { class: "muted", text: T.none_at_risk })]));
      barChart($("#c-outcomes"), Object.entries(d.outcomes).map(([k, v]) => [T[k] || k, v]), { label: T.outcomes });
      barChart($("#c-hours"), d.by_hour.map((v, h) => [String(h).padStart(2, "0"), v]), { vertical: true, label: T.by_hour });
    }
    await load().catch((x) => toast(x.message));
    setInterval(() => load().catch(() => {}), 15000);
  }

  // People: search by name, address, number or chat id; a person's page lists every ticket from every channel.
  function initPeople() {
    const input = $("#people-q"), list = $("#people-list");
    async function search() {
      const found = await api("GET", `/api/v1/people?q=${encodeURIComponent(input.value.trim())}`);
      list.replaceChildren(...found.map((p) => el("li", { class: "q-item" },
        el("a", { href: `/console/people/${p.id}`, class: "q-link" },
          el("span", { class: "q-top" }, el("strong", { text: requesterName(p) }),
            p.vip ? el("span", { class: "badge vip", text: T.vip }) : null,
            p.organisation ? el("span", { class: "badge", text: p.organisation }) : null),
          el("span", { class: "q-sub muted" },
            [p.email, ...p.identities.filter((i) => i.kind !== "email").map((i) => `${T["ch_id_" + i.kind] || i.kind}: ${i.ref}`),
             `${p.tickets.length} #`].filter(Boolean).join(" · "))))));
    }
    let debounce;
    input.addEventListener("input", () => { clearTimeout(debounce); debounce = setTimeout(() => search().catch((x) => toast(x.message)), 250); });
    $("#people-form").addEventListener("submit", (e) => e.preventDefault());
    search().catch((x) => toast(x.message));
  }

  async function initPerson() {
    const id = document.querySelector(".person-page").dataset.person;
    const p = await api("GET", `/api/v1/people/${id}`);
    $("#p-name").textContent = requesterName(p);
    renderRequester(Object.assign({}, p, { person_id: null }), T.all_tickets);
  }

  if (page === "queue") initQueue();
  else if (page === "people") initPeople();
  else if (page === "person") initPerson().catch((x) => toast(x.message));
  else if (page === "ticket") initTicket();
  else if (page === "dashboard" && $("#c-hours")) initDashboard();
})();
