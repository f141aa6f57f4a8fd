/* The hotspot map's cells, drawn in the browser.
 *
 * The page sends H3 cell ids with their values as parallel arrays (no polygons); this file
 * turns them into hexagons with h3-js (h3.cellToBoundary) in one canvas-rendered L.geoJSON
 * layer. When more than maxCells cells with a value are in view, or the map is zoomed out,
 * cells are merged into their parents (counts summed, scores by their maximum). It also
 * draws the Gi* and emerging hot spot layers, fills the heat layer, keeps the legend and the
 * statistics panel, runs the time slider (refetching cells.json) and shows a clicked cell's
 * explanation (cell/<hex>). Needs Leaflet, h3-js and leaflet.heat, all served locally.
 */
(function () {
  "use strict";

  var COLOURS = ["#ffffcc", "#ffeda0", "#feb24c", "#fd8d3c", "#f03b20", "#bd0026"];
  var GI_COLOURS = { "3": "#d62f27", "2": "#ed7551", "1": "#fab984",
                     "-1": "#c0ccbe", "-2": "#849eba", "-3": "#4575b5" };
  var EMERGING_COLOURS = {
    "new hot spot": "#fdd0a2", "consecutive hot spot": "#fdae6b", "intensifying hot spot": "#b30000",
    "persistent hot spot": "#e34a33", "diminishing hot spot": "#fc8d59", "sporadic hot spot": "#fee8c8",
    "oscillating hot spot": "#d7b5d8", "historical hot spot": "#8c6d31",
    "new cold spot": "#c6dbef", "consecutive cold spot": "#9ecae1", "intensifying cold spot": "#08519c",
    "persistent cold spot": "#3182bd", "diminishing cold spot": "#6baed6", "sporadic cold spot": "#deebf7",
    "oscillating cold spot": "#bcbddc", "historical cold spot": "#636363"
  };

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function fmt(value, digits) {
    if (value === null || value === undefined || isNaN(value)) { return "–"; }
    var d = digits === undefined ? 3 : digits;
    return Math.abs(value) >= 1000 ? Math.round(value).toLocaleString() : Number(value.toPrecision(d)).toString();
  }

  // --- dates of the time slider (local calendar dates as YYYY-MM-DD, computed in UTC) ------

  function parseDay(text) { var p = text.split("-"); return Date.UTC(+p[0], +p[1] - 1, +p[2]); }
  function dayText(ms) { return new Date(ms).toISOString().slice(0, 10); }
  var DAY_MS = 86400000;

  function sliderEnds(first, last, step) {
    // End dates from the newest day backwards, one week or one calendar month apart.
    var ends = [];
    var firstMs = parseDay(first);
    if (step === "month") {
      var d = new Date(parseDay(last) + DAY_MS);  // the day after the last one
      var monthStart = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
      if (monthStart < d.getTime()) { ends.push(dayText(parseDay(last))); }
      while (monthStart - DAY_MS >= firstMs) {
        ends.push(dayText(monthStart - DAY_MS));
        var m = new Date(monthStart);
        monthStart = Date.UTC(m.getUTCFullYear(), m.getUTCMonth() - 1, 1);
      }
    } else {
      for (var t = parseDay(last); t >= firstMs; t -= 7 * DAY_MS) { ends.push(dayText(t)); }
    }
    return ends.reverse();
  }

  // --- the map ---------------------------------------------------------------------------

  var HotspotMap = {};

  HotspotMap.init = function (map, control, heat, options) {
    var cfg = JSON.parse(document.getElementById(options.config).textContent);
    var L_ = cfg.labels;
    var renderer = L.canvas({ padding: 0.3 });
    var boundaries = new Map();
    var state = { data: null, start: null, end: null, emerging: null, drawnRes: null, selected: null };
    // Readable cell names (G061-12) from {area: [hex of number 1, 2, ...]}; the H3 id second.
    var names = new Map();
    Object.keys(options.names || {}).forEach(function (area) {
      options.names[area].forEach(function (hex, i) { if (hex) { names.set(hex, area + "-" + (i + 1)); } });
    });
    function nameOf(hex) { return names.get(hex) || hex; }
    function labelOf(hex) { var name = names.get(hex); return name ? name + " · " + hex : hex; }

    function boundary(hex) {
      var ring = boundaries.get(hex);
      if (!ring) {
        ring = h3.cellToBoundary(hex, true);  // [lng, lat] pairs, GeoJSON order
        ring.push(ring[0]);
        boundaries.set(hex, ring);
      }
      return ring;
    }

    function feature(hex, props) {
      return { type: "Feature", properties: props, geometry: { type: "Polygon", coordinates: [boundary(hex)] } };
    }

    var cellLayer = L.geoJSON(null, {
      renderer: renderer,
      style: function (f) {
        return { fillColor: f.properties.colour, color: f.properties.colour, weight: 0.4,
                 fillOpacity: 0.72, opacity: 0.9 };
      }
    }).addTo(map);
    var giLayer = L.geoJSON(null, {
      renderer: renderer,
      style: function (f) {
        return { fillColor: GI_COLOURS[f.properties.gi], color: "#555", weight: 0.3, fillOpacity: 0.75 };
      }
    });
    var emergingLayer = L.geoJSON(null, {
      renderer: renderer,
      style: function (f) {
        return { fillColor: EMERGING_COLOURS[f.properties.label] || "#999", color: "#555", weight: 0.3,
                 fillOpacity: 0.8 };
      }
    });
    var highlight = L.geoJSON(null, {
      renderer: renderer, interactive: false,
      style: function () { return { color: "#00e5ff", weight: 3, fill: false }; }
    }).addTo(map);
    function cellTooltip(layer) {
      var p = layer.feature.properties;
      if (p.res !== undefined && state.data && p.res < state.data.resolution) {
        return escapeHtml(L_.zoomIn);
      }
      var html = "<b>" + escapeHtml(nameOf(p.cell)) + "</b>";
      if (names.has(p.cell)) { html += ' <span class="hs-hex">' + escapeHtml(p.cell) + "</span>"; }
      if (p.v !== undefined) { html += "<br>" + escapeHtml(state.data.value === "count" ? L_.count : L_.score) + ": " + fmt(p.v); }
      if (p.gi !== undefined) { html += "<br>" + escapeHtml(cfg.giLabels[p.gi] || p.gi); }
      if (p.label !== undefined) { html += "<br>" + escapeHtml(cfg.emergingLabels[p.label] || p.label); }
      return html;
    }
    [cellLayer, giLayer, emergingLayer].forEach(function (layer) {
      layer.bindTooltip(cellTooltip, { sticky: true, direction: "top", offset: [0, -6] });
    });
    control.addOverlay(cellLayer, L_.cells);
    control.addOverlay(giLayer, L_.gi);
    control.addOverlay(emergingLayer, L_.emerging);

    // --- early warnings: warned cells outlined by level, the reasons in a popup ---
    var warnings = cfg.warnings || { cells: [], levels: {} };
    function warningPopup(props) {
      var html = '<div class="warning-popup">';
      props.items.forEach(function (w) {
        html += '<p><b style="color:' + escapeHtml(w.colour) + '">' + escapeHtml(w.level_label) + "</b> · " +
          escapeHtml(w.rule_label) + "<br>" + escapeHtml(w.place);
        w.why.forEach(function (line) { html += "<br>" + escapeHtml(line); });
        html += '<br><span class="note">' + escapeHtml(w.reason) + "</span>";
        html += "<br>" + escapeHtml(w.until) + "</p>";
      });
      return html + '<p><a href="' + escapeHtml(warnings.inboxUrl) + '">' + escapeHtml(L_.warningInbox) + "</a></p></div>";
    }
    // Their own pane above the cells, so redrawn cells never cover the outlines.
    map.createPane("warnings").style.zIndex = 450;
    var warningLayer = L.geoJSON(null, {
      renderer: L.canvas({ padding: 0.3, pane: "warnings" }), pane: "warnings",
      style: function (f) {
        return { color: f.properties.colour, weight: 1 + f.properties.level, opacity: 1,
                 fillColor: f.properties.colour, fillOpacity: 0.08,
                 dashArray: f.properties.level === 1 ? "4 3" : null };
      },
      onEachFeature: function (f, layer) { layer.bindPopup(warningPopup(f.properties), { maxWidth: 320 }); }
    });
    warnings.cells.forEach(function (w) { warningLayer.addData(feature(w.hex, w)); });
    control.addOverlay(warningLayer, L_.warnings + " (" + warnings.count + ")");
    if (warnings.cells.length) { warningLayer.addTo(map); }

    // --- legend ---
    var legend = L.control({ position: "bottomright" });
    legend.onAdd = function () {
      var div = L.DomUtil.create("div", "hs-legend");
      div.id = "hotspot-legend";
      L.DomEvent.disableClickPropagation(div);
      return div;
    };
    legend.addTo(map);

    function breaksOf(values) {
      var v = values.filter(function (x) { return x > 0; }).sort(function (a, b) { return a - b; });
      if (!v.length) { return [0, 1]; }
      var q = [0, 0.5, 0.75, 0.9, 0.97, 1].map(function (p) { return v[Math.min(v.length - 1, Math.floor(p * (v.length - 1)))]; });
      var out = [];
      q.forEach(function (x) { if (!out.length || x > out[out.length - 1]) { out.push(x); } });
      if (out.length < 2) { out.push(out[0] + 1); }
      return out;
    }

    function colourOf(value, breaks) {
      var n = breaks.length - 1;
      var colours = COLOURS.slice(COLOURS.length - n);
      for (var i = 1; i < breaks.length; i++) { if (value <= breaks[i]) { return colours[i - 1]; } }
      return colours[colours.length - 1];
    }

    function updateLegend(breaks, res) {
      var div = document.getElementById("hotspot-legend");
      if (!div) { return; }
      var html = "";
      if (map.hasLayer(cellLayer) && breaks) {
        var mode = state.data.value;
        html += "<b>" + escapeHtml(mode === "count" ? L_.count : L_.score) + "</b>";
        var colours = COLOURS.slice(COLOURS.length - (breaks.length - 1));
        for (var i = colours.length - 1; i >= 0; i--) {
          html += '<div><i style="background:' + colours[i] + '"></i>' + fmt(breaks[i]) + " – " + fmt(breaks[i + 1]) + "</div>";
        }
        html += '<div class="muted">' + escapeHtml(L_.resolution) + " " + res +
          (res < state.data.resolution ? " · " + escapeHtml(L_.aggregated) : "") + "</div>";
      }
      if (map.hasLayer(giLayer)) {
        html += "<b>" + escapeHtml(L_.gi) + "</b>";
        ["3", "2", "1", "-1", "-2", "-3"].forEach(function (k) {
          html += '<div><i style="background:' + GI_COLOURS[k] + '"></i>' + escapeHtml(cfg.giLabels[k]) + "</div>";
        });
      }
      if (map.hasLayer(emergingLayer) && state.emerging) {
        html += "<b>" + escapeHtml(L_.emerging) + "</b>";
        state.emerging.labels.forEach(function (label) {
          if (label === "no pattern") { return; }
          html += '<div><i style="background:' + (EMERGING_COLOURS[label] || "#999") + '"></i>' +
            escapeHtml(cfg.emergingLabels[label] || label) + "</div>";
        });
      }
      if (map.hasLayer(warningLayer)) {
        html += "<b>" + escapeHtml(L_.warnings) + "</b>";
        ["3", "2", "1"].forEach(function (k) {
          html += '<div><i style="background:none;border:2px solid ' + warnings.levels[k].colour + '"></i>' +
            escapeHtml(warnings.levels[k].label) + "</div>";
        });
      }
      div.innerHTML = html;
      div.style.display = html ? "" : "none";
    }

    // --- which resolution to draw, merging to parents when needed ---
    function valuesOf(data) {
      return data.value === "count" ? data.count : data.score;
    }

    function merged(data, res) {
      var values = valuesOf(data);
      var sum = data.value === "count";
      var out = new Map();
      for (var i = 0; i < data.cells.length; i++) {
        var v = values[i];
        if (!(v > 0)) { continue; }
        var key = res < data.resolution ? h3.cellToParent(data.cells[i], res) : data.cells[i];
        var old = out.get(key);
        out.set(key, old === undefined ? v : (sum ? old + v : Math.max(old, v)));
      }
      return out;
    }

    function inView(cells, bounds) {
      var n = 0;
      cells.forEach(function (_v, hex) {
        var c = h3.cellToLatLng(hex);
        if (bounds.contains([c[0], c[1]])) { n++; }
      });
      return n;
    }

    function chooseResolution(data) {
      // Roughly 4+ pixels across a cell: resolution 9 from zoom 11, one coarser per zoom out.
      var res = Math.max(0, Math.min(data.resolution, map.getZoom() - 2));
      var bounds = map.getBounds().pad(0.2);
      var cells = merged(data, res);
      while (res > 0 && inView(cells, bounds) > cfg.maxCells) {
        res -= 1;
        cells = merged(data, res);
      }
      return { res: res, cells: cells };
    }

    function drawCells() {
      var data = state.data;
      if (!data) { return; }
      var chosen = chooseResolution(data);
      var values = Array.from(chosen.cells.values());
      var breaks = breaksOf(values);
      var features = [];
      chosen.cells.forEach(function (v, hex) {
        features.push(feature(hex, { cell: hex, v: v, colour: colourOf(v, breaks), res: chosen.res }));
      });
      cellLayer.clearLayers();
      cellLayer.addData({ type: "FeatureCollection", features: features });
      state.drawnRes = chosen.res;
      state.breaks = breaks;
      updateLegend(breaks, chosen.res);
    }

    function drawGi() {
      var data = state.data;
      var features = [];
      for (var i = 0; i < data.cells.length; i++) {
        if (data.gi[i] !== 0) { features.push(feature(data.cells[i], { cell: data.cells[i], gi: String(data.gi[i]) })); }
      }
      giLayer.clearLayers();
      giLayer.addData({ type: "FeatureCollection", features: features });
    }

    function drawEmerging() {
      emergingLayer.clearLayers();
      if (!state.emerging) { return; }
      var data = state.data;
      var labels = state.emerging.labels;
      var features = [];
      state.emerging.codes.forEach(function (code, i) {
        var label = labels[code];
        if (code >= 0 && label !== "no pattern") {
          features.push(feature(data.cells[i], { cell: data.cells[i], label: label }));
        }
      });
      emergingLayer.addData({ type: "FeatureCollection", features: features });
      updateLegend(state.breaks, state.drawnRes);
    }

    function fillHeat() {
      var data = state.data;
      var points = [];
      var counts = [];
      for (var i = 0; i < data.cells.length; i++) {
        if (data.count[i] > 0) {
          var c = h3.cellToLatLng(data.cells[i]);
          points.push([c[0], c[1], data.count[i]]);
          counts.push(data.count[i]);
        }
      }
      counts.sort(function (a, b) { return a - b; });
      var top = counts.length ? counts[Math.floor(0.95 * (counts.length - 1))] : 1;
      heat.setOptions({ max: Math.max(1, top) });
      heat.setLatLngs(points);
    }

    // The box holding the central 98 % of the shown incidents on each axis (as
    // web/services/map_layers.py focus_box), or of the shown cells when none has incidents.
    function fitIncidents() {
      var data = state.data;
      if (!data || !data.cells.length) { return; }
      var points = [];
      var total = 0;
      var withCounts = data.count.some(function (n) { return n > 0; });
      data.cells.forEach(function (hex, i) {
        var w = withCounts ? data.count[i] : 1;
        if (w > 0) { var c = h3.cellToLatLng(hex); points.push([c[0], c[1], w]); total += w; }
      });
      function range(axis) {
        points.sort(function (a, b) { return a[axis] - b[axis]; });
        var low = null, high = null, run = 0;
        points.forEach(function (p) {
          run += p[2];
          if (low === null && run / total > 0.01) { low = p[axis]; }
          if (high === null && run / total >= 0.99) { high = p[axis]; }
        });
        return [low, high === null ? points[points.length - 1][axis] : high];
      }
      var lat = range(0);
      var lng = range(1);
      map.fitBounds([[lat[0], lng[0]], [lat[1], lng[1]]], { padding: [20, 20] });
    }

    // --- statistics panel ---
    function text(id, value) { var el = document.getElementById(id); if (el) { el.textContent = value; } }

    function updateStats() {
      var data = state.data;
      var values = valuesOf(data);
      var withIncidents = data.count.filter(function (n) { return n > 0; }).length;
      text("stat-total", data.total.toLocaleString());
      // Over the figure area (where incidents happen) when the server says which it is.
      var figures = data.figures || null;
      var areaCells = figures ? figures.area_cells : data.cells.length;
      text("stat-cells", withIncidents.toLocaleString() + " / " + areaCells.toLocaleString());
      // The share of the chosen dates' incidents in the 5 % of cells ranked highest.
      var order = data.cells.map(function (_c, i) { return i; })
        .filter(function (i) { return values[i] !== null; })
        .sort(function (a, b) { return values[b] - values[a]; });
      var top = order.slice(0, Math.max(1, Math.round(0.05 * order.length)));
      var captured = top.reduce(function (s, i) { return s + data.count[i]; }, 0);
      if (figures) {
        text("stat-top", figures.top_share === null ? "–" : Math.round(100 * figures.top_share) + " %");
      } else {
        text("stat-top", data.total ? Math.round(100 * captured / data.total) + " %" : "–");
      }
      text("stat-gi", data.hot + " / " + data.cold);
      var list = document.getElementById("top-cells");
      if (list) {
        list.innerHTML = "";
        order.slice(0, 10).forEach(function (i) {
          var li = document.createElement("li");
          var a = document.createElement("a");
          a.textContent = nameOf(data.cells[i]);
          a.setAttribute("data-cell", data.cells[i]);
          if (names.has(data.cells[i])) { a.title = data.cells[i]; }
          a.addEventListener("click", function () { selectCell(data.cells[i], true); });
          li.appendChild(a);
          if (names.has(data.cells[i])) {
            var hexSpan = document.createElement("span");
            hexSpan.className = "hs-hex";
            hexSpan.textContent = " " + data.cells[i];
            li.appendChild(hexSpan);
          }
          li.appendChild(document.createTextNode(" " + fmt(values[i]) + (data.value === "count" ? "" : " · " + data.count[i] + " " + L_.incidents)));
          list.appendChild(li);
        });
      }
    }

    // --- queries ---
    function queryString(extra) {
      var params = new URLSearchParams();
      Object.keys(cfg.query).forEach(function (k) {
        cfg.query[k].forEach(function (v) { params.append(k, v); });
      });
      params.set("start", state.start);
      params.set("end", state.end);
      Object.keys(extra || {}).forEach(function (k) { params.set(k, extra[k]); });
      return params.toString();
    }

    function status(message) { text("map-status", message || ""); }

    function setData(data) {
      state.data = data;
      state.start = data.start;
      state.end = data.end;
      state.emerging = data.emerging || null;
      drawCells();
      drawGi();
      drawEmerging();
      fillHeat();
      updateStats();
    }

    function refresh() {
      status(L_.loading);
      var wantEmerging = map.hasLayer(emergingLayer);
      var url = cfg.cellsUrl + "?" + queryString(wantEmerging ? { layers: "emerging" } : {});
      return fetch(url, { credentials: "same-origin" })
        .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
        .then(function (res) {
          if (!res.ok) { status(L_.failed + ": " + res.body.error); return; }
          setData(res.body);
          status("");
          var form = document.getElementById("filters");
          if (form) { form.elements.start.value = state.start; form.elements.end.value = state.end; }
          if (window.history && history.replaceState) { history.replaceState(null, "", cfg.pageUrl + "?" + queryString()); }
          if (state.selected) { selectCell(state.selected, false); }
        })
        .catch(function (err) { status(L_.failed + ": " + err); });
    }

    function loadEmerging() {
      if (state.emerging) { drawEmerging(); return; }
      status(L_.loading);
      fetch(cfg.cellsUrl + "?" + queryString({ layers: "emerging" }), { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (body) {
          if (body.error) { status(L_.failed + ": " + body.error); return; }
          state.emerging = body.emerging;
          drawEmerging();
          status("");
        })
        .catch(function (err) { status(L_.failed + ": " + err); });
    }

    // --- a cell's explanation ---
    function sparkline(values, width, height) {
      var max = Math.max.apply(null, values.concat([1]));
      var step = width / Math.max(1, values.length - 1);
      var points = values.map(function (v, i) { return (i * step).toFixed(1) + "," + (height - 2 - v / max * (height - 4)).toFixed(1); });
      return '<svg width="' + width + '" height="' + height + '" viewBox="0 0 ' + width + " " + height +
        '"><polyline fill="none" stroke="#1a3d7c" stroke-width="1.5" points="' + points.join(" ") + '"/></svg>';
    }

    function bars(values, width, height) {
      var max = Math.max.apply(null, values.concat([1]));
      var w = width / values.length;
      var out = '<svg width="' + width + '" height="' + (height + 12) + '" font-size="9">';
      values.forEach(function (v, i) {
        var h = v / max * height;
        out += '<rect x="' + (i * w + 1).toFixed(1) + '" y="' + (height - h).toFixed(1) + '" width="' + (w - 2).toFixed(1) +
          '" height="' + h.toFixed(1) + '" fill="#fd8d3c"><title>' + i + ":00 " + v + "</title></rect>";
        if (i % 6 === 0) { out += '<text x="' + (i * w).toFixed(1) + '" y="' + (height + 10) + '">' + i + "</text>"; }
      });
      return out + "</svg>";
    }

    function renderExplanation(e) {
      var name = e.name || nameOf(e.cell);
      var html = "<p><b>" + escapeHtml(name) + "</b>";
      if (name !== e.cell) { html += ' <span class="hs-hex">' + escapeHtml(e.cell) + "</span>"; }
      var areaList = e.area_list || [];
      if (areaList.length) {
        var kindLabels = options.kindLabels || {};
        html += "<br>" + escapeHtml(L_.areas) + ": " + areaList.map(function (a) {
          return escapeHtml((kindLabels[a.kind] || a.kind) + " " + a.id);
        }).join(", ");
      } else if (e.areas.length) { html += "<br>" + escapeHtml(L_.areas) + ": " + escapeHtml(e.areas.join(", ")); }
      html += "<br>" + escapeHtml(L_.window) + " (" + escapeHtml(e.window.start) + " – " + escapeHtml(e.window.end) + "): <b>" + e.window.count + "</b></p>";
      html += "<h3>" + escapeHtml(L_.counts) + "</h3><table><tr><th>" + escapeHtml(L_.category) + "</th>";
      e.counts.windows.forEach(function (w) { html += '<th class="num">' + escapeHtml(w) + "</th>"; });
      html += "</tr>";
      e.counts.rows.slice(0, 8).forEach(function (row) {
        html += "<tr><td>" + escapeHtml(row.name || row.category) + "</td>";
        e.counts.windows.forEach(function (w) { html += '<td class="num">' + row[w] + "</td>"; });
        html += "</tr>";
      });
      html += "<tr><th>" + escapeHtml(L_.total) + "</th>";
      e.counts.windows.forEach(function (w) { html += '<th class="num" data-window="' + escapeHtml(w) + '">' + e.counts.total[w] + "</th>"; });
      html += "</tr></table>";
      html += "<h3>" + escapeHtml(L_.trend) + "</h3><p>" + sparkline(e.trend.counts, 220, 40) + "<br>" +
        escapeHtml(L_[e.trend.direction] || e.trend.direction) + ' <span class="note">(Mann-Kendall z ' + fmt(e.trend.z) + ", p " + fmt(e.trend.p, 2) + ")</span></p>";
      if (e.model) {
        html += "<h3>" + escapeHtml(L_.model) + "</h3><p>" + escapeHtml(e.model.name) + ": " + fmt(e.model.score) + ", " +
          escapeHtml(L_.rank) + " " + e.model.rank + " " + escapeHtml(L_.of) + " " + e.model.n_cells + "</p>";
        var names = Object.keys(e.model.components);
        if (names.length) {
          html += "<table>";
          names.forEach(function (name) {
            var part = e.model.components[name];
            html += "<tr><td>" + escapeHtml(name) + '</td><td class="num">' + fmt(part.value) + '</td></tr><tr><td colspan="2" class="note">' + escapeHtml(part.note) + "</td></tr>";
          });
          html += "</table>";
        }
      } else {
        html += '<p class="note">' + escapeHtml(L_.notScored) + "</p>";
      }
      html += "<h3>" + escapeHtml(L_.giStar) + "</h3><p>" + escapeHtml(cfg.giLabels[String(e.gi_star.gi_bin)] || e.gi_star.label) +
        ' <span class="note">(z ' + fmt(e.gi_star.z) + ", p " + fmt(e.gi_star.p, 2) + ")</span></p>";
      if (e.emerging) {
        html += "<h3>" + escapeHtml(L_.emergingClass) + "</h3><p>" + escapeHtml(cfg.emergingLabels[e.emerging] || e.emerging) + "</p>";
      }
      html += "<h3>" + escapeHtml(L_.hours) + "</h3>" + bars(e.hour_counts.counts, 240, 40);
      return html;
    }

    function selectCell(hex, pan) {
      state.selected = hex;
      highlight.clearLayers();
      highlight.addData(feature(hex, {}));
      if (pan) { map.panTo(h3.cellToLatLng(hex)); }
      var body = document.getElementById("cell-body");
      var hint = document.getElementById("cell-hint");
      if (hint) { hint.style.display = "none"; }
      if (body) { body.textContent = L_.loading; }
      var url = cfg.cellUrl.replace("HEX", encodeURIComponent(hex)) + "?" + queryString();
      fetch(url, { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (e) {
          if (!body) { return; }
          body.innerHTML = e.error ? escapeHtml(L_.failed + ": " + e.error) : renderExplanation(e);
        })
        .catch(function (err) { if (body) { body.textContent = L_.failed + ": " + err; } });
    }

    function onCellClick(event) {
      var props = event.layer && event.layer.feature && event.layer.feature.properties;
      if (!props) { return; }
      if (props.res !== undefined && props.res < state.data.resolution) {
        // A merged parent: zoom in until its own cells are drawn.
        map.fitBounds(event.layer.getBounds());
        var body = document.getElementById("cell-body");
        if (body) { body.textContent = L_.zoomIn; }
        return;
      }
      selectCell(props.cell, false);
    }
    cellLayer.on("click", onCellClick);
    giLayer.on("click", onCellClick);
    emergingLayer.on("click", onCellClick);

    map.on("overlayadd", function (e) {
      if (e.layer === emergingLayer) { loadEmerging(); }
      updateLegend(state.breaks, state.drawnRes);
    });
    map.on("overlayremove", function () { updateLegend(state.breaks, state.drawnRes); });
    var pending = null;
    map.on("zoomend moveend", function () {
      if (pending) { clearTimeout(pending); }
      pending = setTimeout(function () {
        pending = null;
        var want = Math.max(0, Math.min(state.data.resolution, map.getZoom() - 2));
        // Redraw only when the resolution may change: zoomed, or merged because of the count.
        if (want !== state.drawnRes || state.drawnRes < state.data.resolution) { drawCells(); }
      }, 120);
    });

    // --- time slider ---
    var slider = document.getElementById("time-slider");
    var stepSelect = document.getElementById("time-step");
    var play = document.getElementById("time-play");
    var windowDays = 1;
    var ends = [];
    var timer = null;

    function windowStart(end) { return dayText(parseDay(end) - (windowDays - 1) * DAY_MS); }

    function setupSlider() {
      if (!slider) { return; }
      ends = sliderEnds(cfg.range.first, cfg.range.last, stepSelect ? stepSelect.value : "week");
      if (ends.indexOf(state.end) < 0) {
        ends.push(state.end);
        ends.sort();
      }
      slider.max = String(ends.length - 1);
      slider.value = String(ends.indexOf(state.end));
      sliderLabel();
    }

    function sliderLabel() {
      var end = ends[+slider.value];
      text("time-label", windowStart(end) + " – " + end);
    }

    function sliderMoved() {
      var end = ends[+slider.value];
      state.end = end;
      state.start = windowStart(end);
      sliderLabel();
      return refresh();
    }

    if (slider) {
      setData(cfg.data);
      windowDays = Math.round((parseDay(state.end) - parseDay(state.start)) / DAY_MS) + 1;
      setupSlider();
      slider.addEventListener("input", sliderLabel);
      slider.addEventListener("change", sliderMoved);
      if (stepSelect) { stepSelect.addEventListener("change", setupSlider); }
      if (play) {
        play.addEventListener("click", function () {
          if (timer) { clearTimeout(timer); timer = null; play.textContent = L_.play; return; }
          play.textContent = L_.pause;
          var next = function () {
            if (+slider.value >= ends.length - 1) { slider.value = "0"; } else { slider.value = String(+slider.value + 1); }
            sliderLabel();
            sliderMoved().then(function () {
              if (timer !== null) { timer = setTimeout(next, 700); }
            });
          };
          timer = setTimeout(next, 0);
        });
      }
    } else {
      setData(cfg.data);
    }

    // Categories and a group cannot both be sent: single categories win.
    var form = document.getElementById("filters");
    if (form) {
      form.addEventListener("submit", function () {
        if (form.elements.category && form.elements.category.selectedOptions.length) { form.elements.group.disabled = true; }
      });
    }
    // The frame opens on where the city's incidents are; an area filter opens on its own.
    if (cfg.query && cfg.query.area && cfg.query.area.length) {
      // After the frame's own fit, whose zoom animation starts in the next frame and would
      // swallow a fit made before it ends.
      L.Util.requestAnimFrame(function () {
        if (map._animatingZoom) { map.once("zoomend", fitIncidents); } else { fitIncidents(); }
      });
    }
    // A link to one cell (the search's results: ?cell=HEX) opens on it, explained.
    var linked = new URLSearchParams(window.location.search).get("cell");
    if (linked && /^[0-9a-f]{15}$/.test(linked) && h3.isValidCell(linked)) {
      L.Util.requestAnimFrame(function () {
        var open = function () {
          map.setView(h3.cellToLatLng(linked), Math.max(map.getZoom(), 15));
          selectCell(linked, false);
        };
        if (map._animatingZoom) { map.once("zoomend", open); } else { open(); }
      });
    }

    HotspotMap.state = state;  // for tests and the console
    HotspotMap.nameOf = nameOf;
    HotspotMap.cellTooltip = cellTooltip;
    HotspotMap.fitIncidents = fitIncidents;
    HotspotMap.refresh = refresh;
    HotspotMap.selectCell = selectCell;
  };

  window.HotspotMap = HotspotMap;
})();
