// The grid worker's event report: the place by tapping the page's map or from the phone's
// position (WGS-84, with its accuracy shown). Loaded with `defer`, so the folium map's
// inline script has run and its map is the global named by the map element's id.
(function () {
  "use strict";
  var form = document.getElementById("report-form");
  if (!form) { return; }
  var lon = document.getElementById("report-lon");
  var lat = document.getElementById("report-lat");
  var crs = document.getElementById("report-crs");
  var accuracy = document.getElementById("report-accuracy-m");
  var status = document.getElementById("report-accuracy");
  var element = document.querySelector("#grid-map .folium-map");
  var map = element && window.L && window[element.id] instanceof L.Map ? window[element.id] : null;
  var marker = null;
  var circle = null;

  function say(text) { status.textContent = text; }

  function place(latitude, longitude, metres) {
    lat.value = latitude.toFixed(6);
    lon.value = longitude.toFixed(6);
    crs.value = "wgs84";  // browsers and the site's map both work in WGS-84
    accuracy.value = metres === null ? "" : String(Math.round(metres));
    if (!map) { return; }
    if (marker) { marker.setLatLng([latitude, longitude]); }
    else { marker = L.marker([latitude, longitude]).addTo(map); }
    if (circle) { map.removeLayer(circle); circle = null; }
    if (metres !== null) {
      circle = L.circle([latitude, longitude], { radius: metres, weight: 1, fillOpacity: 0.1 }).addTo(map);
    }
  }

  // A form sent back with a problem keeps its place: show it again.
  var shownLat = parseFloat(lat.value);
  var shownLon = parseFloat(lon.value);
  if (map && crs.value === "wgs84" && isFinite(shownLat) && isFinite(shownLon)) {
    marker = L.marker([shownLat, shownLon]).addTo(map);
  }

  if (map) {
    // A tap places the report only while the Reports tab is open; elsewhere a tap on a
    // cell opens its check-in (grid-phone.js).
    var panel = form.closest("[data-tab-panel]");
    map.on("click", function (event) {
      if (panel && panel.hidden) { return; }
      place(event.latlng.lat, event.latlng.lng, null);
      say(status.dataset.tapped);
    });
  }

  document.getElementById("report-locate").addEventListener("click", function () {
    if (!navigator.geolocation) { say(status.dataset.failed); return; }
    say(status.dataset.waiting);
    navigator.geolocation.getCurrentPosition(function (position) {
      var c = position.coords;
      place(c.latitude, c.longitude, c.accuracy);
      say(status.dataset.text.replace("{m}", String(Math.round(c.accuracy))));
      if (map) { map.setView([c.latitude, c.longitude], Math.max(map.getZoom(), 16)); }
    }, function () {
      say(status.dataset.failed);
    }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  });

  // "lon,lat" pasted from a map app into either box fills both; such positions are GCJ-02.
  [lon, lat].forEach(function (input) {
    input.addEventListener("paste", function (event) {
      var text = (event.clipboardData || window.clipboardData).getData("text");
      var parts = text.split(/[\s,，]+/).filter(Boolean);
      if (parts.length === 2 && !isNaN(parseFloat(parts[0])) && !isNaN(parseFloat(parts[1]))) {
        event.preventDefault();
        lon.value = parts[0];
        lat.value = parts[1];
        crs.value = "gcj02";
        accuracy.value = "";
        say("");
      }
    });
  });
}());
