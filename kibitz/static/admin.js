// The dashboard's keyboard: j/k move between comments, x selects, a approves, r rejects,
// s marks spam, e opens, / searches. Everything also works without this file.
(function () {
  "use strict";
  var items = Array.prototype.slice.call(document.querySelectorAll(".items .item"));
  var current = -1;

  function select(i) {
    if (!items.length) return;
    if (current >= 0) items[current].classList.remove("current");
    current = Math.max(0, Math.min(items.length - 1, i));
    items[current].classList.add("current");
    items[current].focus({ preventScroll: true });
    items[current].scrollIntoView({ block: "nearest" });
  }

  function typing(el) {
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }

  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) return;
    var key = e.key;
    if (key === "/") {
      var search = document.getElementById("q");
      if (search) { e.preventDefault(); search.focus(); }
      return;
    }
    if (key === "j") { e.preventDefault(); select(current + 1); return; }
    if (key === "k") { e.preventDefault(); select(current - 1); return; }
    if (current < 0) return;
    var item = items[current];
    if (key === "x") {
      var box = item.querySelector('input[type="checkbox"]');
      if (box) { e.preventDefault(); box.checked = !box.checked; }
      return;
    }
    var target = item.querySelector('[data-key="' + key + '"]');
    if (target && !target.disabled) { e.preventDefault(); target.click(); }
  });

  document.addEventListener("focusin", function (e) {
    var i = items.indexOf(e.target.closest ? e.target.closest(".item") : null);
    if (i >= 0 && i !== current) {
      if (current >= 0) items[current].classList.remove("current");
      current = i;
      items[i].classList.add("current");
    }
  });

  var all = document.getElementById("select-all");
  if (all) {
    all.addEventListener("change", function () {
      document.querySelectorAll('input[name="ids"]').forEach(function (box) { box.checked = all.checked; });
    });
  }
})();
