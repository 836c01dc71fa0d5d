// Trunkline console: keep the parts marked data-live up to date by re-reading the page
// (no framework, no build). Pages work without it.
(function () {
  "use strict";
  var INTERVAL = 2000;
  function refresh() {
    var live = document.querySelectorAll("[data-live][id]");
    if (!live.length || document.hidden) return;
    fetch(window.location.href, { credentials: "same-origin", headers: { "X-Console-Refresh": "1" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, "text/html");
        live.forEach(function (el) {
          var next = fresh.getElementById(el.id);
          if (!next) return;
          var open = Array.prototype.map.call(el.querySelectorAll("details"), function (d) { return d.open; });
          el.className = next.className;
          if (el.innerHTML !== next.innerHTML) {
            el.innerHTML = next.innerHTML;
            el.querySelectorAll("details").forEach(function (d, i) { if (i < open.length && i > 0) d.open = open[i]; });
          }
        });
      })
      .catch(function () {});
  }
  window.setInterval(refresh, INTERVAL);
})();
