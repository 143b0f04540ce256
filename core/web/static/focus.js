/* The focus step: how many competencies are chosen ("3 of 5 chosen", announced), and the filter
   lists name matches first — names that start with what was typed, then names containing it, then
   competencies whose definition mentions it. Without JavaScript the page works as a plain form. */
(function () {
  "use strict";
  var count = document.getElementById("chosen-count");
  var filter = document.getElementById("competency-filter");
  if (!count && !filter) { return; }
  var form = (count || filter).closest("form");
  var boxes = form.querySelectorAll('input[type=checkbox][name="focus"]');
  var max = parseInt(count ? count.getAttribute("data-max") : "5", 10);

  function updateCount() {
    if (!count) { return; }
    var n = 0;
    boxes.forEach(function (box) { if (box.checked) { n += 1; } });
    var text = count.getAttribute(n === 1 ? "data-one" : "data-other");
    count.textContent = text.replace("%(num)s", String(n)).replace("%(max)s", String(max));
  }
  boxes.forEach(function (box) { box.addEventListener("change", updateCount); });

  if (filter) {
    var fold = function (s) { return s.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase().trim(); };
    var items = Array.prototype.slice.call(form.querySelectorAll(".competency-choice"));
    var places = items.map(function (item) {
      var mark = document.createComment("competency");
      item.parentNode.insertBefore(mark, item);
      return mark;
    });
    var names = items.map(function (item) { var s = item.querySelector("label strong, label"); return fold(s ? s.textContent : ""); });
    var definitions = items.map(function (item) { var d = item.querySelector(".definition"); return fold(d ? d.textContent : ""); });
    var results = document.createElement("div");
    results.className = "filter-results";
    results.hidden = true;
    filter.parentNode.insertBefore(results, (count && count.parentNode === filter.parentNode ? count : filter).nextSibling);
    var sections = form.querySelectorAll("fieldset, h2, .competency-heading");

    filter.addEventListener("input", function () {
      var q = fold(filter.value);
      if (!q) {
        items.forEach(function (item, i) { places[i].parentNode.insertBefore(item, places[i].nextSibling); item.hidden = false; });
        sections.forEach(function (s) { s.hidden = false; });
        results.hidden = true;
        return;
      }
      var ranked = [];
      items.forEach(function (item, i) {
        var at = names[i].indexOf(q);
        var rank = at === 0 ? 0 : (at > 0 ? 1 : (definitions[i].indexOf(q) >= 0 ? 2 : -1));
        item.hidden = rank < 0;
        if (rank >= 0) { ranked.push({ item: item, rank: rank, i: i }); }
      });
      ranked.sort(function (a, b) { return a.rank - b.rank || a.i - b.i; });
      ranked.forEach(function (r) { results.appendChild(r.item); });
      sections.forEach(function (s) { if (!results.contains(s)) { s.hidden = true; } });
      results.hidden = false;
    });
  }
  updateCount();
}());
