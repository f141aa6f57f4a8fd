/* What every map of the site shares (loaded by web/maps/context.py after Leaflet):
 *
 * - L.CRS.GCJ02: Web Mercator of the GCJ-02 shifted point. A map on a GCJ-02 basemap (the
 *   bureau's PGIS, HOTSPOT_TILE_CRS=gcj02) uses it, so every overlay given in WGS-84 (cells,
 *   areas, stations, routes, markers, the heat layer, whatever a page's own script draws) is
 *   drawn where the GCJ-02 tiles show that place, and every position read back from the map
 *   (a click's latlng, getBounds, getCenter) is WGS-84 again. The shift is geo/coords.py's
 *   (the published formula, points outside the rough box of China unchanged).
 * - MapContext.attach(map, options): a metric scale bar, Leaflet's control tooltips in the
 *   page's language, zoom classes on the map (labels show from a zoom on),
 *   the streets of the configured OpenStreetMap extract as a light base in their own pane
 *   under the overlays (one canvas, when there is no basemap), a print button, and a map that
 *   fits the page when printed.
 * - MapContext.labelAreas(layer, property, kind): permanent small labels (a grid's id) on the
 *   polygons of a GeoJSON layer.
 */
(function () {
  "use strict";

  // --- WGS-84 <-> GCJ-02 (as geo/coords.py) -------------------------------------------------
  var KRASOVSKY_A = 6378245.0;
  var KRASOVSKY_E2 = 0.00669342162296594323;
  var PI = Math.PI;

  function inChina(lng, lat) {
    return lng >= 72.004 && lng <= 137.8347 && lat >= 0.8293 && lat <= 55.8271;
  }

  function waves(t, a24, a60) {
    return (20 * Math.sin(PI * t) + 40 * Math.sin(PI * t / 3) +
            a24 * Math.sin(PI * t / 12) + a60 * Math.sin(PI * t / 30)) * 2 / 3;
  }

  // The shift (dlng, dlat) in degrees at a WGS-84 point, with no China test.
  function offset(lng, lat) {
    var x = lng - 105.0;
    var y = lat - 35.0;
    var common = (20 * Math.sin(6 * PI * x) + 20 * Math.sin(2 * PI * x)) * 2 / 3;
    var dlat = -100 + 2 * x + 3 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x)) +
      common + waves(y, 160, 320);
    var dlng = 300 + x + 2 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x)) +
      common + waves(x, 150, 300);
    var phi = lat * PI / 180;
    var w = 1 - KRASOVSKY_E2 * Math.sin(phi) * Math.sin(phi);
    var meridian = KRASOVSKY_A * (1 - KRASOVSKY_E2) / (w * Math.sqrt(w));
    var parallel = KRASOVSKY_A * Math.cos(phi) / Math.sqrt(w);
    return [dlng / parallel * 180 / PI, dlat / meridian * 180 / PI];
  }

  function gcjFromWgs(lat, lng) {
    if (!inChina(lng, lat)) { return [lat, lng]; }
    var d = offset(lng, lat);
    return [lat + d[1], lng + d[0]];
  }

  function wgsFromGcj(lat, lng) {
    if (!inChina(lng, lat)) { return [lat, lng]; }
    // Fixed-point iteration: the shift changes little over its own size (geo/coords.py).
    var d = offset(lng, lat);
    var gLat = lat - d[1];
    var gLng = lng - d[0];
    for (var i = 0; i < 30; i++) {
      var f = offset(gLng, gLat);
      var rLat = gLat + f[1] - lat;
      var rLng = gLng + f[0] - lng;
      if (Math.abs(rLat) < 1e-10 && Math.abs(rLng) < 1e-10) { break; }
      gLat -= rLat;
      gLng -= rLng;
    }
    return [gLat, gLng];
  }

  var mercator = L.Projection.SphericalMercator;
  L.CRS.GCJ02 = L.extend({}, L.CRS.EPSG3857, {
    code: "GCJ02",
    projection: {
      bounds: mercator.bounds,
      project: function (latlng) {
        var g = gcjFromWgs(latlng.lat, latlng.lng);
        return mercator.project(L.latLng(g[0], g[1]));
      },
      unproject: function (point) {
        var g = mercator.unproject(point);
        var w = wgsFromGcj(g.lat, g.lng);
        return L.latLng(w[0], w[1]);
      }
    }
  });

  // --- labels, streets, print ---------------------------------------------------------------
  var ZOOM_STEPS = [11, 12, 13, 14, 15];

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function zoomClasses(map) {
    var z = map.getZoom();
    var classes = map.getContainer().classList;
    ZOOM_STEPS.forEach(function (step) { classes.toggle("map-z" + step, z >= step); });
  }

  // Streets by rank: 1 major roads, 2 through roads, 3 the rest (web/maps/streets.py).
  function streetStyle(map) {
    return function (feature) {
      var rank = feature.properties.rank;
      var z = map.getZoom();
      var hidden = (rank === 3 && z < 13) || (rank === 2 && z < 11);
      return { color: rank === 1 ? "#b9b3a6" : "#cfcac0", weight: rank === 1 ? 3 : rank === 2 ? 2 : 1.2,
               opacity: hidden ? 0 : 1, lineCap: "round", lineJoin: "round" };
    };
  }

  function addStreets(map, streets) {
    if (!map.getPane("streets")) {
      // Above any tiles (200), under the overlays (400).
      map.createPane("streets").style.zIndex = 250;
    }
    fetch(streets.url, { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (data) {
        var style = streetStyle(map);
        var layer = L.geoJSON(data, {
          pane: "streets", interactive: false, style: style,
          renderer: L.canvas({ pane: "streets", padding: 0.3 }),
          attribution: escapeHtml(streets.attribution || "")
        }).addTo(map);
        map.on("zoomend", function () { layer.setStyle(style); });
        MapContext.streets.push(layer);
      })
      .catch(function () { /* no streets: the map works without them */ });
  }

  function addPrintButton(map, label) {
    var control = L.control({ position: "topleft" });
    control.onAdd = function () {
      var div = L.DomUtil.create("div", "leaflet-bar map-print-control");
      var button = L.DomUtil.create("a", "map-print", div);
      button.href = "#";
      button.setAttribute("role", "button");
      button.title = label;
      button.setAttribute("aria-label", label);
      button.innerHTML = '<svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true">' +
        '<path fill="currentColor" d="M6 2h12v5H6zM4 8h16a2 2 0 0 1 2 2v6h-4v6H6v-6H2v-6a2 2 0 0 1 2-2zm4 8v4h8v-4z"/></svg>';
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.on(button, "click", function (e) { L.DomEvent.preventDefault(e); window.print(); });
      return div;
    };
    control.addTo(map);
  }

  var MapContext = { maps: [], streets: [], gcjFromWgs: gcjFromWgs, wgsFromGcj: wgsFromGcj,
                     escapeHtml: escapeHtml };

  MapContext.attach = function (map, options) {
    var opts = options || {};
    MapContext.maps.push(map);
    map.whenReady(function () { zoomClasses(map); });
    map.on("zoomend", function () { zoomClasses(map); });
    L.control.scale({ imperial: false }).addTo(map);
    if (opts.streets) { addStreets(map, opts.streets); }
    if (opts.print) { addPrintButton(map, opts.print); }
    // Leaflet's control tooltips are English; the page's scripts add controls after this
    // call, so the texts are set once they have run.
    if (opts.controls) { window.setTimeout(function () { nameControls(map, opts.controls); }, 0); }
  };

  function nameControls(map, texts) {
    var box = map.getContainer();
    [["leaflet-control-zoom-in", texts.zoomIn], ["leaflet-control-zoom-out", texts.zoomOut],
     ["leaflet-control-layers-toggle", texts.layers]].forEach(function (pair) {
      if (!pair[1]) { return; }
      box.querySelectorAll("." + pair[0]).forEach(function (el) {
        el.setAttribute("title", pair[1]);
        el.setAttribute("aria-label", pair[1]);
      });
    });
  }

  MapContext.labelAreas = function (layer, property, kind) {
    layer.eachLayer(function (part) {
      var value = part.feature && part.feature.properties[property];
      if (value === undefined || value === null || value === "") { return; }
      part.bindTooltip(escapeHtml(value), {
        permanent: true, direction: "center", interactive: false,
        className: "map-label map-label-" + kind
      });
    });
  };

  // A printed page is laid out anew: let each map measure its new size.
  function resize() { MapContext.maps.forEach(function (map) { map.invalidateSize(false); }); }
  window.addEventListener("beforeprint", resize);
  window.addEventListener("afterprint", resize);

  window.MapContext = MapContext;
})();
