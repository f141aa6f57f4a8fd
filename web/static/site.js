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
