// Progressive enhancement for KBP pages; everything works without it.
// - autosave of question notes (with a visible "saved" state), keeping the plan's version in step
// - filtering long competency lists as you type
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function csrfToken() {
    var field = document.querySelector('input[name="csrf_token"]');
    return field ? field.value : "";
  }

  var form = document.querySelector("form[data-plan]");
  if (form) {
    var planId = form.getAttribute("data-plan");
    var versionField = form.querySelector('input[name="version"]');
    var texts = document.body.dataset;
    var timers = {};

    var setVersion = function (v) {
      versionField.value = String(v);
      form.setAttribute("data-version", String(v));
    };

    var show = function (qid, state, text) {
      var el = form.querySelector('[data-state-for="' + qid + '"]');
      if (!el) { return; }
      el.className = "save-state " + state;
      el.textContent = text;
    };

    var save = function (qid) {
      var area = form.querySelector('[data-autosave="' + qid + '"]');
      var share = form.querySelector('[data-share="' + qid + '"]');
      var body = { version: parseInt(versionField.value, 10), note: area.value };
      if (share) { body.shared = share.checked; }
      show(qid, "saving", texts.textSaving || "Saving…");
      fetch("/api/v1/plans/" + encodeURIComponent(planId) + "/questions/" + encodeURIComponent(qid) + "/note", {
        method: "PUT",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
        body: JSON.stringify(body)
      }).then(function (response) {
        return response.json().then(function (data) { return { ok: response.ok, status: response.status, data: data }; });
      }).then(function (result) {
        if (result.ok) {
          setVersion(result.data.version);
          show(qid, "saved", texts.textSaved || "Saved");
        } else {
          show(qid, "failed", result.data.message || (texts.textFailed || "Not saved"));
        }
      }).catch(function () {
        show(qid, "failed", texts.textFailed || "Not saved");
      });
    };

    form.querySelectorAll("[data-autosave]").forEach(function (area) {
      var qid = area.getAttribute("data-autosave");
      area.addEventListener("input", function () {
        clearTimeout(timers[qid]);
        show(qid, "", "");
        timers[qid] = setTimeout(function () { save(qid); }, 800);
      });
    });
    form.querySelectorAll("[data-share]").forEach(function (box) {
      box.addEventListener("change", function () { save(box.getAttribute("data-share")); });
    });
  }

  document.querySelectorAll("input[data-filter]").forEach(function (input) {
    var items = document.querySelectorAll(input.getAttribute("data-filter"));
    var fold = function (s) { return s.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase(); };
    input.addEventListener("input", function () {
      var q = fold(input.value.trim());
      items.forEach(function (item) {
        item.hidden = q !== "" && fold(item.textContent).indexOf(q) === -1;
      });
    });
  });
})();
