// The IT-help widget for an intranet page: one tag, a launcher bubble and a chat panel.
//
//   <script src="https://desk.example/static/widget.js" data-label="IT help" defer></script>
//
// Optional: data-color="#0a7" (the bubble), data-position="left", and, for a signed embed (FIRSTLINE_CHAT_IDENTITY
// =signed), data-embed="embed_email=…&embed_name=…&embed_ts=…&embed_sig=…" computed by the page's server. The
// panel is the desk's own chat page in a frame (the desk must list this page's origin in
// FIRSTLINE_CHAT_EMBED_ORIGINS); nothing else of the desk runs in the host page. Styles are set through the DOM, so a
// host page's strict style policy is not asked to allow inline styles.
(function () {
  const script = document.currentScript;
  if (!script || window.__firstlineWidget) return;
  window.__firstlineWidget = true;
  const desk = new URL(script.src).origin;
  const data = script.dataset;
  const label = data.label || "IT help";
  const color = /^#[0-9a-fA-F]{6}$/.test(data.color || "") ? data.color : "#2457c5";
  const side = data.position === "left" ? "left" : "right";

  function style(el, props) { for (const [k, v] of Object.entries(props)) el.style.setProperty(k, v); }

  const button = document.createElement("button");
  button.type = "button";
  button.textContent = "💬 " + label;
  button.setAttribute("aria-expanded", "false");
  button.setAttribute("aria-controls", "firstline-panel");
  button.className = "firstline-launcher";
  style(button, {position: "fixed", bottom: "20px", [side]: "20px", "z-index": "2147483000", border: "0",
    "border-radius": "24px", padding: "12px 18px", background: color, color: "#fff", font: "600 15px system-ui, sans-serif",
    "box-shadow": "0 4px 14px rgba(0,0,0,.25)", cursor: "pointer"});

  const panel = document.createElement("div");
  panel.id = "firstline-panel";
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-label", label);
  panel.hidden = true;
  style(panel, {position: "fixed", bottom: "80px", [side]: "20px", width: "min(400px, calc(100vw - 40px))",
    height: "min(620px, calc(100vh - 120px))", "z-index": "2147483000", "border-radius": "12px", overflow: "hidden",
    "box-shadow": "0 8px 30px rgba(0,0,0,.3)", background: "#fff"});

  let frame = null;
  function open() {
    if (!frame) {  // the chat loads on first open: a page that never opens it costs the desk nothing
      frame = document.createElement("iframe");
      frame.title = label;
      frame.src = desk + "/" + (data.embed ? "#" + data.embed : "");
      frame.setAttribute("allow", "clipboard-write");
      style(frame, {width: "100%", height: "100%", border: "0"});
      panel.append(frame);
    }
    panel.hidden = false;
    button.setAttribute("aria-expanded", "true");
  }
  function close() { panel.hidden = true; button.setAttribute("aria-expanded", "false"); button.focus(); }
  button.addEventListener("click", () => (panel.hidden ? open() : close()));
  document.addEventListener("keydown", (e) => { if (e.key === "Escape" && !panel.hidden) close(); });

  function mount() { document.body.append(panel, button); }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
})();
