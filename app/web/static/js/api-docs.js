// Starts Swagger UI on /docs; kept in a file because the CSP forbids inline scripts.
window.addEventListener("DOMContentLoaded", function () {
  var root = document.getElementById("swagger-ui");
  window.SwaggerUIBundle({
    url: root.dataset.url,
    dom_id: "#swagger-ui",
    deepLinking: true,
    persistAuthorization: false
  });
});
