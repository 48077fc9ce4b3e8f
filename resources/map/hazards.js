/* Context layers of the OKI Siaga 112 wall map: BMKG quakes and warnings, FIRMS
 * hotspots, PetaBencana flood reports.
 *
 * The engine (commandcenter/core/hazard_layers.py) derives every figure and word
 * of these layers at an instant; ui/views/map/view.py sends them as one
 * "setHazards" operation whenever they change (an item came or went, a warning
 * expired on the engine's clock, an age or a source's state changed). This file
 * only draws them, each layer in its own group that the legend's rows switch on
 * and off. Publisher text is only ever put into the DOM with textContent.
 */
(function () {
  "use strict";

  var H = {
    map: null,
    opts: null,
    py: null,
    pane: "okiHazards",
    labelPane: "okiHazardLabels",
    renderer: null,
    groups: {},        // layer id -> L.LayerGroup
    on: {},            // layer id -> shown
    data: null,        // the last setHazards argument
    legend: null,
    legendRoot: null,
    legendRows: "",   // the layers the legend lists: the map fits again when they change
    legendWidth: 0,   // and when it grows wider than this
    refit: null,
    edgeMarkers: [],   // labels of quakes beyond the map's edge
    applied: 0
  };
  var ORDER = ["warning", "quake", "hotspot", "report"];
  var SEVERITY_SHAPE = { extreme: "\u25C6", severe: "\u25B2", moderate: "\u25CF", minor: "\u25CB", unknown: "\u25CB" };

  function el(tag, className, text) {
    var e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function colors() { return H.opts.hazardColors; }

  // Fill patterns, one per severity and one for stale data: the level reads
  // from the pattern and the label as well as from the colour.
  function installPatterns(svg) {
    var ns = "http://www.w3.org/2000/svg", c = colors().severity;
    var defs = document.createElementNS(ns, "defs");
    function pattern(id, size, angle, draw) {
      var p = document.createElementNS(ns, "pattern");
      p.setAttribute("id", id);
      p.setAttribute("patternUnits", "userSpaceOnUse");
      p.setAttribute("width", size);
      p.setAttribute("height", size);
      if (angle) p.setAttribute("patternTransform", "rotate(" + angle + ")");
      p.innerHTML = draw;
      defs.appendChild(p);
    }
    var line = function (color, w, size) {
      return '<line x1="0" y1="0" x2="0" y2="' + size + '" stroke="' + color + '" stroke-width="' + w + '"/>';
    };
    // Extreme: a dense cross-hatch; severe: diagonal stripes; moderate: dots;
    // minor: sparse stripes; stale: grey stripes the other way.
    pattern("oki-hz-extreme", 10, 45, line(c.extreme, 3, 10) +
      '<line x1="0" y1="5" x2="10" y2="5" stroke="' + c.extreme + '" stroke-width="3"/>');
    pattern("oki-hz-severe", 12, 45, line(c.severe, 4, 12));
    pattern("oki-hz-moderate", 12, 0, '<circle cx="6" cy="6" r="2.6" fill="' + c.moderate + '"/>');
    pattern("oki-hz-minor", 18, 45, line(c.minor, 2, 18));
    pattern("oki-hz-unknown", 18, 45, line(c.unknown, 2, 18));
    pattern("oki-hz-stale", 14, -45, line(colors().stale, 3, 14));
    svg.insertBefore(defs, svg.firstChild);
  }

  function setupRenderer() {
    var map = H.map;
    if (!map.getPane(H.pane)) {
      // Above the boundaries (overlayPane, 400), under the district labels (450)
      // and every marker: a warning never hides an incident.
      map.createPane(H.pane).style.zIndex = 410;
      map.createPane(H.labelPane).style.zIndex = 460;
      map.getPane(H.labelPane).style.pointerEvents = "none";
    }
    H.renderer = L.svg({ pane: H.pane, padding: 0.5 });
    // The renderer makes its <svg> when first used: force that with an invisible path.
    var probe = L.circleMarker([0, 0], { renderer: H.renderer, radius: 0, opacity: 0, interactive: false });
    probe.addTo(map);
    installPatterns(H.renderer._container);
    map.removeLayer(probe);
    map.addLayer(H.renderer);
  }

  function labelIcon(className, parts, anchorX, anchorY) {
    var root = el("div", "oki-hz-label " + className);
    parts.forEach(function (p) { if (p[1]) root.appendChild(el("div", p[0], p[1])); });
    var wrap = el("div");
    wrap.appendChild(root);
    return L.divIcon({ html: wrap.innerHTML, className: "oki-hz-anchor", iconSize: [0, 0],
                       iconAnchor: [anchorX || 0, anchorY || 0] });
  }

  function tooltipNode(lines) {
    var root = el("div", "oki-hz-tip");
    lines.forEach(function (t, i) { if (t) root.appendChild(el("div", i === 0 ? "oki-hz-tip-head" : "", t)); });
    return root;
  }

  // --- the four layers ------------------------------------------------------------

  function drawWarnings(group, layer) {
    var c = colors();
    layer.features.features.forEach(function (f) {
      var p = f.properties, sev = p.severity in c.severity ? p.severity : "unknown";
      var stale = layer.stale, color = stale ? c.stale : c.severity[sev];
      var best = null, bestArea = -1;
      f.geometry.coordinates.forEach(function (poly) {
        var ring = poly[0].map(function (xy) { return [xy[1], xy[0]]; });
        var shape = L.polygon(ring, {
          renderer: H.renderer, pane: H.pane, color: color, weight: p.touchesOki ? 4 : 3,
          dashArray: stale || !p.touchesOki ? "10 8" : null, opacity: 0.95,
          fillColor: "url(#oki-hz-" + (stale ? "stale" : sev) + ")", fillOpacity: 1,
          interactive: !!H.opts.interactive
        });
        shape.okiKey = p.key;
        if (H.opts.interactive) {
          shape.bindTooltip(tooltipNode([p.severityLabel + " \u00B7 " + p.headline, p.kecamatan, p.validity]),
                            { sticky: true, className: "oki-hz-tooltip" });
        }
        group.addLayer(shape);
        var b = shape.getBounds(), area = Math.abs((b.getNorth() - b.getSouth()) * (b.getEast() - b.getWest()));
        if (area > bestArea) { bestArea = area; best = b; }
      });
      if (best) {
        // One label per warning, at its largest polygon: the level in a word and a
        // shape, and how long it holds.
        // Above the polygon, not on it: the hatched area and what lies in it (a flood
        // report, an incident) stay in sight.
        var m = L.marker([best.getNorth(), best.getCenter().lng], {
          icon: labelIcon("oki-hz-warning oki-hz-sev-" + sev + (stale ? " oki-hz-is-stale" : ""), [
            ["oki-hz-title", SEVERITY_SHAPE[sev] + " " + p.severityLabel + (p.outside ? " \u00B7 " + p.outside : "")],
            ["oki-hz-validity", p.validity]
          ]),
          pane: H.labelPane, interactive: false, keyboard: false
        });
        m.okiKey = p.key;
        group.addLayer(m);
      }
    });
  }

  function drawQuakes(group, layer) {
    var c = colors();
    layer.features.features.forEach(function (f) {
      var p = f.properties, ll = [f.geometry.coordinates[1], f.geometry.coordinates[0]];
      var color = layer.stale ? c.stale : c.quake;
      if (p.radiusM > 0) {
        group.addLayer(L.circle(ll, {
          renderer: H.renderer, pane: H.pane, radius: p.radiusM, color: color, weight: p.latest ? 4 : 2,
          dashArray: "14 10", opacity: p.latest ? 0.95 : 0.6, fill: true, fillColor: color,
          fillOpacity: 0.06, interactive: false
        }));
      }
      var dot = L.circleMarker(ll, {
        renderer: H.renderer, pane: H.pane, radius: Math.max(8, H.opts.labelPx * 0.35), color: H.opts.colors.bg,
        weight: 3, fillColor: color, fillOpacity: 1, interactive: !!H.opts.interactive
      });
      if (H.opts.interactive) {
        dot.bindTooltip(tooltipNode([p.label + " \u00B7 " + p.where, p.detail, p.away]), { className: "oki-hz-tooltip" });
      }
      group.addLayer(dot);
      var label = L.marker(ll, {
        icon: labelIcon("oki-hz-quake" + (layer.stale ? " oki-hz-is-stale" : "") + (p.latest ? " oki-hz-latest" : ""), [
          ["oki-hz-magnitude", p.label], ["oki-hz-detail", p.latest ? p.detail : ""]
        ]),
        pane: H.labelPane, interactive: false, keyboard: false
      });
      label.okiKey = p.key;
      label.okiQuake = p;
      label.okiLatLng = L.latLng(ll);
      group.addLayer(label);
    });
  }

  function drawHotspots(group, layer) {
    var c = colors();
    // The strongest fires (FRP) carry their label on the wall, where nothing hovers.
    var ranked = layer.features.features.slice().sort(function (a, b) {
      return (b.properties.frpMax || 0) - (a.properties.frpMax || 0);
    });
    var labelled = {}, taken = [], gapX = H.opts.labelPx * 8, gapY = H.opts.labelPx * 1.6;
    ranked.slice(0, H.opts.interactive ? 0 : 2).forEach(function (f) {
      // Never two labels on top of each other: a fire next to a labelled one stays unlabelled.
      var pt = H.map.latLngToContainerPoint([f.geometry.coordinates[1], f.geometry.coordinates[0]]);
      for (var i = 0; i < taken.length; i++) {
        if (Math.abs(taken[i].x - pt.x) < gapX && Math.abs(taken[i].y - pt.y) < gapY) return;
      }
      taken.push(pt);
      labelled[f.properties.key] = true;
    });
    layer.features.features.forEach(function (f) {
      var p = f.properties, ll = [f.geometry.coordinates[1], f.geometry.coordinates[0]];
      var px = Math.round(H.opts.markerPx * (p.count > 1 ? 0.9 : 0.7));
      var color = layer.stale ? c.stale : c.hotspot;
      var html = '<svg viewBox="0 0 100 100" width="' + px + '" height="' + px + '" aria-hidden="true">' +
        '<polygon points="50,4 96,92 4,92" fill="' + color + '" stroke="' + H.opts.colors.bg + '" stroke-width="7"/>' +
        (p.count > 1 ? '<text x="50" y="70" text-anchor="middle" font-size="42" font-weight="800" fill="' +
          H.opts.colors.bg + '">' + Number(p.count) + "</text>" : "") + "</svg>";
      var m = L.marker(ll, {
        icon: L.divIcon({ html: html, className: "oki-hz-hotspot" + (layer.stale ? " oki-hz-is-stale" : ""),
                          iconSize: [px, px], iconAnchor: [px / 2, px / 2] }),
        pane: H.labelPane, interactive: !!H.opts.interactive, keyboard: false
      });
      m.okiKey = p.key;
      var tip = [p.label, p.detail, p.place];
      if (labelled[p.key]) {
        m.bindTooltip(tooltipNode([p.label]), { permanent: true, direction: "right", offset: [px / 2, 0],
                                          className: "oki-hz-tooltip oki-hz-permanent" });
      } else {
        m.bindTooltip(tooltipNode(tip), { className: "oki-hz-tooltip" });
      }
      group.addLayer(m);
    });
  }

  function drawReports(group, layer) {
    var c = colors();
    layer.features.features.forEach(function (f) {
      var p = f.properties, ll = [f.geometry.coordinates[1], f.geometry.coordinates[0]];
      var m = L.marker(ll, {
        icon: labelIcon("oki-hz-report" + (layer.stale ? " oki-hz-is-stale" : ""), [["oki-hz-depth", p.label]]),
        pane: H.labelPane, interactive: false, keyboard: false
      });
      m.okiKey = p.key;
      group.addLayer(m);
      var dot = L.circleMarker(ll, {
        renderer: H.renderer, pane: H.pane, radius: Math.max(6, H.opts.labelPx * 0.25),
        color: H.opts.colors.bg, weight: 2, fillColor: layer.stale ? c.stale : c.report, fillOpacity: 1,
        interactive: !!H.opts.interactive
      });
      if (H.opts.interactive) dot.bindTooltip(tooltipNode([p.label + " \u00B7 " + p.detail, p.text]),
                                              { className: "oki-hz-tooltip" });
      group.addLayer(dot);
    });
  }

  var DRAW = { warning: drawWarnings, quake: drawQuakes, hotspot: drawHotspots, report: drawReports };

  // --- quakes beyond the edge ---------------------------------------------------------

  var ARROWS = ["\u2192", "\u2198", "\u2193", "\u2199", "\u2190", "\u2196", "\u2191", "\u2197"];

  // An epicentre outside the view (BMKG's quakes are often far off the regency)
  // keeps its magnitude on the map: a label at the edge, with an arrow towards it
  // and its distance from OKI.
  function updateEdgeLabels() {
    H.edgeMarkers.forEach(function (m) { H.map.removeLayer(m); });
    H.edgeMarkers = [];
    var group = H.groups.quake;
    if (!group || !H.on.quake || !H.map.hasLayer(group)) return;
    var size = H.map.getSize(), margin = Math.round(H.opts.labelPx * 0.6);
    group.eachLayer(function (m) {
      var q = m.okiQuake;
      if (!q || !q.latest) return;
      var p = H.map.latLngToContainerPoint(m.okiLatLng);
      var inside = p.x >= 0 && p.y >= 0 && p.x <= size.x && p.y <= size.y;
      // The label at an epicentre just beyond the edge would spill its text into view.
      if (m._icon) m._icon.style.visibility = inside ? "" : "hidden";
      if (inside) return;
      var cx = size.x / 2, cy = size.y / 2, dx = p.x - cx, dy = p.y - cy;
      // Where the line from the centre to the epicentre leaves the view, pulled in.
      var t = Math.min(Math.abs((cx - margin) / (dx || 1e-9)), Math.abs((cy - margin) / (dy || 1e-9)));
      var x = cx + dx * t, y = cy + dy * t;
      var angle = Math.atan2(dy, dx), arrow = ARROWS[(Math.round(angle / (Math.PI / 4)) + 8) % 8];
      var ax = dx > 0 ? 1 : 0, ay = dy > 0 ? 1 : 0;
      var edge = L.marker(H.map.containerPointToLatLng([x, y]), {
        icon: L.divIcon({
          html: edgeHtml(arrow, q, ax, ay), className: "oki-hz-anchor", iconSize: [0, 0], iconAnchor: [0, 0]
        }),
        pane: H.labelPane, interactive: false, keyboard: false
      });
      edge.okiEdge = true;
      edge.addTo(H.map);
      H.edgeMarkers.push(edge);
    });
  }

  function edgeHtml(arrow, q, ax, ay) {
    var stale = H.data && layerData("quake") && layerData("quake").stale;
    var root = el("div", "oki-hz-label oki-hz-quake oki-hz-edge oki-hz-latest" + (stale ? " oki-hz-is-stale" : ""));
    root.style.transform = "translate(" + (-100 * ax) + "%, " + (-100 * ay) + "%)";
    root.appendChild(el("div", "oki-hz-magnitude", arrow + " " + q.label));
    root.appendChild(el("div", "oki-hz-detail", [q.away, q.clock].filter(function (x) { return x; }).join(" \u00B7 ")));
    var wrap = el("div");
    wrap.appendChild(root);
    return wrap.innerHTML;
  }

  // Labels near the map's edge (a warning over Kayu Agung on the regency's western
  // border) are moved in so that they are read whole.
  function clampLabels() {
    var box = H.map.getContainer().getBoundingClientRect(), pad = 6;
    Array.prototype.forEach.call(document.querySelectorAll(".leaflet-pane .oki-hz-label:not(.oki-hz-edge)"), function (e) {
      e.style.marginLeft = "0px";
      e.style.marginTop = "0px";
      var r = e.getBoundingClientRect(), dx = 0, dy = 0;
      if (r.left < box.left + pad) dx = box.left + pad - r.left;
      else if (r.right > box.right - pad) dx = box.right - pad - r.right;
      if (r.top < box.top + pad) dy = box.top + pad - r.top;
      else if (r.bottom > box.bottom - pad) dy = box.bottom - pad - r.bottom;
      if (dx) e.style.marginLeft = Math.round(dx) + "px";
      if (dy) e.style.marginTop = Math.round(dy) + "px";
    });
    declutter();
  }

  // Labels never lie on each other, as the district names do not: warnings' and
  // quakes' labels first, then flood depths, then the fires' labels; one that would
  // cover another is hidden (its dot or triangle stays, with its hover text).
  function declutter() {
    var placed = [];
    var box = function (e) { var r = e.getBoundingClientRect(); return { l: r.left, t: r.top, r: r.right, b: r.bottom }; };
    var hits = function (a) {
      for (var i = 0; i < placed.length; i++) {
        var p = placed[i];
        if (!(a.r <= p.l || a.l >= p.r || a.b <= p.t || a.t >= p.b)) return true;
      }
      return false;
    };
    [".oki-hz-warning, .oki-hz-quake", ".oki-hz-report", ".oki-hz-permanent"].forEach(function (sel, rank) {
      Array.prototype.forEach.call(document.querySelectorAll(".leaflet-pane " + sel.split(", ").join(", .leaflet-pane ")),
        function (e) {
          if (e.parentNode && e.parentNode.style && e.parentNode.style.visibility === "hidden") return;  // off-map quake
          e.style.visibility = "";
          var b = box(e);
          if (rank > 0 && hits(b)) { e.style.visibility = "hidden"; return; }
          placed.push(b);
        });
    });
  }

  // --- the legend: a row per layer, clicked to switch it -------------------------------

  function layerData(id) {
    if (!H.data) return null;
    for (var i = 0; i < H.data.layers.length; i++) if (H.data.layers[i].id === id) return H.data.layers[i];
    return null;
  }

  function buildLegend() {
    var root = el("div", "oki-hz-legend");
    root.setAttribute("role", "group");
    L.DomEvent.disableClickPropagation(root);
    L.DomEvent.disableScrollPropagation(root);
    var Legend = L.Control.extend({
      options: { position: "bottomright" },
      onAdd: function () { return root; }
    });
    H.legendRoot = root;
    H.legend = new Legend();
    H.legend.addTo(H.map);
  }

  function renderLegend() {
    var root = H.legendRoot;
    while (root.firstChild) root.removeChild(root.firstChild);
    var shown = 0;
    (H.data ? H.data.layers : []).forEach(function (layer) {
      // A layer with nothing in it and a healthy source takes no room.
      if (!layer.count && !layer.stale) return;
      shown += 1;
      var row = el("button", "oki-hz-row" + (H.on[layer.id] ? " oki-hz-on" : "") + (layer.stale ? " oki-hz-row-stale" : ""));
      row.type = "button";
      row.setAttribute("data-layer", layer.id);
      row.setAttribute("aria-pressed", H.on[layer.id] ? "true" : "false");
      row.appendChild(el("span", "oki-hz-check", H.on[layer.id] ? "\u2611" : "\u2610"));
      row.appendChild(el("span", "oki-hz-swatch oki-hz-swatch-" + layer.id));
      // The status under the title: one line each keeps the legend narrow beside the regency.
      var text = el("span", "oki-hz-row-text");
      text.appendChild(el("span", "oki-hz-row-title", layer.title));
      text.appendChild(el("span", "oki-hz-row-status", layer.status));
      row.appendChild(text);
      row.addEventListener("click", function (e) {
        L.DomEvent.stop(e);
        setVisible(layer.id, !H.on[layer.id], true);
      });
      root.appendChild(row);
    });
    root.style.display = shown ? "" : "none";
    var rows = Array.prototype.map.call(root.childNodes, function (e) { return e.getAttribute("data-layer"); }).join(",");
    // The map fits the regency beside the legends again when the rows change or the
    // legend grows (a stale layer's longer status); not when it shrinks, so that the
    // map does not move as ages tick.
    var width = root.offsetWidth;
    if (rows !== H.legendRows || width > H.legendWidth) {
      H.legendRows = rows;
      H.legendWidth = width;
      if (H.refit) H.refit();
    }
  }

  function setVisible(id, on, fromPage) {
    if (!(id in DRAW)) return;
    H.on[id] = !!on;
    var group = H.groups[id];
    if (group) {
      if (on && !H.map.hasLayer(group)) group.addTo(H.map);
      if (!on && H.map.hasLayer(group)) H.map.removeLayer(group);
    }
    renderLegend();
    updateEdgeLabels();
    clampLabels();
    if (fromPage && H.py && H.py.hazardToggled) H.py.hazardToggled(id, !!on);
  }

  // --- operations from Python ------------------------------------------------------------

  function setHazards(data) {
    H.data = data;
    data.layers.forEach(function (layer) {
      if (!(layer.id in H.on)) H.on[layer.id] = !!layer.on;
      var group = H.groups[layer.id];
      if (!group) {
        group = H.groups[layer.id] = L.layerGroup();
      }
      group.clearLayers();
      DRAW[layer.id](group, layer);
      if (H.on[layer.id] && !H.map.hasLayer(group)) group.addTo(H.map);
      if (!H.on[layer.id] && H.map.hasLayer(group)) H.map.removeLayer(group);
    });
    // Drawing order: warnings under quakes under hotspots under reports.
    ORDER.forEach(function (id) { var g = H.groups[id]; if (g && H.map.hasLayer(g)) g.eachLayer(function (l) { if (l.bringToFront) l.bringToFront(); }); });
    renderLegend();
    updateEdgeLabels();
    clampLabels();
    H.applied += 1;
  }

  function setHazardVisible(states) {
    Object.keys(states).forEach(function (id) { setVisible(id, states[id], false); });
  }

  function clearHazards() {
    Object.keys(H.groups).forEach(function (id) { H.groups[id].clearLayers(); });
    H.data = null;
    renderLegend();
    updateEdgeLabels();
  }

  // --- for tests and diagnostics (read-only) ---------------------------------------------

  function state() {
    var out = { applied: H.applied, layers: {} };
    ORDER.forEach(function (id) {
      var layer = layerData(id), group = H.groups[id], shapes = 0, keys = {};
      if (group) group.eachLayer(function (l) { shapes += 1; if (l.okiKey) keys[l.okiKey] = true; });
      out.layers[id] = {
        shown: !!(group && H.map.hasLayer(group)),
        on: !!H.on[id],
        stale: !!(layer && layer.stale),
        status: layer ? layer.status : "",
        count: layer ? layer.count : 0,
        shapes: shapes,
        keys: Object.keys(keys).sort()
      };
    });
    var labels = document.querySelectorAll(".leaflet-pane .oki-hz-label");
    out.labels = Array.prototype.map.call(labels, function (e) { return e.textContent; });
    out.edge = H.edgeMarkers.length;
    out.legend = H.legendRoot && H.legendRoot.style.display !== "none" ? H.legendRoot.textContent : "";
    out.legendRows = Array.prototype.map.call(document.querySelectorAll(".oki-hz-row"), function (e) {
      return e.getAttribute("data-layer");
    });
    return out;
  }

  // A real click on a legend row (a DOM click event), as an operator's would be.
  function clickRow(id) {
    var row = document.querySelector('.oki-hz-row[data-layer="' + id + '"]');
    if (!row) return false;
    row.click();
    return true;
  }

  window.OkiHazards = {
    /* Called by OkiMap.init once the map exists; ops is OkiMap's table of operations. */
    init: function (map, opts, ops, refit) {
      H.map = map;
      H.opts = opts;
      H.refit = refit || null;
      setupRenderer();
      buildLegend();
      renderLegend();
      ops.setHazards = setHazards;
      ops.setHazardVisible = setHazardVisible;
      ops.clearHazards = clearHazards;
      map.on("moveend zoomend resize", function () { updateEdgeLabels(); clampLabels(); });
    },
    connect: function (py) { H.py = py; },
    legendElement: function () { return H.legendRoot; },
    state: state,
    clickRow: clickRow
  };
})();
