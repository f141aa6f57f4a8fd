// Swagger UI for /api/docs, from the locally served swagger-ui-dist (no CDN, no online
// validator). Requests made with "Try it out" carry the page's CSRF token, as the site's
// own scripts do.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  var meta = document.querySelector('meta[name="csrf-token"]');
  var token = meta ? meta.getAttribute("content") : "";
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-spec-url"),
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    withCredentials: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    requestInterceptor: function (request) {
      if (request.method && request.method.toUpperCase() !== "GET" && token) {
        request.headers["X-CSRFToken"] = token;
      }
      return request;
    }
  });
})();
