// /docs: Swagger UI from the vendored bundle (no CDN), reading our own OpenAPI document. An external file, not an
// inline script, so the page keeps the strict Content-Security-Policy every page has.
"use strict";
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,  // the public validator would be a network call
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
