// Page logic of moldiff's report.html: the 3D view (3Dmol.js), the sortable molecule table and the
// link between them. Data come from the JSON in #report-data (see moldiff/chem/html_report.py).
// State for scripted checks: body[data-ready] = "1" once drawn, body[data-current] = ligand shown.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const body = document.body;
  const viewer = $3Dmol.createViewer(document.getElementById("viewer"), { backgroundColor: "white" });
  const REFERENCE = "#9b51e0", VALID = "#2f80ed", INVALID = "#eb5757", MISSING = "#9e9e9e", POCKET = "#c8c8c8";
  const COFACTOR = "#f2a541";
  const SCALE = ["#1a9850", "#fee08b", "#d73027"];  // good, middle, bad
  const ligands = data.ligands.map(function (lig) { return viewer.addModel(lig.mol, "sdf"); });
  const pocket = data.pocket ? viewer.addModel(data.pocket, "pdb") : null;
  const mode = document.getElementById("mode"), colouring = document.getElementById("colouring");
  const showReference = document.getElementById("show-reference"), showPocket = document.getElementById("show-pocket");
  const showSurface = document.getElementById("show-surface");
  const rows = Array.from(document.querySelectorAll("#molecule-table tbody tr"));
  let current = data.ligands.findIndex(function (lig) { return !lig.reference; });
  let surface = null;

  data.colourings.forEach(function (c) {
    const option = document.createElement("option");
    option.value = c.key;
    option.textContent = c.label;
    colouring.appendChild(option);
  });
  colouring.value = data.colourings.length > 1 ? data.colourings[1].key : "valid";  // a score when there is one
  if (!pocket) { showPocket.parentNode.hidden = true; showSurface.parentNode.hidden = true; }
  if (!data.ligands.some(function (lig) { return lig.reference; })) showReference.parentNode.hidden = true;

  function hex(a) { return parseInt(a.slice(1), 16); }
  function mix(a, b, t) {  // colour between hex strings a and b
    const x = hex(a), y = hex(b);
    const c = [16, 8, 0].map(function (s) { return Math.round(((x >> s) & 255) * (1 - t) + ((y >> s) & 255) * t); });
    return "#" + c.map(function (v) { return v.toString(16).padStart(2, "0"); }).join("");
  }
  function range(key) {
    const values = data.ligands.map((lig) => lig.values[key]).filter((v) => v !== null && v !== undefined);
    return [Math.min.apply(null, values), Math.max.apply(null, values)];
  }
  function carbon(k) {  // carbon colour of ligand k under the current colouring
    const lig = data.ligands[k], key = colouring.value;
    if (lig.reference) return REFERENCE;
    if (key === "valid") return lig.valid ? VALID : INVALID;
    const v = lig.values[key];
    if (v === null || v === undefined) return MISSING;
    const c = data.colourings.find(function (x) { return x.key === key; }), r = range(key);
    let t = r[1] > r[0] ? (v - r[0]) / (r[1] - r[0]) : 0.5;
    if (!c.lower_better) t = 1 - t;  // t = 0 is the best value
    return t < 0.5 ? mix(SCALE[0], SCALE[1], 2 * t) : mix(SCALE[1], SCALE[2], 2 * t - 1);
  }
  function swatch(colour, label) { return '<span class="swatch" style="background:' + colour + '"></span>' + label; }
  function legend() {
    const key = colouring.value, box = document.getElementById("legend");
    let others = showReference.parentNode.hidden ? "" : swatch(REFERENCE, "reference");
    if (pocket && pocket.selectedAtoms({ hetflag: true }).length) others += swatch(COFACTOR, "cofactor");
    if (key === "valid") {
      box.innerHTML = swatch(VALID, "valid") + swatch(INVALID, "invalid") + others;
      return;
    }
    const c = data.colourings.find((x) => x.key === key), r = range(key);
    const ends = c.lower_better ? [r[0], r[1]] : [r[1], r[0]];
    box.innerHTML = "carbons by " + c.label +
      '<div class="bar" style="background:linear-gradient(to right,' + SCALE.join(",") + ')"></div>' +
      '<div class="bar-labels"><span>' + ends[0].toFixed(2) + " (best)</span><span>" + ends[1].toFixed(2) +
      "</span></div>" + swatch(MISSING, "no value") + others;
  }
  function style(model, k, radius) {
    model.setStyle({}, { stick: { radius: radius } });
    model.setStyle({ elem: "C" }, { stick: { radius: radius, color: carbon(k) } });
  }
  function draw() {
    const overlay = mode.value === "overlay";
    ligands.forEach(function (model, k) {
      const lig = data.ligands[k];
      if (k === current) style(model, k, 0.22);
      else if (lig.reference ? showReference.checked : overlay) style(model, k, lig.reference ? 0.16 : 0.09);
      else model.setStyle({}, {});
    });
    if (pocket) {
      const thin = { radius: 0.07, opacity: 0.8 };
      pocket.setStyle({}, showPocket.checked ? { stick: thin } : {});
      if (showPocket.checked) {
        pocket.setStyle({ elem: "C" }, { stick: Object.assign({ color: POCKET }, thin) });
        pocket.setStyle({ hetflag: true }, { stick: { radius: 0.14 } });  // cofactors and ions
        pocket.setStyle({ hetflag: true, elem: "C" }, { stick: { radius: 0.14, color: COFACTOR } });
      }
    }
    legend();
    viewer.render();
  }
  function select(k) {
    current = k;
    rows.forEach(function (row) { row.classList.toggle("current", Number(row.dataset.index) === k); });
    const lig = data.ligands[k];
    document.getElementById("shown").textContent = "shown: " +
      (lig.reference ? "reference ligand" : "ligand " + lig.label + (lig.valid ? " (valid)" : " (invalid)"));
    if (!pocket) viewer.zoomTo({ model: ligands[k] });
    draw();
    body.dataset.current = String(k);
  }
  function step(delta) {  // previous/next row in the table's current order
    const order = Array.from(document.querySelectorAll("#molecule-table tbody tr"), (r) => Number(r.dataset.index));
    const at = order.indexOf(current);
    select(order[(at + delta + order.length) % order.length]);
  }
  function sortBy(th) {
    const column = Number(th.dataset.column), tbody = document.querySelector("#molecule-table tbody");
    const ascending = th.getAttribute("aria-sort") !== "ascending";
    document.querySelectorAll("#molecule-table th").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    function value(row) {
      const cell = row.children[column], v = cell.dataset.sort !== undefined ? cell.dataset.sort : cell.textContent;
      return v === "" ? null : isNaN(Number(v)) ? v : Number(v);
    }
    const sorted = rows.slice().sort(function (a, b) {
      const x = value(a), y = value(b);
      if (x === null || y === null) return (x === null) - (y === null);  // missing values last either way
      const c = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
      return ascending ? c : -c;
    });
    sorted.forEach(function (row) { tbody.appendChild(row); });
  }

  rows.forEach(function (row) { row.addEventListener("click", function () { select(Number(row.dataset.index)); }); });
  document.querySelectorAll("#molecule-table th:not(.nosort)").forEach(function (th) {
    th.addEventListener("click", function () { sortBy(th); });
  });
  [mode, colouring, showReference, showPocket].forEach(function (el) { el.addEventListener("change", draw); });
  showSurface.addEventListener("change", function () {
    if (surface !== null) { viewer.removeSurface(surface); surface = null; }
    if (showSurface.checked) {
      // a promise carrying the surface's id
      surface = viewer.addSurface($3Dmol.SurfaceType.VDW, { opacity: 0.6, color: "white" }, { model: pocket }).surfid;
    }
    viewer.render();
  });
  document.getElementById("previous").addEventListener("click", function () { step(-1); });
  document.getElementById("next").addEventListener("click", function () { step(1); });

  viewer.zoomTo({ model: ligands });
  viewer.zoom(0.85);
  select(current < 0 ? 0 : current);
  body.dataset.ready = "1";
})();
