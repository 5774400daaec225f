// Touchpoint dashboard: small conveniences on top of pages that work without JavaScript.
"use strict";

document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const text = button.getAttribute("data-copy");
  const done = () => {
    button.setAttribute("data-copied", "");
    const label = button.textContent;
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = label; button.removeAttribute("data-copied"); }, 1500);
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, () => fallbackCopy(text, done));
  } else {
    fallbackCopy(text, done);
  }
});

function fallbackCopy(text, done) {
  // Plain HTTP on a LAN has no async clipboard: copy through a hidden selection.
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "absolute";
  area.style.left = "-9999px";
  document.body.appendChild(area);
  area.select();
  try { document.execCommand("copy"); done(); } finally { area.remove(); }
}

// Forms that destroy something ask first (the server still requires the typed confirmation).
document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) event.preventDefault();
});

// QR options: refresh the preview and the download links as options change.
function wireQrOptions() {
  const form = document.querySelector("form[data-qr-options]");
  if (!form) return;
  const preview = document.querySelector("[data-qr-preview]");
  const links = document.querySelectorAll("[data-qr-download]");
  const update = () => {
    const params = new URLSearchParams(new FormData(form));
    for (const [key, value] of [...params.entries()]) if (!value) params.delete(key);
    const query = params.toString();
    if (preview) preview.src = preview.getAttribute("data-base") + (query ? "?" + query : "");
    links.forEach((link) => {
      const base = link.getAttribute("data-base");
      const extra = link.getAttribute("data-extra") || "";
      const all = [query, extra].filter(Boolean).join("&");
      link.href = base + (all ? "?" + all : "");
    });
  };
  form.addEventListener("change", update);
}

// Events and job pages: reload the region every few seconds while the page is visible.
function wireAutoRefresh() {
  const region = document.querySelector("[data-auto-refresh]");
  if (!region) return;
  const seconds = Number(region.getAttribute("data-auto-refresh")) || 10;
  const toggle = document.querySelector("[data-auto-refresh-toggle]");
  const tick = async () => {
    if (document.hidden || (toggle && !toggle.checked)) return;
    const url = new URL(window.location.href);
    url.searchParams.set("partial", "1");
    try {
      const response = await fetch(url, { headers: { Accept: "text/html" }, credentials: "same-origin" });
      if (response.ok) region.innerHTML = await response.text();
      // A finished job's page has nothing more to show.
      if (region.querySelector("[data-finished]")) clearInterval(timer);
    } catch (error) {
      // Offline for a moment: keep the last table and try again on the next tick.
    }
  };
  const timer = setInterval(tick, seconds * 1000);
  if (region.querySelector("[data-finished]")) clearInterval(timer);
}

wireQrOptions();
wireAutoRefresh();

document.addEventListener("click", (event) => {
  if (event.target.closest("[data-print]")) window.print();
});
