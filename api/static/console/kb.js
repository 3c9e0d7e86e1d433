// Firstline agent console, knowledge-base pages: browse, edit with a live preview, revisions + diff, learned
// phrasings, and the review queue of drafts. Vanilla JS over /api/v1/kb (cookie + X-CSRF-Token), like console.js.
"use strict";
(() => {
  const T = JSON.parse(document.getElementById("texts").textContent);
  const page = document.body.dataset.page;
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const CSRF = csrfMeta ? csrfMeta.content : "";
  const $ = (sel) => document.querySelector(sel);
  const enc = encodeURIComponent;
  const EDITOR = document.body.dataset.kbEditor === "1";  // may publish (the API checks it too)

  // Shared with the rest of the console (console.js loads first).
  const { el, api } = window.FirstlineConsole;

  function toast(text) {
    const t = $("#toast"); if (!t) return;
    t.textContent = text; t.hidden = false;
    clearTimeout(toast.timer); toast.timer = setTimeout(() => { t.hidden = true; }, 4000);
  }

  const when = (iso) => new Date(iso).toLocaleString(document.documentElement.lang, { dateStyle: "short", timeStyle: "short" });
  const badge = (s) => el("span", { class: `badge kb-${s}`, text: T[`kb_st_${s}`] || s });

  const md = window.FirstlineMarkdown.md;  // the one renderer of chat and console (/static/markdown.js)

  // ---- browse ------------------------------------------------------------------------------------------
  function initList() {
    const list = $("#kb-list"), empty = $("#kb-empty"), status = $("#kb-status"), filter = $("#kb-filter");
    let rows = [];
    const item = (a) => el("li", { class: "q-item kb-item", "data-id": a.id },
      el("a", { class: "q-link", href: `/console/kb/articles/${enc(a.id)}` },
        el("span", { class: "q-top" }, badge(a.status), el("code", { class: "muted", text: a.id }),
           el("span", { class: "muted", text: `${T.kb_feedback}: ✓ ${a.helped} ✗ ${a.not_helped} · ${T.kb_phrasings}: ${a.phrasings}` }),
           el("time", { datetime: a.updated_at, text: when(a.updated_at) })),
        el("span", { class: "q-subject", text: a.title }),
        a.tags.length ? el("span", { class: "q-sub muted", text: a.tags.join(", ") }) : null));
    function draw() {
      const f = filter.value.trim().toLocaleLowerCase();
      const shown = rows.filter((a) => !f || a.title.toLocaleLowerCase().includes(f) || a.id.includes(f));
      list.replaceChildren(...shown.map(item));
      empty.hidden = shown.length > 0;
    }
    async function load() {
      const q = status.value ? `?status=${enc(status.value)}&limit=1000` : "?limit=1000";
      rows = await api("GET", `/api/v1/kb/articles${q}`).catch((x) => { toast(x.message); return []; });
      draw();
    }
    status.addEventListener("change", load);
    filter.addEventListener("input", draw);
    $("#kb-filters").addEventListener("submit", (e) => e.preventDefault());
    $("#kb-search").addEventListener("submit", async (e) => {
      e.preventDefault();
      const q = $("#kb-q").value.trim(), hits = $("#kb-hits");
      if (!q) { hits.replaceChildren(); return; }
      try {
        const res = await api("GET", `/api/v1/kb/search?${new URLSearchParams({ q, k: 5 })}`);
        hits.replaceChildren(...(res.hits.length ? res.hits.map((h) => el("li", { class: "q-item kb-hit" },
          el("a", { class: "q-link", href: `/console/kb/articles/${enc(h.article_id)}` },
            el("span", { class: "q-top" }, el("code", { class: "muted", text: h.article_id }),
               el("span", { class: "muted", text: `${T.kb_score} ${h.score.toFixed(2)}` })),
            el("span", { class: "q-subject", text: h.title }),
            el("span", { class: "q-sub passage", text: h.passage })))) : [el("li", { class: "muted", text: T.kb_none })]));
      } catch (x) { toast(x.message); }
    });
    load();
  }

  // ---- one article -------------------------------------------------------------------------------------
  function initArticle() {
    const root = $(".kb-page"), id = root.dataset.articleId;
    const title = $("#a-title"), tags = $("#a-tags"), body = $("#a-body"), preview = $("#a-preview");
    const err = $("#a-error");
    const render = () => { preview.innerHTML = md(body.value); };
    body.addEventListener("input", render);
    const tagList = () => tags.value.split(",").map((s) => s.trim()).filter(Boolean);

    function show(a) {
      $("#a-h").textContent = a.title;
      document.title = `${a.title} · Firstline`;
      title.value = a.title; tags.value = a.tags.join(", "); body.value = a.body; render();
      $("#a-meta").replaceChildren(badge(a.status), ` ${a.id} · ${T.kb_updated} ${when(a.updated_at)}` +
        ` · ${T.kb_feedback}: ✓ ${a.helped} ✗ ${a.not_helped}` + (a.origin ? ` · ${T.kb_origin}: ${a.origin}` : ""));
      $("#a-publish").hidden = !EDITOR || a.status === "published";
      $("#a-archive").hidden = !EDITOR || a.status === "archived";
      // Only KB editors change what the bot serves: a published article is read-only for everyone else.
      const locked = !EDITOR && a.status === "published";
      $("#a-save").disabled = locked;
      $("#a-editor-note").hidden = EDITOR;
      const pub = $("#a-public"); pub.hidden = a.status !== "published"; pub.href = `/kb/${enc(a.id)}`;
    }

    async function loadRevisions() {
      const revs = await api("GET", `/api/v1/kb/articles/${enc(id)}/revisions`);
      $("#revisions").replaceChildren(...revs.map((r, i) => el("li", { class: "rev", "data-rev": r.id },
        el("span", {}, el("strong", { text: `#${r.id}` }), ` ${when(r.created_at)} · ${T.kb_by} ${r.author}`),
        el("span", { class: "small muted", text: r.title }),
        i + 1 < revs.length ? el("button", { type: "button", class: "small-btn", "aria-controls": "diff",
          onclick: () => showDiff(revs[i + 1].id, r.id), text: T.kb_diff }) : null)));
    }

    async function showDiff(from, to) {
      const d = await api("GET", `/api/v1/kb/articles/${enc(id)}/diff?from=${from}&to=${to}`);
      const pre = $("#diff");
      const lines = d.diff ? d.diff.split("\n") : [T.kb_no_diff];
      pre.replaceChildren(...lines.map((l) => el("span", { class: l.startsWith("+") && !l.startsWith("+++") ? "add"
        : l.startsWith("-") && !l.startsWith("---") ? "del" : l.startsWith("@@") ? "hunk" : "" , text: `${l}\n` })));
      $("#diff-h").textContent = `${T.kb_diff_h}: #${from} → #${to}`;
      $("#diff-box").hidden = false; pre.focus();
    }

    async function loadPhrasings() {
      const ps = await api("GET", `/api/v1/kb/articles/${enc(id)}/phrasings`);
      $("#phrasings").replaceChildren(...(ps.length ? ps.map((p) => el("li", { class: "phrasing", "data-id": p.id },
        el("span", { class: "ph-text", text: p.text }),
        p.kind === "rejected" ? el("span", { class: "badge rejected", text: `✗ ${T.kb_rejected_phrasing}` }) : null,
        el("span", { class: "small muted", text: p.origin || "" }),
        el("button", { type: "button", class: "small-btn", "aria-label": `${T.kb_undo}: ${p.text}`, text: T.kb_undo,
          onclick: async () => {
            if (!confirm(T.kb_confirm_undo)) return;
            try { await api("DELETE", `/api/v1/kb/articles/${enc(id)}/phrasings/${p.id}`); await loadPhrasings(); }
            catch (x) { toast(x.message); }
          } }))) : [el("li", { class: "muted", text: T.kb_no_phrasings })]));
    }

    const refresh = () => Promise.all([loadRevisions(), loadPhrasings()]).catch((x) => toast(x.message));

    async function act(fn) {
      err.textContent = "";
      const buttons = root.querySelectorAll("#a-form button");
      buttons.forEach((b) => { b.disabled = true; });
      try { return await fn(); } catch (x) { err.textContent = x.message; return null; }
      finally { buttons.forEach((b) => { b.disabled = false; }); }
    }

    $("#a-form").addEventListener("submit", (e) => {
      e.preventDefault();
      act(async () => {
        const data = { title: title.value.trim(), body: body.value, tags: tagList() };
        if (!id) {
          const newId = $("#a-id").value.trim();
          const a = await api("POST", "/api/v1/kb/articles", newId ? { ...data, id: newId } : data);
          location.href = `/console/kb/articles/${enc(a.id)}`;
          return;
        }
        show(await api("PUT", `/api/v1/kb/articles/${enc(id)}`, data));
        toast(T.kb_saved); await refresh();
      });
    });
    for (const [btn, verb] of [["#a-publish", "publish"], ["#a-archive", "archive"]]) {
      $(btn).addEventListener("click", () => act(async () => {
        show(await api("POST", `/api/v1/kb/articles/${enc(id)}/${verb}`)); await refresh();
      }));
    }
    if (id) {
      api("GET", `/api/v1/kb/articles/${enc(id)}`).then((a) => { show(a); refresh(); })
        .catch((x) => { err.textContent = x.message; });
    } else render();
  }

  // ---- review queue ------------------------------------------------------------------------------------
  function initReview() {
    const list = $("#drafts"), empty = $("#drafts-empty");
    async function load() {
      const drafts = await api("GET", "/api/v1/kb/drafts").catch((x) => { toast(x.message); return []; });
      list.replaceChildren(...drafts.map(card));
      empty.hidden = drafts.length > 0;
    }
    function card(a) {
      const hid = `d-${a.id}`;
      const ticket = (a.origin || "").match(/^ticket:(\d+)$/);
      const li = el("li", { class: "card draft", "data-id": a.id, "aria-labelledby": hid },
        el("h2", { id: hid, text: a.title }),
        el("p", { class: "small muted" }, el("code", { text: a.id }), " · ", when(a.updated_at),
          ticket ? [" · ", el("a", { href: `/console/tickets/${ticket[1]}`, text: `${T.ticket} #${ticket[1]}` })]
                 : a.origin ? ` · ${a.origin}` : null),
        el("div", { class: "md-preview", html: md(a.body) }),
        el("div", { class: "kb-buttons" },
          EDITOR ? el("button", { type: "button", class: "primary", text: T.kb_approve, onclick: () => decide(li, a, "approve") }) : null,
          el("a", { class: "button", href: `/console/kb/articles/${enc(a.id)}`, text: T.kb_edit }),
          EDITOR ? el("button", { type: "button", text: T.kb_reject, onclick: () => decide(li, a, "reject") }) : null),
        EDITOR ? null : el("p", { class: "small muted", text: T.kb_editor_only }));
      return li;
    }
    async function decide(li, a, verb) {
      if (verb === "reject" && !confirm(T.kb_confirm_reject)) return;
      li.querySelectorAll("button").forEach((b) => { b.disabled = true; });
      try {
        await api("POST", `/api/v1/kb/drafts/${enc(a.id)}/${verb}`);
        toast(`${verb === "approve" ? T.kb_approved : T.kb_rejected}: ${a.title}`);
        await load();
      } catch (x) { toast(x.message); li.querySelectorAll("button").forEach((b) => { b.disabled = false; }); }
    }
    load();
  }

  if (page === "kb") initList();
  else if (page === "kb-article") initArticle();
  else if (page === "kb-review") initReview();
})();
