// The one Markdown renderer of the web chat and the agent console: a small, safe subset. HTML is escaped first, then
// headings, bold, italics, code, lists and links — and a link is only ever http(s), mailto or a relative path, so
// no text a user, an agent or an article author wrote can run script in someone else's browser.
(function () {
  const esc = (s) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");
  function inline(s) {
    return s.replace(/`([^`]+)`/g, "<code>$1</code>")
      .replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>")
      .replace(/(^|[^*])\*([^*\s][^*]*)\*/g, "$1<em>$2</em>")
      .replace(/\[([^\]]+)\]\(((?:https?:\/\/|\/|mailto:)[^\s)]+)\)/g,
               '<a href="$2" target="_blank" rel="noopener noreferrer">$1</a>')
      // A bare http(s) address becomes a link too (not one already inside an <a>).
      .replace(/(^|[\s(])(https?:\/\/[^\s<)]+)/g, '$1<a href="$2" target="_blank" rel="noopener noreferrer">$2</a>');
  }
  function md(src) {
    const out = []; let list = null, para = [];
    const flushPara = () => { if (para.length) { out.push(`<p>${inline(para.join("<br>"))}</p>`); para = []; } };
    const closeList = () => { if (list) { out.push(`</${list}>`); list = null; } };
    for (const raw of esc(String(src || "")).split(/\r?\n/)) {
      const line = raw.trimEnd();
      let m;
      if (!line.trim()) { flushPara(); closeList(); continue; }
      if ((m = line.match(/^(#{1,4})\s+(.*)$/))) {
        flushPara(); closeList(); const n = Math.min(m[1].length + 1, 5);  // the page's h1 is the title
        out.push(`<h${n}>${inline(m[2])}</h${n}>`); continue;
      }
      if ((m = line.match(/^\s*(?:([-*+])|(\d+)[.)])\s+(.*)$/))) {
        flushPara(); const kind = m[1] ? "ul" : "ol";
        if (list !== kind) { closeList(); out.push(`<${kind}>`); list = kind; }
        out.push(`<li>${inline(m[3])}</li>`); continue;
      }
      closeList(); para.push(line.trim());
    }
    flushPara(); closeList();
    return out.join("\n");
  }
  window.FirstlineMarkdown = { md, inline, esc };
})();
