// The crew app's service worker: the app's shell is kept so that it opens without signal. The
// API is never cached (assignments and actions go to the network, or wait in IndexedDB).
const SHELL = "samu-crew-v2";
const FILES = ["/crew", "/assets/ids.js", "/assets/crew.js", "/assets/crew.css", "/crew/manifest.webmanifest", "/assets/crew-icon.svg"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(SHELL).then((cache) => cache.addAll(FILES)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((key) => key !== SHELL).map((key) => caches.delete(key))))
    .then(() => self.clients.claim()));
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.pathname.startsWith("/api/")) return;
  if (!FILES.includes(url.pathname)) return;
  // The network first (a new version of the app), the kept copy without signal. Only a good answer
  // replaces the kept copy: a proxy's 502 while the console restarts must not become the app the
  // crew opens without signal (it gets the kept copy instead).
  event.respondWith(fetch(event.request).then((response) => {
    if (!response.ok) return caches.match(event.request).then((kept) => kept || response);
    const copy = response.clone();
    caches.open(SHELL).then((cache) => cache.put(event.request, copy));
    return response;
  }).catch(() => caches.match(event.request)));
});
