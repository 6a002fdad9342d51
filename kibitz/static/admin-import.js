// A running import's page: asks how far it got every second, shows it, and reloads the page
// (for the report) once it has finished. Without this file the page has a Reload link.
(function () {
  "use strict";
  var box = document.getElementById("import-progress");
  if (!box || !window.fetch) return;
  var bar = document.getElementById("import-bar");
  var stage = document.getElementById("import-stage");
  var url = box.getAttribute("data-progress");
  var number = function (n) { return Number(n || 0).toLocaleString(); };

  function show(p) {
    if (p.finished) { window.location.reload(); return true; }
    if (p.percent !== null && p.percent !== undefined) {
      bar.value = p.percent;
      bar.textContent = p.percent + "%";
    } else {
      bar.removeAttribute("value");
    }
    if (p.stage === "write") stage.textContent = "Writing threads: " + number(p.done) + " of " + number(p.total) + "…";
    else if (p.stage === "read") stage.textContent = "Reading the file: " + number(p.done) + " bytes…";
    return false;
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" }, cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (p) { if (!p || !show(p)) window.setTimeout(poll, 1000); })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 500);
})();
