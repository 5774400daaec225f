/* Staff pages: what JavaScript adds on top of plain forms that already work without it.

   - every page: refocus the autofocus field, guard forms against a double Enter;
   - camera scanning with BarcodeDetector where the browser has it (the button stays hidden
     otherwise; keyboard-wedge scanners and typing need nothing);
   - the booth page: an offline-first queue. A scan is written to localStorage FIRST, then
     sent; it leaves the queue only when the server has stored it (200/201 naming its
     scan_id). Network errors and 5xx are retried (on load, on `online`, every 15 s); a 4xx
     refusal is parked visibly instead of being retried forever. The scan_id is made here, so
     a request that succeeded but whose answer was lost is harmless when sent again. */
(function () {
  "use strict";

  const body = document.body;
  const csrf = body.dataset.csrf || "";
  const page = body.dataset.page || "";

  // Every page ---------------------------------------------------------------------------

  // A field kept after a refusal (a TYPO, a bad amount) is there to be fixed, not retyped:
  // the caret goes to its end, nothing is selected or cleared.
  function focusFirst() {
    const target = document.querySelector("[autofocus]");
    if (!target) return;
    if (document.activeElement !== target) target.focus();
    if (!target.value || typeof target.setSelectionRange !== "function") return;
    try {
      target.setSelectionRange(target.value.length, target.value.length);
    } catch (error) {
      /* a field type without a caret (number, email): the focus is enough */
    }
  }

  // A second Enter while the first submission is on its way would post the form twice. The
  // server's Idempotency-Key makes that harmless; this keeps the screen calm as well.
  function guardDoubleSubmit(form) {
    form.addEventListener("submit", (event) => {
      const code = form.querySelector("#code");
      if (code && !code.value.trim()) {
        event.preventDefault();
        code.focus();
        return;
      }
      if (form.dataset.sending) {
        event.preventDefault();
        return;
      }
      form.dataset.sending = "1";
      form.querySelectorAll("button[type=submit]").forEach((b) => { b.disabled = true; });
      // If the answer never comes (the navigation was stopped), the till must not stay locked.
      setTimeout(unlock, 15000);
    });
    function unlock() {
      delete form.dataset.sending;
      form.querySelectorAll("button[type=submit]").forEach((b) => { b.disabled = false; });
    }
    // Back/forward cache: a restored page must be usable again.
    window.addEventListener("pageshow", unlock);
  }

  // Camera -------------------------------------------------------------------------------

  async function cameraSupported() {
    if (!window.isSecureContext || !("BarcodeDetector" in window)) return false;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return false;
    try {
      const formats = await window.BarcodeDetector.getSupportedFormats();
      return formats.includes("qr_code");
    } catch (error) {
      return false;
    }
  }

  function setUpCamera(button) {
    const form = button.closest("form");
    const input = document.getElementById(button.dataset.cameraFor);
    const box = form.querySelector("[data-camera]");
    const video = box.querySelector("video");
    const status = box.querySelector("[data-camera-status]");
    let stream = null;
    let timer = null;

    function stop() {
      if (timer) clearTimeout(timer);
      timer = null;
      if (stream) stream.getTracks().forEach((track) => track.stop());
      stream = null;
      video.srcObject = null;
      box.hidden = true;
    }

    async function start() {
      const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
      box.hidden = false;
      status.textContent = "Starting the camera…";
      try {
        stream = await navigator.mediaDevices.getUserMedia({
          video: { facingMode: "environment" }, audio: false,
        });
      } catch (error) {
        status.textContent = "The camera is not available (" + error.name + "). Type the code instead.";
        return;
      }
      video.srcObject = stream;
      await video.play().catch(() => {});
      status.textContent = "Point the camera at the QR code.";
      const look = async () => {
        if (!stream) return;
        try {
          const found = await detector.detect(video);
          if (found.length && found[0].rawValue) {
            input.value = found[0].rawValue;
            stop();
            if (form.hasAttribute("data-camera-form")) form.requestSubmit();
            else (form.querySelector("button[type=submit]") || input).focus();
            return;
          }
        } catch (error) {
          /* the video is not ready yet: look again */
        }
        timer = setTimeout(look, 200);
      };
      look();
    }

    box.querySelector("[data-camera-stop]").addEventListener("click", () => {
      stop();
      input.focus();
    });
    button.addEventListener("click", () => (stream ? stop() : start()));
    window.addEventListener("pagehide", stop);
    button.hidden = false;
  }

  // The booth's offline queue ------------------------------------------------------------

  const QUEUE = "touchpoint.staff.scans.queue";
  const PARKED = "touchpoint.staff.scans.parked";
  const RETRY_MS = 15000;
  // The same shape as the server's list ("23 Nov 2026, 15:35"), in the device's time zone.
  const TIME_FORMAT = new Intl.DateTimeFormat("en-GB", {
    day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit",
  });
  const fallback = {}; // when localStorage refuses (private mode, quota): keep scans in memory

  function read(key) {
    if (fallback[key]) return fallback[key].slice();
    try {
      const items = JSON.parse(localStorage.getItem(key) || "[]");
      return Array.isArray(items) ? items : [];
    } catch (error) {
      return [];
    }
  }

  function write(key, items) {
    try {
      localStorage.setItem(key, JSON.stringify(items));
      delete fallback[key];
    } catch (error) {
      fallback[key] = items.slice();
      showState("This browser cannot store scans: stay online until 0 are waiting.");
    }
  }

  function removeFrom(key, scanId) {
    write(key, read(key).filter((item) => item.scan_id !== scanId));
  }

  function newScanId() {
    if (window.crypto.randomUUID) return window.crypto.randomUUID();
    // randomUUID needs a secure context; a booth on plain HTTP over the LAN still gets a v4.
    const b = window.crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" +
      h.slice(16, 20) + "-" + h.slice(20);
  }

  let stateText = "";
  function showState(text) {
    stateText = text;
    const el = document.getElementById("sync-state");
    if (el) el.textContent = text ? "— " + text : "";
  }

  function tag(li, text, kind) {
    let el = li.querySelector(".tag");
    if (!el) {
      el = document.createElement("span");
      li.appendChild(el);
    }
    el.className = "tag tag-" + kind;
    el.textContent = text;
  }

  function listItem(item) {
    const list = document.getElementById("recent-scans");
    let li = list.querySelector('li[data-scan-id="' + item.scan_id + '"]');
    if (!li) {
      const empty = list.querySelector("li.empty");
      if (empty) empty.remove();
      li = document.createElement("li");
      li.dataset.scanId = item.scan_id;
      const code = document.createElement("span");
      code.className = "scan-code mono";
      code.textContent = item.code;
      const when = document.createElement("span");
      when.className = "small";
      const extra = [TIME_FORMAT.format(new Date(item.scanned_at))];
      if (item.rating) extra.push("rating " + item.rating);
      if (item.note) extra.push(item.note);
      when.textContent = extra.join(" · ");
      li.append(code, document.createElement("span"), when);
      li.children[1].className = "tag";
      list.prepend(li);
    }
    return li;
  }

  function render() {
    const waiting = read(QUEUE);
    const box = document.getElementById("sync");
    box.hidden = false;
    box.classList.toggle("waiting", waiting.length > 0);
    document.getElementById("pending-count").textContent = String(waiting.length);
    if (!waiting.length && !stateText) showState("all sent");
    // Oldest first: each new row goes on top, so the newest scan ends up first.
    waiting.forEach((item) => tag(listItem(item), "waiting", "wait"));

    const parked = read(PARKED);
    const section = document.getElementById("parked");
    const list = document.getElementById("parked-list");
    section.hidden = parked.length === 0;
    list.replaceChildren(...parked.map((item) => {
      const li = document.createElement("li");
      const code = document.createElement("span");
      code.className = "scan-code mono";
      code.textContent = item.code;
      const why = document.createElement("span");
      why.textContent = item.error;
      const again = document.createElement("button");
      again.type = "button";
      again.textContent = "Send again";
      again.addEventListener("click", () => {
        removeFrom(PARKED, item.scan_id);
        const copy = Object.assign({}, item);
        delete copy.error;
        write(QUEUE, read(QUEUE).concat([copy]));
        render();
        sync();
      });
      const discard = document.createElement("button");
      discard.type = "button";
      discard.textContent = "Discard";
      discard.addEventListener("click", () => {
        removeFrom(PARKED, item.scan_id);
        const row = document.querySelector('#recent-scans li[data-scan-id="' + item.scan_id + '"]');
        if (row) row.remove();
        render();
      });
      li.append(code, why, again, discard);
      return li;
    }));
  }

  function payload(item) {
    const data = { scan_id: item.scan_id, scanned_at: item.scanned_at, code: item.code };
    // The booth it was scanned at: a phone signed in elsewhere by now gets a visible refusal.
    if (item.location) data.location = item.location;
    if (item.rating) data.rating = item.rating;
    if (item.note) data.note = item.note;
    return data;
  }

  // One item: "next" when it left the queue, "stop" when the rest should wait for later.
  async function send(api, item) {
    let response;
    try {
      response = await fetch(api, {
        method: "POST",
        credentials: "same-origin",
        cache: "no-store",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify(payload(item)),
      });
    } catch (error) {
      showState(navigator.onLine ? "cannot reach the server; will retry" : "offline; will retry");
      return "stop";
    }
    let answer = null;
    try {
      answer = await response.json();
    } catch (error) {
      answer = null; // not our JSON: a captive portal or a proxy page
    }
    const error = answer && answer.error;
    if ((response.status === 200 || response.status === 201) && answer &&
        answer.id === item.scan_id) {
      removeFrom(QUEUE, item.scan_id);
      // Who it was, in words (a name or an email), never the scanned token.
      const li = listItem(item);
      if (answer.who) li.querySelector(".scan-code").textContent = answer.who;
      tag(li, answer.who ? "matched" : "unknown badge – saved", answer.who ? "ok" : "plain");
      return "next";
    }
    if (response.status === 401) {
      showState("signed out: sign in again to send them (they are kept on this device)");
      return "stop";
    }
    if (error && error.code === "csrf_failed") {
      showState("this page is out of date: reload it to send them (they are kept)");
      return "stop";
    }
    const retryable = response.status >= 500 || response.status === 408 || response.status === 429;
    if (!retryable && response.status >= 400 && error && error.code) {
      removeFrom(QUEUE, item.scan_id);
      write(PARKED, read(PARKED).concat([Object.assign({}, item, { error: error.message })]));
      tag(listItem(item), "refused", "bad");
      return "next";
    }
    showState("server busy (" + response.status + "); will retry");
    return "stop";
  }

  let boothApi = null;
  let running = false;
  let again = false;

  // Send the queue in order; one run at a time (a call during a run asks for one more pass).
  async function sync() {
    if (!boothApi) return;
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      do {
        again = false;
        for (const item of read(QUEUE)) {
          showState("sending…");
          if ((await send(boothApi, item)) === "stop") return;
        }
        showState("all sent");
      } while (again);
    } finally {
      running = false;
      render();
    }
  }

  function setUpBooth(form) {
    const location = body.dataset.location || null;
    boothApi = form.dataset.api;

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const code = form.elements.code.value.trim();
      if (!code) {
        form.elements.code.focus();
        return;
      }
      const rating = form.querySelector("input[name=rating]:checked");
      const note = form.elements.note.value.trim();
      const item = {
        scan_id: newScanId(),
        scanned_at: new Date().toISOString(),
        code: code,
        rating: rating && rating.value ? Number(rating.value) : null,
        note: note || null,
        location: location,
      };
      write(QUEUE, read(QUEUE).concat([item])); // stored before anything is sent
      form.reset();
      const old = document.getElementById("result");
      if (old) old.remove();
      stateText = "";
      render();
      form.elements.code.focus();
      sync();
    });

    document.getElementById("sync-now").addEventListener("click", () => sync());
    window.addEventListener("online", () => sync());
    window.addEventListener("storage", (event) => {
      if (event.key === QUEUE || event.key === PARKED) render();
    });
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") sync();
    });
    setInterval(sync, RETRY_MS);
    render();
    sync();

    // So this page opens again without network (a reload in a hall with no signal).
    if ("serviceWorker" in navigator && window.isSecureContext) {
      navigator.serviceWorker.register(form.dataset.sw).catch(() => {});
    }
  }

  // A phone's camera app opened the sign-in sheet's QR code: /staff#key=tps_…. The key is in
  // the fragment, which no server or proxy log sees; it leaves the address bar at once.
  function signInFromSheet() {
    const found = /^#key=(tps_[A-Za-z0-9_-]+)$/.exec(window.location.hash);
    const input = document.getElementById("key");
    if (!found || !input) return;
    history.replaceState(null, "", window.location.pathname);
    input.value = found[1];
    input.form.submit();
  }

  // Start --------------------------------------------------------------------------------

  function start() {
    focusFirst();
    document.querySelectorAll("form[data-once]").forEach(guardDoubleSubmit);
    cameraSupported().then((ok) => {
      if (ok) document.querySelectorAll("[data-camera-for]").forEach(setUpCamera);
    });
    if (page === "signin" && window.caches) {
      // Signed out: the booth page copy kept for offline use must not outlive the session.
      window.caches.delete("touchpoint-staff-v1").catch(() => {});
    }
    if (page === "signin") signInFromSheet();
    const booth = document.getElementById("scan-form");
    if (booth) setUpBooth(booth);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
