/* Keyboard shortcuts of the reconciliation screen (j/k move, c confirm, r reject, u undo,
   ? help) and the running total of a split. Plain forms do the work: a shortcut only submits
   the selected row's form, so the page works without this file. */
(function () {
  "use strict";

  var current = -1;

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll(".recon-row"));
  }

  function select(index) {
    var all = rows();
    if (!all.length) { return; }
    current = Math.max(0, Math.min(index, all.length - 1));
    all.forEach(function (row) { row.classList.remove("is-current"); });
    var row = all[current];
    row.classList.add("is-current");
    row.focus({ preventScroll: true });
    row.scrollIntoView({ block: "nearest" });
  }

  function submit(action) {
    var row = rows()[current];
    if (!row) { return; }
    var form = row.querySelector('form[data-action="' + action + '"]');
    if (!form) { return; }
    if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
  }

  function toggleHelp() {
    var dialog = document.getElementById("recon-help");
    if (!dialog) { return; }
    if (dialog.open) { dialog.close(); } else { dialog.showModal(); }
  }

  document.addEventListener("keydown", function (event) {
    if (event.metaKey || event.ctrlKey || event.altKey) { return; }
    if (event.target.closest && event.target.closest("input, textarea, select, [contenteditable]")) { return; }
    switch (event.key) {
      case "j": select(current + 1); break;
      case "k": select(current < 0 ? 0 : current - 1); break;
      case "c": submit("confirm"); break;
      case "r": submit("reject"); break;
      case "u": submit("undo"); break;
      case "?": toggleHelp(); break;
      default: return;
    }
    event.preventDefault();
  });

  document.addEventListener("focusin", function (event) {
    var row = event.target.closest && event.target.closest(".recon-row");
    if (row) {
      var index = rows().indexOf(row);
      if (index >= 0) { current = index; rows().forEach(function (r) { r.classList.toggle("is-current", r === row); }); }
    }
  });

  function cents(text) {
    var value = parseFloat(String(text || "").replace(/,/g, ""));
    return isNaN(value) ? 0 : Math.round(value * 100);
  }

  function format(amount) {
    return (amount / 100).toLocaleString("en-GB", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  }

  function updateSplit(form) {
    var total = cents(form.getAttribute("data-total"));
    var allocated = 0;
    form.querySelectorAll(".recon-amount-input").forEach(function (input) { allocated += cents(input.value); });
    form.querySelector("[data-allocated]").textContent = format(allocated);
    form.querySelector("[data-left]").textContent = format(total - allocated);
    form.closest(".recon-split").classList.toggle("is-over", allocated > total);
  }

  document.addEventListener("input", function (event) {
    var form = event.target.closest && event.target.closest("form[data-split]");
    if (form) { updateSplit(form); }
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-recon-help]").forEach(function (button) {
      button.addEventListener("click", toggleHelp);
    });
    // After an action the page comes back at the payment it was about: select its first row.
    if (location.hash) {
      var target = document.getElementById(location.hash.slice(1));
      var row = target && target.querySelector(".recon-row");
      if (row) { select(rows().indexOf(row)); }
    }
  });
})();
