// The grid pages' service worker, served as /grid/sw.js (scope /grid/) by web/views/grid.py.
// It keeps the grid worker's page and the site's files it loads (the page's script puts them
// in the cache after each load): the page comes from the network when it answers within
// PAGE_WAIT_MS, else (offline, a weak connection) from the cache; files come from the cache
// and are refreshed behind. Check-ins are never cached: the page queues them itself.
"use strict";
var CACHE = "grid-shell-v1";  // as in web/static/grid-phone.js
var PAGE_WAIT_MS = 6000;

self.addEventListener("install", function () { self.skipWaiting(); });

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (name) {
      return name.indexOf("grid-shell-") === 0 && name !== CACHE;
    }).map(function (name) { return caches.delete(name); }));
  }).then(function () { return self.clients.claim(); }));
});

function homePath() { return new URL(self.registration.scope).pathname; }

function fromCache(key) {
  return caches.open(CACHE).then(function (cache) { return cache.match(key, { ignoreSearch: true }); });
}

function page(request) {
  var network = fetch(request).then(function (response) {
    if (response.ok && !response.redirected && response.type === "basic") {
      var copy = response.clone();
      caches.open(CACHE).then(function (cache) { return cache.put(homePath(), copy); });
    }
    return response;
  });
  var late = new Promise(function (resolve) { setTimeout(resolve, PAGE_WAIT_MS); })
    .then(function () { return fromCache(homePath()); })
    .then(function (cached) { return cached || network; });
  return Promise.race([network, late]).catch(function () {
    return fromCache(homePath()).then(function (cached) { return cached || Response.error(); });
  });
}

function file(request) {
  return fromCache(request).then(function (cached) {
    var network = fetch(request).then(function (response) {
      if (response.ok && response.type === "basic") {
        var copy = response.clone();
        caches.open(CACHE).then(function (cache) { return cache.put(request, copy); });
      }
      return response;
    });
    if (cached) { network.catch(function () { return null; }); return cached; }
    return network;
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") { return; }
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) { return; }
  if (request.mode === "navigate" && url.pathname === homePath()) {
    event.respondWith(page(request));
  } else if (url.pathname.indexOf("/static/") === 0) {
    event.respondWith(file(request));
  }
});
