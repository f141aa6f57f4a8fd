// The commanders' live view (web/templates/commander/live.html): asks /command/live.json for
// incidents stored since the last import run it saw and the reports waiting for review, every
// few seconds, without reloading the page; outlines the cells of new ones on the map; sends
// accept / reject (with a reason) with the page's CSRF token. Text from the server is only ever
// set as textContent. Loaded with `defer`: the folium map's inline script has run by then.
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("live-config").textContent);
  var L_ = cfg.labels;
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  var element = document.querySelector("#map-panel .folium-map");
  var map = element && window.L && window[element.id] instanceof L.Map ? window[element.id] : null;
  var highlights = map ? L.layerGroup().addTo(map) : null;
  var waitingCells = map ? L.layerGroup().addTo(map) : null;
  var run = null;
  var seenReports = {};
  var firstLoad = true;

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function shortTime(iso) { return iso ? iso.slice(0, 16).replace("T", " ") : ""; }

  function outline(ring, layer, colour, tooltip) {
    if (!map || !ring) { return; }
    var polygon = L.polygon(ring, { color: colour, weight: 3, fillColor: colour, fillOpacity: 0.25 });
    if (tooltip) { polygon.bindTooltip(el("span", null, tooltip)); }
    polygon.addTo(layer);
  }

  function incidentItem(incident, isNew) {
    var li = el("li", isNew ? "new" : "");
    li.dataset.incidentId = incident.id;
    if (isNew) { li.appendChild(el("span", "tag new", L_["new"])); li.appendChild(document.createTextNode(" ")); }
    li.appendChild(el("strong", null, incident.category_name));
    if (incident.source === "field") { li.appendChild(el("span", "tag", L_.field)); }
    var meta = el("div", "meta", shortTime(incident.occurred_at) + " · ");
    var source = el("span", "source", incident.source);  // a feed's name: data, not interface
    source.setAttribute("translate", "no");
    meta.appendChild(source);
    li.appendChild(meta);
    var cell = el("div", "cell", incident.cell_name || incident.cell);
    if (incident.cell_name && incident.cell_name !== incident.cell) {
      cell.appendChild(el("span", "hex", " " + incident.cell));
    }
    li.appendChild(cell);
    return li;
  }

  function reportHead(report, li) {
    li.appendChild(el("strong", null, report.category_name));
    var meta = shortTime(report.occurred_at) + " · " + L_.by + " " + report.reporter;
    if (report.accuracy_m !== null && report.accuracy_m !== undefined) {
      meta += " · " + L_.accuracy.replace("{m}", String(Math.round(report.accuracy_m)));
    }
    li.appendChild(el("div", "meta", meta));
    if (report.note) { li.appendChild(el("div", "note", report.note)); }
    li.appendChild(el("div", "cell", report.cell));
  }

  function review(report, form, decision) {
    var reason = form.querySelector("input[name=reason]");
    var error = form.querySelector(".error");
    if (decision === "reject" && !reason.value.trim()) {
      error.textContent = L_.reasonRequired;
      reason.focus();
      return;
    }
    var body = new FormData();
    body.append("decision", decision);
    body.append("reason", reason.value);
    form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
    fetch(cfg.reviewUrl.replace("/ID/", "/" + report.id + "/"), {
      method: "POST", body: body, credentials: "same-origin",
      headers: { "X-CSRFToken": csrf, "Accept": "application/json" }
    }).then(function (response) {
      return response.json().then(function (answer) { return { ok: response.ok, answer: answer }; });
    }).then(function (result) {
      if (!result.ok) {
        error.textContent = result.answer.error || L_.failed;
        form.querySelectorAll("button").forEach(function (b) { b.disabled = false; });
        return;
      }
      refresh();
    }).catch(function () {
      error.textContent = L_.failed;
      form.querySelectorAll("button").forEach(function (b) { b.disabled = false; });
    });
  }

  function waitingItem(report, isNew) {
    var li = el("li", isNew ? "new" : "");
    li.dataset.reportId = String(report.id);
    if (isNew) { li.appendChild(el("span", "tag new", L_["new"])); li.appendChild(document.createTextNode(" ")); }
    reportHead(report, li);
    if (cfg.canReview) {
      var form = el("form", "review");
      var reason = el("input");
      reason.type = "text";
      reason.name = "reason";
      reason.maxLength = 300;
      reason.placeholder = L_.reason;
      reason.setAttribute("aria-label", L_.reason);
      var accept = el("button", "primary accept", L_.accept);
      accept.type = "button";
      var reject = el("button", "reject", L_.reject);
      reject.type = "button";
      form.appendChild(reason);
      form.appendChild(accept);
      form.appendChild(reject);
      form.appendChild(el("span", "error"));
      accept.addEventListener("click", function () { review(report, form, "accept"); });
      reject.addEventListener("click", function () { review(report, form, "reject"); });
      form.addEventListener("submit", function (event) { event.preventDefault(); });
      li.appendChild(form);
    }
    return li;
  }

  function reviewedItem(report) {
    var li = el("li");
    li.appendChild(el("span", "tag " + report.status, report.status_label));
    li.appendChild(document.createTextNode(" "));
    reportHead(report, li);
    if (report.reason) { li.appendChild(el("div", "meta", report.reason)); }
    return li;
  }

  function showWaiting(reports) {
    var list = document.getElementById("waiting-list");
    var keep = {};
    reports.forEach(function (r) { keep[String(r.id)] = true; });
    Array.prototype.slice.call(list.children).forEach(function (li) {
      if (!keep[li.dataset.reportId]) { list.removeChild(li); }
    });
    var present = {};
    Array.prototype.forEach.call(list.children, function (li) { present[li.dataset.reportId] = li; });
    // Newest first; items already shown stay as they are (a reason being typed is kept).
    var before = list.firstChild;
    reports.forEach(function (r) {
      var id = String(r.id);
      if (present[id]) { before = present[id].nextSibling; return; }
      var isNew = !firstLoad && !seenReports[id];
      list.insertBefore(waitingItem(r, isNew), before);
      if (isNew) { outline(r.ring, highlights, "#c62828", r.category_name); }
    });
    reports.forEach(function (r) { seenReports[String(r.id)] = true; });
    if (waitingCells) {
      waitingCells.clearLayers();
      reports.forEach(function (r) { outline(r.ring, waitingCells, "#f57c00", r.category_name); });
    }
    document.getElementById("waiting-count").textContent = "(" + reports.length + ")";
    var empty = document.getElementById("waiting-empty");
    if (!reports.length && !empty) {
      empty = el("p", "muted", L_.noWaiting);
      empty.id = "waiting-empty";
      list.parentNode.appendChild(empty);
    } else if (reports.length && empty) {
      empty.parentNode.removeChild(empty);
    }
  }

  function showIncidents(incidents) {
    var list = document.getElementById("incident-list");
    var before = list.firstChild;
    incidents.forEach(function (incident) {
      var old = list.querySelector('[data-incident-id="' + incident.id + '"]');
      if (old) { list.removeChild(old); }  // a changed incident moves to the top
      list.insertBefore(incidentItem(incident, !firstLoad), before);
      if (!firstLoad) { outline(incident.ring, highlights, "#c62828", incident.category_name); }
    });
    while (list.children.length > 100) { list.removeChild(list.lastChild); }
    if (!list.children.length && !document.getElementById("incidents-empty")) {
      var empty = el("p", "muted", L_.noIncidents);
      empty.id = "incidents-empty";
      list.parentNode.appendChild(empty);
    } else if (list.children.length) {
      var shown = document.getElementById("incidents-empty");
      if (shown) { shown.parentNode.removeChild(shown); }
    }
  }

  function showReviewed(reports) {
    var list = document.getElementById("reviewed-list");
    while (list.firstChild) { list.removeChild(list.firstChild); }
    reports.forEach(function (r) { list.appendChild(reviewedItem(r)); });
  }

  var timer = null;
  var busy = false;

  function refresh() {
    if (timer) { clearTimeout(timer); timer = null; }
    if (busy) { return; }
    busy = true;
    var url = cfg.url + (run === null ? "" : "?after=" + encodeURIComponent(run));
    var status = document.getElementById("live-status");
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.json();
      })
      .then(function (data) {
        showIncidents(data.incidents);
        showWaiting(data.waiting);
        showReviewed(data.reviewed);
        run = data.run;
        firstLoad = false;
        status.textContent = L_.updated.replace("{time}", new Date().toLocaleTimeString());
        document.body.dataset.liveRun = String(run);
      })
      .catch(function () { status.textContent = L_.failed; })
      .then(function () {
        busy = false;
        timer = setTimeout(refresh, cfg.pollMs);
      });
  }

  refresh();
}());
