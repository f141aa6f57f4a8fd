// Small behaviours every page may use, without inline handlers (the Content-Security-Policy
// allows no inline script but the request's own): a select that submits its form when
// changed, and a button that prints the page.
document.addEventListener("change", function (event) {
  var target = event.target;
  if (target.matches && target.matches("[data-submit-on-change]") && target.form) {
    target.form.submit();
  }
});
document.addEventListener("click", function (event) {
  var target = event.target.closest ? event.target.closest("[data-print]") : null;
  if (target) { window.print(); }
});

// The login page forgets the grid page the service worker saved (web/static/grid-sw.js): on
// a phone shared between shifts, the next worker's slow first load must never show the last
// worker's cells and visits. Check-ins queued offline stay: each carries its own account.
if (document.getElementById("login-form") && window.caches) {
  caches.keys().then(function (names) {
    return Promise.all(names.filter(function (name) {
      return name.indexOf("grid-shell-") === 0;
    }).map(function (name) { return caches.delete(name); }));
  }).catch(function () { return null; });
}
