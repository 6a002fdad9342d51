// The donation page works without this: it only puts the chosen amount on the buttons
// ("Donate 25 $ monthly"), so the frequency and the amount are both stated where you click.
(function () {
  "use strict";
  var form = document.querySelector(".donate-form");
  if (!form) return;
  var custom = form.querySelector("#custom_amount");
  var symbol = (form.querySelector("label[for=custom_amount]").textContent.match(/\(([^)]*)\)/) || [])[1] || "";
  function amount() {
    var picked = form.querySelector("input[name=amount]:checked");
    if (!picked) return "";
    if (picked.value === "other") {
      var typed = custom.value.trim();
      return typed ? typed + " " + symbol : "";
    }
    return picked.getAttribute("data-label") || "";
  }
  function update() {
    var shown = amount();
    form.querySelectorAll("button[data-frequency]").forEach(function (button) {
      var when = button.getAttribute("data-frequency");
      button.textContent = "Donate " + (shown ? shown + " " : "") + when;
    });
  }
  form.addEventListener("change", update);
  custom.addEventListener("input", function () {
    var other = form.querySelector("input[name=amount][value=other]");
    if (custom.value.trim() && other) other.checked = true;
    update();
  });
  update();
})();
