/* The API reference page (/api/v1/docs): Swagger UI from static/vendor, configured by the JSON in
   #swagger-settings (memory_console/api_docs.py). No inline script, nothing from another host. */
(function () {
  "use strict";
  var settings = JSON.parse(document.getElementById("swagger-settings").textContent);
  settings.dom_id = "#swagger-ui";
  settings.presets = [window.SwaggerUIBundle.presets.apis];
  window.SwaggerUIBundle(settings);
})();
