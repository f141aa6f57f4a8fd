// The plan map's unit selector: all units (routes and small stop dots), one station's units
// or one unit (routes and numbered stops). The page's <select id="plan-view"> chooses; the
// stop list beside the map (#stop-list, [data-station] groups of [data-unit] units) shows
// the same units. The choice is kept in the address (#show=...) without reloading the page.
(function () {
  "use strict";
  var PlanMap = {};

  function keyOf(value) {
    var at = value.indexOf(":");
    return at < 0 ? { kind: "all", name: "" } : { kind: value.slice(0, at), name: value.slice(at + 1) };
  }

  function chosen(units, value) {
    var key = keyOf(value);
    return units.filter(function (u) {
      if (key.kind === "unit") { return u.unit === key.name; }
      if (key.kind === "station") { return u.station === key.name; }
      return true;
    });
  }

  function legendControl(map, options) {
    var Legend = L.Control.extend({
      options: { position: "bottomleft" },
      onAdd: function () {
        var box = L.DomUtil.create("div", "plan-legend");
        box.id = "plan-legend";
        L.DomEvent.disableClickPropagation(box);
        var line = L.DomUtil.create("div", "plan-legend-row", box);
        var sample = L.DomUtil.create("span", "plan-legend-line" + (options.streets ? "" : " dashed"), line);
        sample.setAttribute("aria-hidden", "true");
        var text = L.DomUtil.create("span", "", line);
        text.id = "plan-legend-legs";
        text.textContent = options.streets ? options.legend.streets : options.legend.straight;
        if (options.some_straight && options.some_streets) {  // units on foot and by car
          var other = L.DomUtil.create("div", "plan-legend-row", box);
          L.DomUtil.create("span", "plan-legend-line", other).setAttribute("aria-hidden", "true");
          L.DomUtil.create("span", "", other).textContent = options.legend.streets;
        }
        var station = L.DomUtil.create("div", "plan-legend-row", box);
        L.DomUtil.create("span", "plan-legend-station", station).setAttribute("aria-hidden", "true");
        L.DomUtil.create("span", "", station).textContent = options.legend.stations;
        var units = L.DomUtil.create("div", "plan-legend-units", box);
        units.id = "plan-legend-units";
        return box;
      }
    });
    var legend = new Legend();
    legend.addTo(map);
    return legend;
  }

  function showLegendUnits(shown, all) {
    var box = document.getElementById("plan-legend-units");
    if (!box) { return; }
    box.textContent = "";
    if (shown.length === all.length && all.length > 12) { return; }  // the stop list has them
    shown.forEach(function (u) {
      var row = document.createElement("div");
      row.className = "plan-legend-row";
      var swatch = document.createElement("span");
      swatch.className = "plan-legend-swatch";
      swatch.style.background = u.colour;
      row.appendChild(swatch);
      row.appendChild(document.createTextNode(u.unit));
      box.appendChild(row);
    });
  }

  function filterList(list, value, shown) {
    if (!list) { return; }
    var key = keyOf(value);
    var names = {};
    shown.forEach(function (u) { names[u.unit] = true; });
    Array.prototype.forEach.call(list.querySelectorAll("[data-unit]"), function (el) {
      var visible = key.kind === "all" || names[el.getAttribute("data-unit")] === true;
      el.hidden = !visible;
      if (key.kind === "unit" && visible && el.tagName === "DETAILS") { el.open = true; }
    });
    Array.prototype.forEach.call(list.querySelectorAll("[data-station]"), function (el) {
      var any = el.querySelector("[data-unit]:not([hidden])");
      el.hidden = any === null;
    });
  }

  // An element holding text (stored names are set as text, never as HTML).
  function textBox(tag, className, text) {
    var el = document.createElement(tag);
    if (className) { el.className = className; }
    if (text !== undefined) { el.textContent = text; }
    return el;
  }

  function popup(u, s, labels) {
    var table = textBox("table", "plan-popup");
    [["unit", u.unit], ["station", u.station], ["stop", String(s.order)], ["cell", s.cell],
     ["arrive", s.arrive], ["start", s.start], ["leave", s.leave], ["value", s.value]]
      .forEach(function (row) {
        if (row[1] === "") { return; }
        var tr = table.insertRow();
        tr.appendChild(textBox("th", "", labels[row[0]]));
        tr.appendChild(textBox("td", "", row[1]));
      });
    return table;
  }

  // A unit's layers: its route line, its stops as dots (all units) and numbered (one
  // station or unit); none is on the map yet.
  function unitLayers(u, labels) {
    var legs = u.streets ? labels.streets : labels.straight;
    var line = L.polyline(u.line, { color: u.colour, weight: 3, opacity: 0.85,
                                     dashArray: u.streets ? null : "6 6" });
    line.bindTooltip(textBox("span", "", u.unit + " · " + legs), { sticky: true });
    var dots = L.featureGroup();
    var stops = L.featureGroup();
    u.stops.forEach(function (s) {
      var tip = u.unit + " · " + s.order + " · " + s.start;
      var content = function () { return popup(u, s, labels); };
      L.circleMarker([s.lat, s.lon], { radius: 5, fillColor: u.colour, fillOpacity: 1, color: "#ffffff",
                                       weight: 1.5 })
        .bindTooltip(textBox("span", "", tip)).bindPopup(content).addTo(dots);
      var badge = textBox("div", "plan-stop-badge", String(s.order));
      badge.style.background = u.colour;
      badge.style.color = u.ink;
      L.marker([s.lat, s.lon], { icon: L.divIcon({ html: badge, className: "plan-stop", iconSize: [24, 24],
                                                   iconAnchor: [12, 12] }), title: tip })
        .bindPopup(content).addTo(stops);
    });
    return { unit: u.unit, station: u.station, colour: u.colour, count: u.stops.length,
             line: line, dots: dots, stops: stops };
  }

  PlanMap.init = function (map, data, options) {
    var units = data.map(function (u) { return unitLayers(u, options.labels); });
    options.legend = options.labels;
    var select = document.getElementById(options.select);
    var list = document.getElementById(options.list);
    var count = document.getElementById("plan-view-count");
    // Previous and next step through the units in the selector's order (station by station).
    var order = select ? Array.prototype.map.call(select.options, function (o) { return o.value; })
      .filter(function (v) { return v.indexOf("unit:") === 0; }) : [];
    legendControl(map, options);

    function apply(value, fit) {
      var valid = value === "all" || (select && Array.prototype.some.call(select.options,
        function (o) { return o.value === value; }));
      if (!valid) { value = "all"; }
      var shown = chosen(units, value);
      var detail = value !== "all";
      var wanted = {};
      shown.forEach(function (u) { wanted[u.unit] = true; });
      // All units: thinner, lighter lines; one station or unit: full lines.
      var style = detail ? { weight: 4, opacity: 0.9 } : { weight: units.length > 8 ? 2.5 : 3, opacity: 0.75 };
      units.forEach(function (u) {
        var on = wanted[u.unit] === true;
        u.line.setStyle(style);
        [[u.line, on], [u.dots, on && !detail], [u.stops, on && detail]].forEach(function (pair) {
          if (pair[1] && !map.hasLayer(pair[0])) { map.addLayer(pair[0]); }
          if (!pair[1] && map.hasLayer(pair[0])) { map.removeLayer(pair[0]); }
        });
      });
      if (select && select.value !== value) { select.value = value; }
      filterList(list, value, shown);
      showLegendUnits(shown, units);
      if (count) {
        var stops = 0;
        shown.forEach(function (u) { stops += u.count; });
        count.textContent = (count.getAttribute("data-template") || "{units} / {stops}")
          .replace("{units}", String(shown.length)).replace("{stops}", String(stops));
      }
      if (fit && shown.length) {
        var bounds = L.latLngBounds([]);
        shown.forEach(function (u) { bounds.extend(u.line.getBounds()); });
        if (bounds.isValid()) { map.fitBounds(bounds, { padding: [24, 24], maxZoom: 16, animate: false }); }
      }
      if (window.history && window.history.replaceState) {
        var hash = value === "all" ? "" : "#show=" + encodeURIComponent(value).replace(/%3A/g, ":");
        window.history.replaceState(null, "", window.location.pathname + window.location.search + hash);
      }
      PlanMap.state = { value: value, units: shown.map(function (u) { return u.unit; }) };
    }

    function step(delta) {
      var current = select ? select.value : "all";
      var at = order.indexOf(current);
      var next = at < 0 ? (delta > 0 ? 0 : order.length - 1) : (at + delta + order.length) % order.length;
      if (order.length) { apply(order[next], true); }
    }

    if (select) {
      select.addEventListener("change", function () { apply(select.value, true); });
    }
    // A click on a route shows that unit alone (its popup-less line has a tooltip only).
    units.forEach(function (u) {
      u.line.on("click", function () {
        if (PlanMap.state && PlanMap.state.value !== "unit:" + u.unit) { apply("unit:" + u.unit, true); }
      });
    });
    var prev = document.getElementById("plan-view-prev");
    var next = document.getElementById("plan-view-next");
    if (prev) { prev.addEventListener("click", function () { step(-1); }); }
    if (next) { next.addEventListener("click", function () { step(1); }); }
    if (list) {
      list.addEventListener("click", function (event) {
        var button = event.target.closest ? event.target.closest("[data-show]") : null;
        if (!button) { return; }
        event.preventDefault();
        apply(button.getAttribute("data-show"), true);
        var panel = document.getElementById("map-panel");
        if (panel && panel.scrollIntoView && window.innerWidth < 760) { panel.scrollIntoView({ behavior: "smooth" }); }
      });
    }
    var match = /^#show=(.+)$/.exec(window.location.hash);
    var first = match ? decodeURIComponent(match[1]) : (select ? select.value : "all");
    var controls = document.getElementById("plan-view-box");
    if (controls) { controls.hidden = false; }
    apply(first, first !== "all");
    PlanMap.apply = function (value) { apply(value, true); };
    // For tests and the console: do the shown routes lie inside the map's view?
    PlanMap.inView = function () {
      var view = map.getBounds().pad(0.02);
      return chosen(units, PlanMap.state.value).every(function (u) {
        return view.contains(u.line.getBounds());
      });
    };
  };

  window.PlanMap = PlanMap;
})();
