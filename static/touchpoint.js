/*
 * touchpoint.js: carry Touchpoint's click id from the landing URL into your site's forms.
 *
 *   <script src="https://go.example.com/static/touchpoint.js" defer></script>
 *
 * Optional attributes on the script tag:
 *   data-param="tp_cid"  query parameter and form field name (match TOUCHPOINT_CLICK_ID_PARAM)
 *   data-days="30"       how long the click id is remembered, in days
 *
 * It reads the click id from the landing URL, keeps it in a first-party cookie, and adds it as
 * a hidden input to every form when the page loads and again when a form is submitted, so the
 * form handler can pass it to POST /api/v1/conversions as "click_id". No dependencies, no
 * network requests. window.Touchpoint.clickId() returns the current value (or null).
 */
(function () {
  "use strict";
  var script = document.currentScript;
  var attr = function (name, fallback) {
    var value = script && script.getAttribute(name);
    return value ? value : fallback;
  };
  var param = attr("data-param", "tp_cid");
  var days = parseFloat(attr("data-days", "30"));
  if (!(days > 0)) days = 30;
  var cookieName = param;
  var valid = /^[A-Za-z0-9_-]{8,64}$/;

  // A click id only if the text decodes and has the shape Touchpoint mints. A malformed
  // %-escape (a mangled link, a stray cookie) must not throw: the script would stop there.
  function checked(encoded) {
    try {
      var value = decodeURIComponent(encoded);
    } catch (e) {
      return null;
    }
    return valid.test(value) ? value : null;
  }

  function readCookie() {
    var parts = document.cookie ? document.cookie.split("; ") : [];
    for (var i = 0; i < parts.length; i++) {
      var eq = parts[i].indexOf("=");
      if (parts[i].slice(0, eq) === cookieName) {
        return checked(parts[i].slice(eq + 1));
      }
    }
    return null;
  }

  function remember(value) {
    var cookie = cookieName + "=" + encodeURIComponent(value) +
      "; Max-Age=" + Math.round(days * 86400) + "; Path=/; SameSite=Lax";
    if (location.protocol === "https:") cookie += "; Secure";
    document.cookie = cookie;
  }

  function fromUrl() {
    var match = new RegExp("[?&]" + param + "=([^&#]*)").exec(location.search);
    if (!match) return null;
    return checked(match[1].replace(/\+/g, " "));
  }

  var landed = fromUrl();
  if (landed) remember(landed);

  function clickId() {
    return landed || readCookie();
  }

  function stamp(form) {
    var value = clickId();
    if (!value || !form || form.nodeName !== "FORM") return;
    var input = form.querySelector('input[name="' + param + '"]');
    if (!input) {
      input = document.createElement("input");
      input.type = "hidden";
      input.name = param;
      form.appendChild(input);
    }
    if (!input.value) input.value = value;
  }

  function stampAll() {
    var forms = document.forms;
    for (var i = 0; i < forms.length; i++) stamp(forms[i]);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", stampAll);
  } else {
    stampAll();
  }
  // Forms added later (single-page apps, pop-ups) get the field when they are submitted.
  document.addEventListener("submit", function (event) { stamp(event.target); }, true);

  window.Touchpoint = { clickId: clickId, stamp: stamp };
})();
