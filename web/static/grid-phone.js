// The grid worker's phone page: tabs, a check-in opened under the tapped visit or cell and sent
// without reloading (its result and errors shown in it), check-ins made offline kept in
// localStorage and sent once when the connection returns, a map that lets one finger scroll
// the page until "Use map" is pressed, and the service worker that keeps the page for a weak
// connection. Without scripts the page still works: every tab is shown and the form posts.
(function () {
  "use strict";
  var app = document.getElementById("grid-app");
  if (!app) { return; }
  var QUEUE_KEY = "grid-checkin-queue";
  var CACHE = "grid-shell-v1";  // as in web/static/grid-sw.js
  var text = app.dataset;
  var loadedAt = Date.now();
  var form = document.getElementById("checkin-form");
  var card = document.getElementById("checkin");
  var errorsBox = document.getElementById("checkin-errors");
  var result = document.getElementById("checkin-result");
  var hereButton = document.getElementById("checkin-here");
  var home = card.parentNode;
  var homeNext = card.nextSibling;
  var tappedRow = null;
  // The check-in's place under a tapped row of the Tasks table.
  var tableRow = document.createElement("tr");
  tableRow.className = "checkin-row";
  tableRow.appendChild(document.createElement("td")).colSpan = 4;

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (all, key) {
      return values[key] === undefined ? all : String(values[key]);
    });
  }

  function newClientId() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  // Now on the server's clock (it may run "as of" a set moment), in the city's time zone.
  function localNow() {
    var now = new Date(Number(text.nowS) * 1000 + (Date.now() - loadedAt));
    var parts = {};
    new Intl.DateTimeFormat("en-GB", {
      timeZone: text.timezone, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", hourCycle: "h23"
    }).formatToParts(now).forEach(function (p) { parts[p.type] = p.value; });
    return parts.year + "-" + parts.month + "-" + parts.day + "T" + parts.hour + ":" + parts.minute;
  }

  // --- tabs ---------------------------------------------------------------------------
  var tabs = Array.prototype.slice.call(document.querySelectorAll("#grid-tabs [data-tab]"));
  var panels = Array.prototype.slice.call(document.querySelectorAll("[data-tab-panel]"));

  function showTab(name) {
    tabs.forEach(function (tab) { tab.setAttribute("aria-selected", String(tab.dataset.tab === name)); });
    panels.forEach(function (panel) { panel.hidden = panel.dataset.tabPanel !== name; });
  }

  function tabOfHash() {
    var id = location.hash.slice(1);
    var target = id && document.getElementById(id);
    var panel = target && target.closest("[data-tab-panel]");
    return panel ? panel.dataset.tabPanel : null;
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest("[data-tab], [data-tab-link]");
    if (!link) { return; }
    event.preventDefault();
    var name = link.dataset.tab || link.dataset.tabLink;
    showTab(name);
    history.replaceState(null, "", "#tab-" + name);
    var target = link.dataset.warningLink && document.getElementById("warning-" + link.dataset.warningLink);
    if (target) { target.scrollIntoView({ block: "start" }); }
    else if (link.dataset.tabLink) { document.getElementById("grid-tabs").scrollIntoView({ block: "start" }); }
  });
  showTab(tabOfHash() || text.defaultTab);

  // --- the check-in -------------------------------------------------------------------
  // Bring a message into view once the page has settled (after the tap's own scrolling).
  function reveal(element) {
    requestAnimationFrame(function () { element.scrollIntoView({ block: "nearest" }); });
  }

  function showErrors(messages) {
    errorsBox.innerHTML = "";
    messages.forEach(function (message) {
      var p = document.createElement("p");
      p.textContent = message;
      errorsBox.appendChild(p);
    });
    errorsBox.hidden = messages.length === 0;
    if (messages.length) { reveal(errorsBox); }
  }

  function showResult(message, kind) {
    form.dataset.state = kind || (message ? "sending" : "");
    result.textContent = message;
    result.className = "checkin-result" + (kind ? " " + kind : "");
    result.hidden = !message;
    if (message) { reveal(result); }
  }

  function openCheckin(link) {
    var cell = link ? link.dataset.checkinCell : "";
    var select = document.getElementById("checkin-cell");
    if (cell) { select.value = cell; }
    document.getElementById("checkin-time").value = localNow();
    document.getElementById("checkin-client-id").value = newClientId();
    ["lon", "lat", "accuracy"].forEach(function (k) { document.getElementById("checkin-" + k).value = ""; });
    document.getElementById("checkin-visit").textContent = link && link.dataset.visitTime
      ? fill(text.textVisit, { time: link.dataset.visitTime, unit: link.dataset.visitUnit }) : "";
    showErrors([]);
    showResult("");
    if (tappedRow) { tappedRow.classList.remove("tapped"); }
    var row = link ? link.closest("li.visit, tr.visit") : null;
    tappedRow = row && row.matches("li.visit") ? row : null;
    if (tappedRow) { tappedRow.classList.add("tapped"); }
    // Open right under the finger: in the tapped row of the first screen, in a table row
    // under a tapped task, after a cell's button; else in its own place.
    if (tableRow.parentNode) { tableRow.parentNode.removeChild(tableRow); }
    if (tappedRow) { tappedRow.appendChild(card); }
    else if (row) { tableRow.firstChild.appendChild(card); row.after(tableRow); }
    else if (link && link.closest("details")) { link.after(card); }
    else { home.insertBefore(card, homeNext); }
    card.hidden = false;
    card.scrollIntoView({ block: "nearest" });
    (hereButton.hidden ? document.getElementById("checkin-submit") : hereButton).focus({ preventScroll: true });
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest("[data-checkin-cell]");
    if (!link) { return; }
    event.preventDefault();
    openCheckin(link);
  });

  function fields() {
    var data = {};
    new FormData(form).forEach(function (value, key) { data[key] = String(value); });
    return data;
  }

  function body(data, token) {
    var sent = new FormData();
    Object.keys(data).forEach(function (key) { sent.append(key, data[key]); });
    if (token) { sent.set("csrf_token", token); }
    return sent;
  }

  // Answers: {kind: "json", status, data} or {kind: "other"} (a login page, an expired form).
  function post(data, token) {
    return fetch(text.checkinUrl, {
      method: "POST", body: body(data, token), credentials: "same-origin",
      headers: { "Accept": "application/json" }
    }).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      if (type.indexOf("application/json") === -1) { return { kind: "other", status: response.status }; }
      return response.json().then(function (json) { return { kind: "json", status: response.status, data: json }; });
    });
  }

  function markDone(cell) {
    var taskRow = tableRow.previousElementSibling;
    if (tableRow.parentNode && taskRow && taskRow.dataset.visitCell === cell) { taskRow.classList.add("done"); }
    if (!tappedRow || tappedRow.dataset.visitCell !== cell) { return; }
    tappedRow.classList.remove("next", "pending", "missed", "tapped");
    tappedRow.classList.add("done");
  }

  function send(data) {
    showErrors([]);
    showResult(text.textSending);
    if (!navigator.onLine) { queue(data); return; }
    post(data).then(function (answer) {
      if (answer.kind !== "json") { showResult(""); showErrors([text.textFailed]); return; }
      if (answer.data.ok) {
        markDone(data.cell);
        showResult(answer.data.message, "done");
        document.getElementById("checkin-client-id").value = newClientId();
      } else {
        showResult("");
        showErrors(answer.data.errors || [text.textFailed]);
        form.dataset.state = "refused";
      }
    }, function () {
      queue(data);  // no connection after all
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    send(fields());
  });

  hereButton.hidden = !navigator.geolocation;
  document.getElementById("checkin-here-hint").hidden = hereButton.hidden;
  hereButton.addEventListener("click", function () {
    if (!form.reportValidity()) { return; }
    showErrors([]);
    showResult(text.textLocating);
    navigator.geolocation.getCurrentPosition(function (position) {
      var c = position.coords;
      document.getElementById("checkin-lat").value = c.latitude.toFixed(6);
      document.getElementById("checkin-lon").value = c.longitude.toFixed(6);
      document.getElementById("checkin-crs").value = "wgs84";  // browsers give WGS-84
      document.getElementById("checkin-accuracy").value = String(Math.round(c.accuracy));
      send(fields());
    }, function () {
      showResult("");
      showErrors([text.textNoPosition]);
    }, { enableHighAccuracy: true, timeout: 20000, maximumAge: 0 });  // where the phone is now
  });

  // --- check-ins made offline ---------------------------------------------------------
  function readQueue() {
    try { return JSON.parse(localStorage.getItem(QUEUE_KEY) || "[]"); } catch (e) { return []; }
  }

  function writeQueue(items) { localStorage.setItem(QUEUE_KEY, JSON.stringify(items)); }

  function mine(items) { return items.filter(function (item) { return item.user === text.user; }); }

  function showQueue(message) {
    var box = document.getElementById("queue-status");
    var waiting = mine(readQueue()).length;
    box.textContent = message || (waiting ? fill(text.textWaiting, { n: waiting }) : "");
    box.hidden = !box.textContent;
  }

  function queue(data) {
    var items = readQueue();
    var known = items.some(function (item) { return item.data.client_id === data.client_id; });
    if (!known) { items.push({ user: text.user, data: data }); writeQueue(items); }
    markDone(data.cell);
    document.getElementById("checkin-client-id").value = newClientId();
    showQueue();
    showResult(text.textQueued, "queued");
  }

  function freshToken() {
    return fetch(text.tokenUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : {}; })
      .then(function (json) { return json.csrf_token || null; }, function () { return null; });
  }

  function forget(clientId) {
    writeQueue(readQueue().filter(function (item) { return item.data.client_id !== clientId; }));
  }

  var flushing = false;
  // Each queued check-in is sent until the server answers it (stored, stored already, or
  // refused); its client id makes a second sending of one check-in the same stored row.
  function flush() {
    if (flushing || !navigator.onLine) { return; }
    var items = mine(readQueue());
    if (!items.length) { showQueue(); return; }
    flushing = true;
    var sent = 0;
    var refused = [];
    var token = null;
    var chain = Promise.resolve();
    items.forEach(function (item) {
      chain = chain.then(function () {
        return post(item.data, token).then(function (answer) {
          if (answer.kind === "json") { return answer; }
          // The saved page's form token expired (a new login): ask for a fresh one, once.
          return freshToken().then(function (fresh) {
            token = fresh;
            return fresh ? post(item.data, token) : answer;
          });
        }).then(function (answer) {
          if (answer.kind !== "json") { return; }  // not answered: kept for the next time
          forget(item.data.client_id);
          if (answer.data.ok) { sent += 1; } else { refused = refused.concat(answer.data.errors || []); }
        });
      });
    });
    chain.catch(function () { return null; }).then(function () {
      flushing = false;
      var message = sent ? fill(text.textSentLater, { n: sent }) : "";
      if (refused.length) { message += (message ? " " : "") + text.textRefusedLater + " " + refused.join(" "); }
      showQueue(message);
    });
  }

  function connection() {
    document.getElementById("offline-banner").hidden = navigator.onLine;
    if (navigator.onLine) { flush(); }
  }
  window.addEventListener("online", connection);
  window.addEventListener("offline", connection);

  // --- first view ---------------------------------------------------------------------
  var params = new URLSearchParams(location.search);
  var asked = params.get("cell");
  var sentBack = !errorsBox.hidden;
  if (sentBack) {
    card.scrollIntoView({ block: "nearest" });
  } else if (asked) {
    var link = document.querySelector('#now-visits [data-checkin-cell="' + CSS.escape(asked) + '"]');
    openCheckin(link || { dataset: { checkinCell: asked } , closest: function () { return null; } });
  } else {
    card.hidden = true;
  }
  connection();
  showQueue();

  // --- the map lets the page scroll ---------------------------------------------------
  var toggle = document.getElementById("map-toggle");
  var element = document.querySelector("#grid-map .folium-map");
  var map = element && window.L && window[element.id] instanceof L.Map ? window[element.id] : null;
  var handlers = ["dragging", "touchZoom", "scrollWheelZoom", "doubleClickZoom", "boxZoom", "keyboard"];
  function useMap(on) {
    handlers.forEach(function (name) {
      if (map[name]) { if (on) { map[name].enable(); } else { map[name].disable(); } }
    });
    toggle.setAttribute("aria-pressed", String(on));
    toggle.textContent = on ? toggle.dataset.off : toggle.dataset.on;
  }
  if (map && toggle) {
    useMap(false);
    toggle.hidden = false;
    toggle.addEventListener("click", function () { useMap(toggle.getAttribute("aria-pressed") !== "true"); });
  }
  // A tap on one of my cells opens its check-in, pre-filled (not while reporting: then the
  // tap places the report, grid-report.js).
  if (map) {
    var reports = document.querySelector('[data-tab-panel="reports"]');
    map.eachLayer(function (layer) {
      if (!layer.feature || !layer.feature.properties || !layer.feature.properties.hex) { return; }
      layer.on("click", function () {
        if (reports && !reports.hidden) { return; }
        var hex = layer.feature.properties.hex;
        var link = document.querySelector('#now-visits [data-checkin-cell="' + CSS.escape(hex) + '"]');
        openCheckin(link || { dataset: { checkinCell: hex }, closest: function () { return null; } });
      });
    });
  }

  // --- the service worker: the page and its files for a weak connection ----------------
  function cacheShell() {
    if (!window.caches) { return Promise.resolve(); }
    var urls = [text.scope];
    performance.getEntriesByType("resource").forEach(function (entry) {
      var url = new URL(entry.name, location.href);
      if (url.origin === location.origin && url.pathname.indexOf("/static/") === 0) { urls.push(url.pathname + url.search); }
    });
    return caches.open(CACHE).then(function (cache) {
      return Promise.all(urls.map(function (url) {
        return fetch(url, { credentials: "same-origin" }).then(function (response) {
          if (response.ok && !response.redirected) { return cache.put(url, response); }
          return null;
        });
      }));
    });
  }

  if ("serviceWorker" in navigator && navigator.onLine) {
    navigator.serviceWorker.register(text.swUrl, { scope: text.scope })
      .then(function () { return navigator.serviceWorker.ready; })
      .then(cacheShell)
      .then(function () { document.body.dataset.offlineReady = "1"; })
      .catch(function () { return null; });  // no service worker: the page works online
  } else if ("serviceWorker" in navigator && navigator.serviceWorker.controller) {
    document.body.dataset.offlineReady = "1";
  }

  // Logging out forgets the saved page (not the queue: its check-ins carry their account).
  var logout = document.getElementById("logout");
  if (logout && window.caches) {
    logout.form.addEventListener("submit", function () { caches.delete(CACHE); });
  }
}());
