// Progressive enhancement for KBP pages; everything works without it.
// - autosave of question notes (with a visible "saved" state), keeping the plan's version in step
// - filtering long competency lists as you type
// - nothing typed is lost: save before a step or language link, warn before leaving, focus kept
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
      var sent = area.value;
      var body = { version: parseInt(versionField.value, 10), note: sent };
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
          area.kbpSaved = sent;  // saved: no longer counts as unsaved input
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

  // ------------------------------------------------------------------ nothing typed is lost
  // Forms marked data-keep (the steps of a dialogue and the plan): a step or language link (or one
  // marked data-keep-link, such as "show more suggestions") clicked
  // with unsaved input saves first and then goes there (the server follows "goto"); any other way
  // off the page asks first (beforeunload); after a save the page comes back at the field the
  // person was in ("return_to"); "I agree" refuses while there are unsaved changes.
  var keepForms = Array.prototype.slice.call(document.querySelectorAll("form[data-keep]"));
  var submitting = false;

  var snapshot = function (f) {
    var parts = [];
    Array.prototype.forEach.call(f.elements, function (el) {
      if (!el.name || el.type === "hidden" || el.type === "submit" || el.type === "button") { return; }
      if (el.type === "checkbox" || el.type === "radio") { parts.push(el.name + "=" + el.value + ":" + el.checked); }
      else if (el.kbpSaved !== undefined && el.value === el.kbpSaved) { parts.push(el.name + "=" + el.defaultValue); }  // autosaved
      else { parts.push(el.name + "=" + el.value); }
    });
    return parts.join("\u0001");
  };
  var hidden = function (f, name, value) {
    var el = f.querySelector('input[type="hidden"][name="' + name + '"]');
    if (!el) {
      el = document.createElement("input");
      el.type = "hidden";
      el.name = name;
      f.appendChild(el);
    }
    el.value = value;
  };
  var dirtyForm = function () {
    for (var i = 0; i < keepForms.length; i++) {
      if (snapshot(keepForms[i]) !== keepForms[i].kbpInitial) { return keepForms[i]; }
    }
    return null;
  };
  var say = function (el) {  // show a role="alert" message; said again when it is shown already
    if (!el) { return; }
    if (el.hidden) { el.hidden = false; return; }
    var text = el.textContent;
    el.textContent = "\u00a0";
    setTimeout(function () { el.textContent = text; }, 50);
  };

  keepForms.forEach(function (f) {
    f.kbpInitial = snapshot(f);
    var lastField = null;
    f.addEventListener("focusin", function (event) {
      var t = event.target;
      if (t.id && t.tagName !== "BUTTON") { lastField = t.id; }
    });
    f.addEventListener("submit", function (event) {
      var submitter = event.submitter;
      if (submitter && submitter.hasAttribute("data-agree") && snapshot(f) !== f.kbpInitial) {
        event.preventDefault();
        say(f.querySelector("[data-unsaved-message]"));
        return;
      }
      if (lastField) { hidden(f, "return_to", lastField); }
      submitting = true;
    });
    // focus competencies: the 1–5 limit is checked here too, without losing what is ticked
    var max = parseInt(f.getAttribute("data-max-focus") || "0", 10);
    if (max) {
      f.addEventListener("change", function (event) {
        var box = event.target;
        if (box.name !== "focus" || !box.checked) { return; }
        if (f.querySelectorAll('input[name="focus"]:checked').length > max) {
          box.checked = false;
          say(f.querySelector("[data-focus-message]"));
        } else {
          var msg = f.querySelector("[data-focus-message]");
          if (msg) { msg.hidden = true; }
        }
      });
    }
    // a note written for a question not yet ticked ticks it
    f.querySelectorAll("textarea[data-question]").forEach(function (area) {
      area.addEventListener("input", function () {
        var box = f.querySelector('input[name="question"][value="' + area.getAttribute("data-question") + '"]');
        if (box && area.value.trim() !== "" && !box.checked) { box.checked = true; }
      });
    });
  });

  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest(".steps a[href], .languages a[href], a[data-keep-link]") : null;
    if (!link || event.defaultPrevented || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) { return; }
    var f = dirtyForm();
    if (!f) { return; }
    event.preventDefault();
    var url = new URL(link.href, window.location.href);
    hidden(f, "goto", url.pathname + url.search);
    submitting = true;
    if (f.requestSubmit) { f.requestSubmit(); } else { f.submit(); }
  });

  window.addEventListener("beforeunload", function (event) {
    if (!submitting && dirtyForm()) {
      event.preventDefault();
      event.returnValue = "";
    }
  });

  // back at the field the person was in after a save; an error summary gets focus first
  var summary = document.getElementById("form-error");
  var target = summary || (window.location.hash ? document.getElementById(decodeURIComponent(window.location.hash.slice(1))) : null);
  if (target && target.focus) { target.focus(); }

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
