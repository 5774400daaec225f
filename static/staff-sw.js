/* Service worker for the booth page, served as /staff/sw.js (scope /staff/).

   Its only job: the booth page and its two files open again when the network is gone, so a
   reload in a hall without signal still shows the waiting scans (they live in localStorage;
   staff.js sends them when the network is back). Network first, so a deploy or a new sign-in
   is picked up at once; the copy is used only when the network fails or hangs. Nothing else
   is touched: POSTs and every other page go straight to the network. */
"use strict";

const CACHE = "touchpoint-staff-v1"; // staff.js deletes it on the sign-in page
const SCOPE = self.registration.scope; // ".../staff/", so this works under a path prefix too
const PAGE = new URL("scan", SCOPE).href;
const ASSETS = [new URL("../static/staff.css", SCOPE).href, new URL("../static/staff.js", SCOPE).href];
const NETWORK_WAIT_MS = 5000; // "lie-fi": a request that hangs is as good as no network

function cacheable(response) {
  return response.ok && response.type === "basic" && !response.redirected;
}

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await Promise.all([PAGE, ...ASSETS].map(async (url) => {
      try {
        const response = await fetch(url, { credentials: "same-origin", cache: "no-store", redirect: "manual" });
        if (cacheable(response)) await cache.put(url, response);
      } catch (error) {
        /* offline while installing: the next page load fills the cache */
      }
    }));
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil(self.clients.claim());
});

function withinTime(promise) {
  return Promise.race([
    promise,
    new Promise((resolve, reject) => setTimeout(() => reject(new Error("timeout")), NETWORK_WAIT_MS)),
  ]);
}

async function networkFirst(request, key) {
  const cache = await caches.open(CACHE);
  try {
    const response = await withinTime(fetch(request));
    if (cacheable(response)) await cache.put(key, response.clone());
    return response;
  } catch (error) {
    const copy = await cache.match(key, { ignoreVary: true });
    if (copy) return copy;
    throw error;
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  url.search = "";
  url.hash = "";
  const key = url.href;
  const ours = request.mode === "navigate" ? key === PAGE : ASSETS.includes(key);
  if (ours) event.respondWith(networkFirst(request, key));
});
