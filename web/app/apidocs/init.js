// The API page (web/app/apidocs): Swagger UI on this app's own /openapi.json, relative to
// the page, so that it also works behind a proxy that serves the app under a path.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    // No call to swagger.io's validator badge: the page talks to this host only.
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
