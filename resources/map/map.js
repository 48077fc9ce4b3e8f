/* Live layer of the OKI Siaga 112 wall map.
 *
 * The base page (Leaflet map, district labels, optional boundaries and tiles)
 * is made once by ui/views/map/page.py with folium. This file adds what changes:
 * incident markers (clustered), unit markers, counts per district, selection.
 * Python (ui/views/map/view.py) sends batched diffs through OkiMap.apply(); clicks go
 * back through the QWebChannel object "mapBridge".
 *
 * Text from the feed (descriptions come from the public) is only ever put into
 * the DOM with textContent, never as HTML.
 */
(function () {
  "use strict";

  var S = {
    map: null,
    opts: null,
    py: null,
    ready: false,
    queue: [],            // calls made before init finished
    applied: 0,           // batches applied (returned to Python as confirmation)
    // Keyed by ids from the feed: objects without a prototype, so an id such as
    // "__proto__" or "constructor" is a key like any other (see dict()).
    incidents: dict(),    // id -> L.Marker (data in marker.oki)
    units: dict(),        // id -> L.Marker
    cluster: null,
    unitLayer: null,
    districtLayer: null,
    villageData: null,    // the villages' FeatureCollection; a layer is made the first time they show
    villageLayer: null,
    villageLabels: null,  // L.LayerGroup of the village names shown now
    villageInfo: [],      // [{name, anchor: L.LatLng, bounds: L.LatLngBounds, marker}]
    regencyLayer: null,
    districtCounts: dict(),
    agencyOn: dict(),     // agency code -> overlay checked
    pulsing: dict(),      // incident id -> true
    alerts: dict(),       // incident id -> {state: "alert"|"sending"|"acked", line: text}
    selected: "",
    selPopup: null,
    icons: dict(),
    userMoved: false,
    labelItems: [],       // the names shown, boxes units keep clear of (see declutter)
    controlItems: [],     // the legend, scale and other controls, the same
    incidentsMoved: false,  // an incident marker came, went, moved or changed: labels may have to make room
    errors: 0,
    chunking: 0,          // cluster adds still in chunks (see clusterAdd)
    afterChunks: [],      // batch confirmations waiting for them
    chunkGuard: null
  };
  var CHUNK_GUARD_MS = 10000;

  function dict() { return Object.create(null); }

  var SHAPES = {
    circle: '<circle cx="50" cy="50" r="44"/>',
    square: '<rect x="8" y="8" width="84" height="84" rx="6"/>',
    triangle: '<polygon points="50,4 97,93 3,93"/>',
    diamond: '<polygon points="50,2 98,50 50,98 2,50"/>',
    star: '<polygon points="50,3 62,37 98,37 69,59 80,94 50,73 20,94 31,59 2,37 38,37"/>',
    cross: '<polygon points="33,3 67,3 67,33 97,33 97,67 67,67 67,97 33,97 33,67 3,67 3,33 33,33"/>',
    hexagon: '<polygon points="50,3 91,26.5 91,73.5 50,97 9,73.5 9,26.5"/>'
  };
  // Where the letter sits best inside each shape (the triangle's centre is low).
  var LETTER_Y = { triangle: 72, star: 62 };
  var PRIORITY_RANK = { high: 0, medium: 1, low: 2 };

  function escapeHtml(text) {
    var div = document.createElement("div");
    div.textContent = String(text);
    return div.innerHTML;
  }

  function logError(where, err) {
    S.errors += 1;
    console.error("OkiMap." + where + ": " + (err && err.stack ? err.stack : err));
  }

  // --- icons -----------------------------------------------------------------------

  function incidentIcon(shape, priority, pulse, selected) {
    var key = shape + "|" + priority + "|" + (pulse ? 1 : 0) + "|" + (selected ? 1 : 0);
    var icon = S.icons[key];
    if (icon) return icon;  // one L.DivIcon serves every marker that looks the same
    var px = S.opts.markerPx;
    var color = S.opts.colors.priority[priority] || S.opts.colors.accent;
    var letter = escapeHtml(S.opts.priorityLetter[priority] || "?");
    var body = SHAPES[shape] || SHAPES.circle;
    var y = LETTER_Y[shape] || 52;
    var svg = '<svg viewBox="0 0 100 100" width="' + px + '" height="' + px + '" aria-hidden="true">' +
      '<g fill="' + color + '" stroke="' + S.opts.colors.bg + '" stroke-width="6" ' +
      'stroke-linejoin="round">' + body + "</g>" +
      // Body size (S.opts.letterShare of the marker, page.py): a halo of the marker's colour
      // behind the letter keeps it whole where it passes a triangle's or a star's edge.
      '<text x="50" y="' + y + '" text-anchor="middle" dominant-baseline="central" ' +
      'fill="' + S.opts.colors.bg + '" stroke="' + color + '" stroke-width="10" stroke-linejoin="round" ' +
      'paint-order="stroke" font-size="' + Math.round(100 * S.opts.letterShare) + '" font-weight="800">' +
      letter + "</text></svg>";
    icon = L.divIcon({
      html: svg,
      className: "oki-incident oki-p-" + priority + (pulse ? " oki-pulse" : "") + (selected ? " oki-selected" : ""),
      iconSize: [px, px],
      iconAnchor: [px / 2, px / 2],
      popupAnchor: [0, -px / 2]
    });
    S.icons[key] = icon;
    return icon;
  }

  function unitIcon(agency, group) {
    var key = "u|" + agency + "|" + group;
    var icon = S.icons[key];
    if (icon) return icon;
    var px = S.opts.unitPx;
    var ag = agencyByCode(agency);
    var fill = ag ? ag.color : S.opts.colors.textDim;
    var ring = S.opts.colors.unitGroup[group] || S.opts.colors.textDim;
    icon = L.divIcon({
      html: '<span class="oki-unit-dot" style="background:' + fill + ";border-color:" + ring + '"></span>',
      className: "oki-unit oki-unit-" + group,
      iconSize: [px, px],
      iconAnchor: [px / 2, px / 2],
      popupAnchor: [0, -px / 2]
    });
    S.icons[key] = icon;
    return icon;
  }

  // Counts are body text: the room reads "55" off a cluster from the farthest seat, so they
  // take the labels' size (16' at the screen's distance, S.opts.labelPx) and their icon is
  // sized around them, a pill as wide as the digits (a ring around two digits at that size
  // would be half again as wide). DIGIT_EM: a bold digit's advance in DejaVu Sans (0.696 em),
  // the widest face the page falls back to; all digits are as wide (tabular figures).
  var DIGIT_EM = 0.7;
  var COUNT_LINE = 1.1;  // the count's line box, in ems (map.css .oki-cluster-count, .oki-unit-count)

  function countSize(count, border, padL, padR) {
    var f = S.opts.labelPx, h = Math.ceil(f * COUNT_LINE) + 2 * border;
    var w = Math.ceil(String(count).length * DIGIT_EM * f + padL + padR) + 2 * border;
    return [Math.max(h, w), h];
  }

  // Units close together at this zoom are one square with their count (a flood has a few
  // thousand units, dozens at one post), ringed in the state most of them are in. The ring is
  // 3 px (map.css .oki-unit-dot).
  function unitClusterSize(count) {
    var pad = Math.round(S.opts.labelPx * 0.15);
    return countSize(count, 3, pad, pad);
  }

  function unitClusterIcon(cluster) {
    var children = cluster.getAllChildMarkers(), tally = dict(), best = "", most = 0;
    for (var i = 0; i < children.length; i++) {
      var g = children[i].oki.group;
      tally[g] = (tally[g] || 0) + 1;
    }
    Object.keys(tally).sort().forEach(function (g) {
      if (tally[g] > most) { best = g; most = tally[g]; }
    });
    var count = cluster.getChildCount(), size = unitClusterSize(count);
    var ring = S.opts.colors.unitGroup[best] || S.opts.colors.textDim;
    return L.divIcon({
      html: '<span class="oki-unit-dot oki-unit-count" style="border-color:' + ring + '">' + count + "</span>",
      className: "oki-unit oki-unit-cluster oki-unit-" + best,
      iconSize: size
    });
  }

  // A cluster's pill grows with its count's digits; its ring is 5 px (map.css). Its highest
  // priority is a letter in a chip of that colour before the count, body size like the count
  // (map.css .oki-cluster-letter: LETTER_EM wide, CHIP_GAP_EM from the digits): a badge on the
  // ring's corner was a third of that, about 4' from the farthest seat.
  var LETTER_EM = 1.0, CHIP_GAP_EM = 0.15;

  function clusterPad() { return Math.round(S.opts.labelPx * 0.2); }

  function clusterSize(count) {
    var pad = clusterPad(), chip = Math.ceil(S.opts.labelPx * (LETTER_EM + CHIP_GAP_EM));
    return countSize(count, 5, pad + chip, pad);
  }

  function clusterIcon(cluster) {
    var children = cluster.getAllChildMarkers();
    var best = 2, pulse = false;
    for (var i = 0; i < children.length; i++) {
      var d = children[i].oki;
      var rank = PRIORITY_RANK[d.priority];
      if (rank < best) best = rank;
      if (S.pulsing[d.id]) pulse = true;
    }
    var priority = ["high", "medium", "low"][best];
    var count = cluster.getChildCount();
    var size = clusterSize(count), pad = clusterPad();
    var color = S.opts.colors.priority[priority];
    var letter = escapeHtml(S.opts.priorityLetter[priority] || "");
    return L.divIcon({
      html: '<div class="oki-cluster-ring" style="border-color:' + color + ";padding:0 " + pad + "px 0 " + pad +
        'px"><span class="oki-cluster-letter" style="background:' + color + '">' + letter +
        '</span><span class="oki-cluster-count">' + count + "</span></div>",
      className: "oki-cluster" + (pulse ? " oki-pulse" : ""),
      iconSize: size
    });
  }

  // --- popups (textContent only) ------------------------------------------------------

  function row(dl, label, value, className) {
    if (value === undefined || value === null || value === "") return;
    var dt = document.createElement("dt");
    dt.textContent = label;
    var dd = document.createElement("dd");
    if (className) dd.className = className;
    dd.textContent = String(value);
    dl.appendChild(dt);
    dl.appendChild(dd);
  }

  function incidentPopup(marker) {
    var d = marker.oki, L_ = S.opts.labels;
    var root = document.createElement("div");
    root.className = "oki-popup";
    root.setAttribute("data-incident", d.id);
    var title = document.createElement("div");
    title.className = "oki-popup-title";
    title.textContent = d.ticket;
    root.appendChild(title);
    var dl = document.createElement("dl");
    row(dl, L_.category, d.categoryLabel);
    row(dl, L_.priority, d.priorityLabel);
    row(dl, L_.status, d.statusLabel);
    var place = [d.desa, d.kecamatan].filter(function (x) { return x; }).join(", ");
    row(dl, L_.location, (d.approx ? "\u2248 " : "") + place);
    if (d.onMap && d.onMap !== place) row(dl, L_.onMap, d.onMap);
    row(dl, L_.description, d.description, "oki-desc");
    root.appendChild(dl);
    var alert = S.alerts[d.id];
    if (alert) root.appendChild(alertBlock(d.id, alert));
    return root;
  }

  // The incident's alert: a big acknowledge button on an operator's screen
  // while it is unacknowledged, "mengirim…" until the server confirmed, then
  // who took it. Built from elements and textContent like the rest.
  function alertBlock(id, alert) {
    var box = document.createElement("div");
    box.className = "oki-popup-alert oki-alert-" + alert.state;
    if (alert.state === "alert" && S.opts.interactive) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "oki-ack";
      button.textContent = S.opts.labels.ack;
      button.addEventListener("click", function (e) {
        L.DomEvent.stop(e);
        if (button.disabled) return;
        // At once, before Python answers: one press, one acknowledgement.
        button.disabled = true;
        button.textContent = S.opts.labels.sending;
        if (S.py) S.py.ackRequested(id);
      });
      box.appendChild(button);
    }
    if (alert.line) {
      var line = document.createElement("div");
      line.className = "oki-alert-line";
      line.textContent = alert.line;
      box.appendChild(line);
    }
    return box;
  }

  // Popups of these incidents, open now, show their new alert state.
  function refreshOpenPopups(ids) {
    ids.forEach(function (id) {
      var m = S.incidents[id];
      if (!m) return;
      if (m.isPopupOpen()) m.getPopup().setContent(incidentPopup).update();
      if (S.selPopup && S.selected === id) S.selPopup.setContent(incidentPopup(m)).update();
    });
  }

  function unitPopup(marker) {
    var d = marker.oki;
    var root = document.createElement("div");
    root.className = "oki-popup";
    var title = document.createElement("div");
    title.className = "oki-popup-title";
    title.textContent = d.callsign;
    root.appendChild(title);
    var dl = document.createElement("dl");
    var ag = agencyByCode(d.agency);
    row(dl, S.opts.labels.units_col, ag ? ag.label : d.agency);
    row(dl, S.opts.labels.status, d.statusLabel);
    root.appendChild(dl);
    return root;
  }

  // --- layers and filtering -----------------------------------------------------------

  function agencyByCode(code) {
    var list = S.opts.agencies;
    for (var i = 0; i < list.length; i++) if (list[i].code === code) return list[i];
    return null;
  }

  function shownByAgency(agencies) {
    if (!agencies || !agencies.length) return true;
    for (var i = 0; i < agencies.length; i++) {
      if (S.agencyOn[agencies[i]] !== false) return true;
    }
    return false;
  }

  function refilter() {
    var add = [], remove = [];
    Object.keys(S.incidents).forEach(function (id) {
      var m = S.incidents[id], want = shownByAgency(m.oki.agencies);
      if (want && !m.okiIn) { add.push(m); m.okiIn = true; }
      if (!want && m.okiIn) { remove.push(m); m.okiIn = false; }
    });
    if (remove.length) S.cluster.removeLayers(remove);
    if (add.length) clusterAdd(add);
    Object.keys(S.units).forEach(function (id) {
      var m = S.units[id], want = shownByAgency([m.oki.agency]);
      if (want && !S.unitLayer.hasLayer(m)) S.unitLayer.addLayer(m);
      if (!want && S.unitLayer.hasLayer(m)) S.unitLayer.removeLayer(m);
    });
  }

  function buildLayerControl() {
    var o = S.opts, overlays = {};
    overlays[escapeHtml(o.labels.incidents)] = S.cluster;
    overlays[escapeHtml(o.labels.units)] = S.unitLayer;
    if (S.districtLayer) overlays[escapeHtml(o.labels.districts)] = S.districtLayer;
    if (S.tileLayer) overlays[escapeHtml(o.labels.tiles)] = S.tileLayer;
    var agencyLayers = [];
    o.agencies.forEach(function (ag) {
      // An empty group stands for the agency: checking it filters markers in and out.
      var group = L.layerGroup();
      group.okiAgency = ag.code;
      group.addTo(S.map);
      S.agencyOn[ag.code] = true;
      overlays['<span class="oki-swatch" style="background:' + ag.color + '"></span>' + escapeHtml(ag.label)] = group;
      agencyLayers.push(group);
    });
    S.map.on("overlayadd overlayremove", function (e) {
      if (e.layer && e.layer.okiAgency) {
        S.agencyOn[e.layer.okiAgency] = e.type === "overlayadd";
        refilter();
      }
    });
    S.layerControl = L.control.layers(null, overlays, { collapsed: true, position: "topright" });
    if (o.interactive) S.layerControl.addTo(S.map);
  }

  // --- district labels and counts ---------------------------------------------------

  function districtKey(name) { return String(name).replace(/\s+/g, "").toLowerCase(); }

  function choroplethColor(n) {
    var steps = S.opts.colors.choropleth, color = null;
    for (var i = 0; i < steps.length; i++) if (n >= steps[i][0]) color = steps[i][1];
    return color;
  }

  function styleDistricts() {
    if (!S.districtLayer) return;
    S.districtLayer.eachLayer(function (layer) {
      var key = layer.feature && layer.feature.properties ? layer.feature.properties.oki_key : "";
      var n = S.districtCounts[key] || 0;
      var color = choroplethColor(n);
      layer.setStyle({ fillColor: color || S.opts.colors.panel, fillOpacity: color ? 0.75 : 0.0 });
    });
  }

  function labelElements() {
    return Array.prototype.slice.call(document.querySelectorAll(".oki-district[data-key]"));
  }

  function updateLabelCounts() {
    labelElements().forEach(function (el) {
      var n = S.districtCounts[el.getAttribute("data-key")] || 0;
      var span = el.querySelector(".oki-district-count"), text = n > 0 ? String(n) : "";
      if (span.textContent !== text) span.textContent = text;
      if (el.classList.contains("oki-has-count") !== n > 0) el.classList.toggle("oki-has-count", n > 0);
    });
  }

  // Greedy label placement: districts with more active incidents first, then
  // village names. Markers are drawn above labels (their pane is higher), and
  // a label never covers one: each district label tries spots around its
  // centroid (below and above first: incidents without coordinates sit on the
  // centroid; farther spots cost more) and takes the cheapest spot that covers
  // no incident marker, no cluster, no other label and no map control; a label
  // that fits nowhere is hidden (the district's fill still shows its count).
  // A village name only goes on its own anchor.
  //
  // [x%, y% of the label's own size (translate() percentages), dx, dy in
  // steps of a gap about a marker's radius, penalty]. A cluster often sits on
  // the centroid, so the spots ring it one gap away, then two; never farther,
  // or a name reads as its neighbour's.
  var PLACEMENTS = [[-50, 0, 0, 1, 0], [-50, -100, 0, -1, 0], [0, -50, 1, 0, 1], [-100, -50, -1, 0, 1],
                    [-50, -50, 0, 0, 2],
                    [0, 0, 0.7, 0.7, 2], [-100, 0, -0.7, 0.7, 2], [0, -100, 0.7, -0.7, 2],
                    [-100, -100, -0.7, -0.7, 2],
                    [-50, 0, 0, 2, 3], [-50, -100, 0, -2, 3], [0, -50, 2, 0, 3], [-100, -50, -2, 0, 3]];
  var VILLAGE_PLACE = [-50, -50, 0, 0, 0];

  function gapPx() { return Math.round(S.opts.markerPx * 0.75); }

  // The box a label would take at placement [x%, y%] (wrapped or not), from its
  // anchor and its size: translate() percentages are of the element's own size,
  // so one measurement per text serves every spot. Trying spots by writing
  // styles and reading them back would force a layout per try and leave a trail
  // of style garbage behind on every batch (see declutter).
  function labelBox(el, anchor, wrap, place) {
    var size = labelSizes(el)[wrap], g = gapPx();
    var l = anchor.left + place[0] / 100 * size[0] + place[2] * g;
    var t = anchor.top + place[1] / 100 * size[1] + place[3] * g;
    return { l: l - 4, t: t - 2, r: l + size[0] + 4, b: t + size[1] + 2 };
  }

  // The forms a district label takes: one line, wrapped at 7 em, every word on its own line
  // (a long name over its count: "Pampangan" above "21" is 2/3 as wide as both on one line,
  // where a wall's crowded west has room for no more).
  var WRAPS = ["", "oki-wrap", "oki-wrap oki-wrap-min"];

  function setWrap(el, wrap) {
    el.classList.toggle("oki-wrap", wrap >= 1);
    el.classList.toggle("oki-wrap-min", wrap === 2);
  }

  // [w, h] in each of WRAPS, measured again only when the text changed.
  function labelSizes(el) {
    var text = el.textContent, cache = el.okiSizes;
    if (cache && cache.text === text) return cache.sizes;
    var now = el.classList.contains("oki-wrap-min") ? 2 : el.classList.contains("oki-wrap") ? 1 : 0, sizes = [];
    for (var wrap = 0; wrap < WRAPS.length; wrap++) {
      setWrap(el, wrap);
      sizes.push([el.offsetWidth, el.offsetHeight]);
    }
    setWrap(el, now);
    el.okiSizes = { text: text, sizes: sizes };
    return sizes;
  }

  // Writes only what changed: a label that stays put costs no style change.
  function placeLabel(el, best, places) {
    var key = best ? best[0] + "|" + places[best[1]].join(",") : "hidden";
    if (el.okiPlace === key) return;
    el.okiPlace = key;
    if (best) {
      var place = places[best[1]];
      setWrap(el, best[0]);
      var g = gapPx();
      el.style.transform = "translate(" + place[0] + "%, " + place[1] + "%) translate(" +
        Math.round(place[2] * g) + "px, " + Math.round(place[3] * g) + "px)";
    }
    el.style.visibility = best ? "visible" : "hidden";
    el.classList.toggle("oki-label-hidden", !best);
  }

  function boxOf(el) {
    var r = el.getBoundingClientRect();
    return { l: r.left - 4, t: r.top - 2, r: r.right + 4, b: r.bottom + 2 };
  }

  function overlapCount(a, list) {
    var n = 0;
    for (var i = 0; i < list.length; i++) {
      var p = list[i];
      if (!(a.r <= p.l || a.l >= p.r || a.b <= p.t || a.t >= p.b)) n += 1;
    }
    return n;
  }

  // The cheapest free spot of `places` for el, or null.
  function bestSpot(el, places, wraps, placed, obstacles, size) {
    var anchor = el.parentNode.getBoundingClientRect();  // the label's 0x0 icon
    var best = null, bestCost = Infinity;
    for (var wrap = 0; wrap < wraps && bestCost > 0; wrap++) {
      for (var i = 0; i < places.length && bestCost > 0; i++) {
        if (places[i][4] + wrap >= bestCost) continue;
        var box = labelBox(el, anchor, wrap, places[i]);
        if (box.l < 0 || box.t < 0 || box.r > size.x || box.b > size.y) continue;
        if (overlapCount(box, placed) || overlapCount(box, obstacles)) continue;
        var cost = places[i][4] + wrap;
        if (cost < bestCost) { best = [wrap, i, box]; bestCost = cost; }
      }
    }
    return best;
  }

  // --- incident icons apart ------------------------------------------------------------
  // markercluster puts a cluster at its members' mean, and its grid bounds only the distance
  // to a cluster's first member: two clusters, or a cluster and a lone marker, can land closer
  // than their icons are wide, their counts drawn over each other ("37" on "11" around Kayu
  // Agung on the laptop's map). So after each clustering, icons that would touch are pushed
  // apart, each by at most what separates the pair, through their margins: markercluster's
  // position transforms and animations leave margins alone. Leaflet writes the margins again
  // when it changes an icon (refreshClusters), so every batch and the label check write the
  // shift again; nothing is written when nothing changed.
  // Units are placed after the incidents, each at the free spot nearest its point
  // (placeUnits): an incident never moves for a unit. What an icon paints beyond its box counts as part of it (EXTENT, shares of its width on
  // every side, from map.css): the pulsing halo of an
  // unacknowledged alert, the selection ring; neighbours whose icons are apart could still
  // have their badges and halos drawn over each other.
  var SPREAD_ROUNDS = 80;
  var SPREAD_GAP = 2;  // px between two icons, so their rings do not touch
  var EXTENT = { pulse: 0.15, selected: 0.22 };

  function extentOf(el) {
    var c = el.classList, share = 0;
    if (c.contains("oki-pulse")) share = Math.max(share, EXTENT.pulse);
    if (c.contains("oki-selected")) share = Math.max(share, EXTENT.selected);
    return share;
  }

  // The size Leaflet gave the icon (its options: no layout read on the page).
  function iconSizeOf(layer) {
    var icon = layer._iconObj || (layer.options && layer.options.icon);
    var size = icon && icon.options && icon.options.iconSize;
    if (size) return L.point(size);
    return L.point(layer._icon.offsetWidth, layer._icon.offsetHeight);
  }

  // Separates overlapping boxes along the axis where they overlap least, half each way;
  // ties go by position, so two runs give the same picture.
  function spread(items) {
    var maxW = 0;
    items.forEach(function (it) { maxW = Math.max(maxW, it.w); });
    for (var round = 0; round < SPREAD_ROUNDS; round++) {
      var moved = false;
      items.sort(function (a, b) { return (a.x + a.dx) - (b.x + b.dx) || (a.y + a.dy) - (b.y + b.dy); });
      for (var i = 0; i < items.length; i++) {
        var a = items[i];
        for (var j = i + 1; j < items.length; j++) {
          var b = items[j];
          var ddx = (b.x + b.dx) - (a.x + a.dx), ddy = (b.y + b.dy) - (a.y + a.dy);
          if (ddx >= maxW + SPREAD_GAP) break;
          var ox = (a.w + b.w) / 2 + SPREAD_GAP - Math.abs(ddx);
          var oy = (a.h + b.h) / 2 + SPREAD_GAP - Math.abs(ddy);
          if (ox <= 0 || oy <= 0) continue;
          moved = true;
          if (ox <= oy) {
            var sx = ddx >= 0 ? 1 : -1, hx = Math.ceil(ox / 2);
            a.dx -= sx * hx; b.dx += sx * hx;
          } else {
            var sy = ddy >= 0 ? 1 : -1, hy = Math.ceil(oy / 2);
            a.dy -= sy * hy; b.dy += sy * hy;
          }
        }
      }
      if (!moved) break;
    }
  }

  // Each unit (a square or a cluster of them) at the nearest spot on rings around its point
  // where it touches no incident and no unit placed before it; the largest first, then by
  // position, so two runs give the same picture. Where no ring up to UNIT_RINGS is free, it
  // stays on its point (never seen on the presets' maps; the map test would say).
  var UNIT_RINGS = 24;

  function clear(u, dx, dy, placed, size) {
    // On the map, whole: a unit pushed off the edge or under the legend is a unit not shown.
    if (size && (u.x + dx - u.w / 2 < 0 || u.y + dy - u.h / 2 < 0 || u.x + dx + u.w / 2 > size.x ||
                 u.y + dy + u.h / 2 > size.y)) return false;
    for (var i = 0; i < placed.length; i++) {
      var f = placed[i];
      if (Math.abs(u.x + dx - f.x - f.dx) < (u.w + f.w) / 2 + SPREAD_GAP &&
          Math.abs(u.y + dy - f.y - f.dy) < (u.h + f.h) / 2 + SPREAD_GAP) return false;
    }
    return true;
  }

  function placeUnits(units, placed, size) {
    units.sort(function (a, b) { return b.w - a.w || a.y - b.y || a.x - b.x; });
    units.forEach(function (u) {
      var step = Math.max(2, Math.round(u.w / 4));
      search:
      for (var ring = 0; ring <= UNIT_RINGS; ring++) {
        var n = ring === 0 ? 1 : 8 * ring;
        for (var k = 0; k < n; k++) {
          var angle = 2 * Math.PI * k / n - Math.PI / 2;
          var dx = Math.round(Math.cos(angle) * ring * step), dy = Math.round(Math.sin(angle) * ring * step);
          if (clear(u, dx, dy, placed, size)) { u.dx = dx; u.dy = dy; break search; }
        }
      }
      placed.push(u);
    });
  }

  // The shift as margins on top of the ones Leaflet wrote (kept while ours are in place).
  function shiftIcon(it) {
    var el = it.icon, ml = el.style.marginLeft, mt = el.style.marginTop;
    if (el.okiMargins !== ml + "|" + mt) el.okiBase = [parseFloat(ml) || 0, parseFloat(mt) || 0];
    var nl = (el.okiBase[0] + it.dx) + "px", nt = (el.okiBase[1] + it.dy) + "px";
    if (nl !== ml) el.style.marginLeft = nl;
    if (nt !== mt) el.style.marginTop = nt;
    el.okiMargins = el.style.marginLeft + "|" + el.style.marginTop;
  }

  // Spreads the incident and unit icons shown at this zoom; their boxes (what they paint) in
  // the map's container pixels.
  function placeIcons() {
    var items = [];
    if (!S.map || !S.cluster) return items;
    [[S.cluster._featureGroup, false], [S.unitLayer && S.unitLayer._featureGroup, true]].forEach(function (g) {
      if (!g[0]) return;
      g[0].eachLayer(function (layer) {
        if (!layer._icon || !layer.getLatLng) return;
        var p = S.map.latLngToContainerPoint(layer.getLatLng()), size = iconSizeOf(layer);
        // The rings' insets are shares of the icon's width across and of its height down.
        var share = extentOf(layer._icon);
        items.push({ icon: layer._icon, x: p.x, y: p.y, w: size.x + 2 * Math.ceil(share * size.x),
                     h: size.y + 2 * Math.ceil(share * size.y), dx: 0, dy: 0, unit: g[1] });
      });
    });
    var incidents = items.filter(function (it) { return !it.unit; });
    spread(incidents);
    placeUnits(items.filter(function (it) { return it.unit; }), incidents.concat(S.labelItems, S.controlItems),
               S.map.getSize());
    items.forEach(shiftIcon);
    return items;
  }

  var spreadPending = false;
  function scheduleSpread() {
    if (spreadPending) return;
    spreadPending = true;
    requestAnimationFrame(function () { spreadPending = false; if (S.map && S.cluster) placeIcons(); });
  }

  // Where incident markers and clusters are (or are going): from their
  // positions on the map and their shift, not from the DOM, which during
  // markercluster's CSS transitions shows them half way and would leave a
  // label under a cluster once it lands. _featureGroup holds what
  // markercluster shows at this zoom; icons are centred on their point.
  function markerObstacles() {
    var group = S.cluster._featureGroup, origin = S.map.getContainer().getBoundingClientRect();
    if (!group) {
      return Array.prototype.map.call(
        document.querySelectorAll(".leaflet-marker-pane .oki-cluster, .leaflet-marker-pane .oki-incident"), boxOf);
    }
    // Units are not obstacles: they make room for the labels (placeIcons puts them after both).
    return placeIcons().filter(function (it) { return !it.unit; }).map(function (it) {
      var l = origin.left + it.x + it.dx - it.w / 2, t = origin.top + it.y + it.dy - it.h / 2;
      return { l: l - 4, t: t - 2, r: l + it.w + 4, b: t + it.h + 2 };
    });
  }

  function obstacleKey(boxes) {
    var sum = 0;
    for (var i = 0; i < boxes.length; i++) sum += Math.round(boxes[i].l) * 3 + Math.round(boxes[i].t) * 7 + (i % 13);
    return boxes.length + ":" + sum;
  }

  // A safety net for changes no event announced (markercluster's chunks and
  // transitions end on their own timers): every LABEL_CHECK_MS, labels are
  // placed again if the markers are not where they were when labels were
  // last placed. Reads positions only; writes nothing when nothing moved.
  var LABEL_CHECK_MS = 1500;
  function checkLabels() {
    if (S.map && S.cluster && labelKey() !== S.declutteredFor) {
      declutter();
    }
  }

  // What the labels were placed around: the markers, the labels' anchors, and the map's
  // controls and context labels. A legend that changed size without moving the map (its
  // fonts arrived, a context layer's legend grew) left a name placed around its old box:
  // "Mesuji" 40 px apart in one gallery run of three on the single-4k map.
  function controlBoxes() {
    return Array.prototype.filter.call(
      document.querySelectorAll(".leaflet-control, .leaflet-pane .oki-hz-label"),
      function (e) { return getComputedStyle(e).visibility !== "hidden"; }).map(boxOf);
  }

  function labelKey(obstacles, controls) {
    return obstacleKey((obstacles || markerObstacles()).concat(anchorBoxes(), controls || controlBoxes()));
  }

  // Where the labels are anchored now (their 0x0 icons).
  function anchorBoxes() {
    return Array.prototype.map.call(document.querySelectorAll(".oki-district-label, .oki-village-label"), function (e) {
      var r = e.getBoundingClientRect();
      return { l: r.left, t: r.top };
    });
  }

  // Spots inside the district, beyond the ring of PLACEMENTS around its label point: a label
  // crowded out there by clusters and unit squares (the four-panels map lost Lempuing, the
  // whole west went unnamed) is centred on one of these before it is hidden. A grid of points
  // a third of a line apart, out to INSIDE_REACH lines from the label point, kept where the
  // district's outline holds them, and, costing more, beyond the regency's edge where this
  // district's label point is the nearest (an edge district's name on the empty side);
  // nearest first, each costing more than any ring spot and more the farther it is. Computed
  // again only when the view moved.
  var INSIDE_REACH = 6;
  var INSIDE_MAX = 200;

  function districtRings(key) {
    var rings = S.districtRings ? S.districtRings[key] : null;
    if (rings || !S.districtLayer) return rings || null;
    S.districtRings = dict();
    S.districtLayer.eachLayer(function (layer) {
      var k = layer.feature && layer.feature.properties ? layer.feature.properties.oki_key : "";
      if (!k || !layer.getLatLngs) return;
      var out = S.districtRings[k] || (S.districtRings[k] = []);
      (function collect(list) {
        if (!list.length) return;
        if (list[0] instanceof L.LatLng) {
          out.push(list.map(function (ll) { return [ll.lng, ll.lat]; }));
        } else {
          list.forEach(collect);
        }
      })(layer.getLatLngs());
    });
    return S.districtRings[key] || null;
  }

  // Even-odd over every ring: holes and the parts of a multipolygon as they are.
  function insideRings(rings, x, y) {
    var inside = false;
    for (var r = 0; r < rings.length; r++) {
      var ring = rings[r];
      for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
        var a = ring[i], b = ring[j];
        if ((a[1] > y) !== (b[1] > y) && x < (b[0] - a[0]) * (y - a[1]) / (b[1] - a[1]) + a[0]) inside = !inside;
      }
    }
    return inside;
  }

  // Outside every district: beyond the regency's edge, where a name can be no other's.
  function beyondEdge(all, keys, ll) {
    for (var k = 0; k < keys.length; k++) if (insideRings(all[keys[k]], ll.lng, ll.lat)) return false;
    return true;
  }

  // The district whose label point is nearest (x, y): a spot beyond the edge reads as its name.
  function nearestPoint(points, x, y) {
    var best = "", dist = Infinity;
    points.forEach(function (p) {
      var d = (p[1] - x) * (p[1] - x) + (p[2] - y) * (p[2] - y);
      if (d < dist) { dist = d; best = p[0]; }
    });
    return best;
  }

  function insidePlaces(el) {
    var rings = districtRings(el.getAttribute("data-key"));
    if (!rings) return [];
    var origin = S.map.getContainer().getBoundingClientRect(), anchor = el.parentNode.getBoundingClientRect();
    var ax = anchor.left - origin.left, ay = anchor.top - origin.top;
    var key = S.map.getZoom() + "|" + Math.round(ax) + "|" + Math.round(ay);
    if (el.okiInside && el.okiInside.key === key) return el.okiInside.places;
    var f = S.opts.labelPx, step = Math.max(4, Math.round(f * 0.3)), g = gapPx();
    var n = Math.ceil(INSIDE_REACH * f / step), found = [];
    var all = S.districtRings, keys = Object.keys(all), own = el.getAttribute("data-key");
    var points = labelElements().map(function (e) {
      var r = e.parentNode.getBoundingClientRect();
      return [e.getAttribute("data-key"), r.left - origin.left, r.top - origin.top];
    });
    for (var i = -n; i <= n; i++) {
      for (var j = -n; j <= n; j++) {
        var dx = i * step, dy = j * step, d = Math.sqrt(dx * dx + dy * dy) / f;
        if (d > INSIDE_REACH) continue;
        var ll = S.map.containerPointToLatLng([ax + dx, ay + dy]);
        if (insideRings(rings, ll.lng, ll.lat)) {
          found.push([-50, -50, dx / g, dy / g, 4 + d]);
        } else if (beyondEdge(all, keys, ll) && nearestPoint(points, ax + dx, ay + dy) === own) {
          found.push([-50, -50, dx / g, dy / g, 6 + d]);
        }
      }
    }
    found.sort(function (a, b) { return a[4] - b[4]; });
    found = found.slice(0, INSIDE_MAX);
    el.okiInside = { key: key, places: found };
    return found;
  }

  // A district label's spots (every form, every place) that lie on no marker and no control,
  // inside the map, cheapest first: [form, place, box, cost].
  function freeSpots(r, fixed, obstacles, bounds) {
    var anchor = r.el.parentNode.getBoundingClientRect(), out = [];
    for (var wrap = 0; wrap < WRAPS.length; wrap++) {
      for (var i = 0; i < r.places.length; i++) {
        var box = labelBox(r.el, anchor, wrap, r.places[i]);
        if (box.l < 0 || box.t < 0 || box.r > bounds.x || box.b > bounds.y) continue;
        if (!overlapCount(box, obstacles) && !overlapCount(box, fixed)) out.push([wrap, i, box, r.places[i][4] + wrap]);
      }
    }
    out.sort(function (a, b) { return a[3] - b[3]; });
    return out;
  }

  // The cheapest free spot of r clear of the other labels shown and of `forbidden`.
  function pick(r, taken, forbidden) {
    var others = taken(r).concat(forbidden);
    for (var k = 0; k < r.free.length; k++) {
      if (!overlapCount(r.free[k][2], others)) return r.free[k];
    }
    return null;
  }

  // A label with no free spot takes one where one or two shown labels are in its way, if they
  // find other spots (in turn making room, to MOVE_DEPTH): the greedy pass lets the first
  // labels take room the later ones needed (on the four-panels surge Kayu Agung's name sat
  // where Pampangan's could go, and Kayu Agung's other spot was Teluk Gelam's). Nothing shown
  // is hidden for it. At most MOVE_TRIES spots that way per label and level, cheapest first.
  var MOVE_DEPTH = 3;
  var MOVE_TRIES = [0, 4, 8, 24];
  var MOVE_HITS = 2;

  function relocate(h, recs, taken, depth, forbidden) {
    var spot = pick(h, taken, forbidden);
    if (spot || !depth) return spot;
    var tries = 0;
    for (var k = 0; k < h.free.length && tries < MOVE_TRIES[depth]; k++) {
      var box = h.free[k][2];
      if (overlapCount(box, forbidden)) continue;
      var hits = recs.filter(function (r) { return r !== h && r.best && overlapCount(box, [r.best[2]]); });
      if (!hits.length || hits.length > MOVE_HITS) continue;
      tries += 1;
      var kept = recs.map(function (r) { return r.best; });
      hits.forEach(function (m) { m.best = null; });
      var rest = forbidden.concat([box]);
      var moved = hits.every(function (m) { return !!(m.best = relocate(m, recs, taken, depth - 1, rest)); });
      if (moved) return h.free[k];
      recs.forEach(function (r, j) { r.best = kept[j]; });
    }
    return null;
  }

  // A box in the page's coordinates as an item of placeIcons (the map's, centred).
  function itemOf(b) {
    var origin = S.map.getContainer().getBoundingClientRect();
    return { x: (b.l + b.r) / 2 - origin.left, y: (b.t + b.b) / 2 - origin.top, w: b.r - b.l, h: b.b - b.t,
             dx: 0, dy: 0 };
  }

  function declutter() {
    if (!S.map) return;
    updateVillages();
    var els = labelElements();
    els.sort(function (a, b) {
      var na = S.districtCounts[a.getAttribute("data-key")] || 0;
      var nb = S.districtCounts[b.getAttribute("data-key")] || 0;
      return nb - na || a.textContent.length - b.textContent.length;
    });
    var size = S.map.getSize();
    var obstacles = markerObstacles();
    // Map controls (legend, scale, zoom, layers) are taken too. Boxes are in
    // the page's coordinates, which the map fills from its top left corner.
    // The context layers' labels (a warning's validity, a quake's magnitude) too.
    var placed = controlBoxes();
    S.declutteredFor = labelKey(obstacles, placed);
    var bounds = { x: size.x, y: size.y }, names = [], controls = placed.slice();
    var recs = els.map(function (el) {
      labelSizes(el);
      return { el: el, places: PLACEMENTS.concat(insidePlaces(el)), best: null, free: [] };
    });
    var taken = function (skip) {
      var out = placed.slice();
      recs.forEach(function (r) { if (r !== skip && r.best) out.push(r.best[2]); });
      return out;
    };
    // Districts with more incidents first; then the names left out make room (relocate).
    recs.forEach(function (r) { r.free = freeSpots(r, placed, obstacles, bounds); });
    recs.forEach(function (r) { r.best = pick(r, taken, []); });
    recs.forEach(function (h) { if (!h.best) h.best = relocate(h, recs, taken, MOVE_DEPTH, []); });
    recs.forEach(function (r) {
      if (r.best) names.push(r.best[2]);
      placeLabel(r.el, r.best, r.places);
    });
    placed = taken(null);
    villageLabelElements().forEach(function (el) {
      labelSizes(el);
      var best = bestSpot(el, [VILLAGE_PLACE], 1, placed, obstacles, bounds);
      if (best) { placed.push(best[2]); names.push(best[2]); }
      placeLabel(el, best, [VILLAGE_PLACE]);
    });
    // The names shown and the controls, as boxes the units keep clear of.
    S.labelItems = names.map(itemOf);
    S.controlItems = controls.map(itemOf);
    placeIcons();
  }

  // --- villages: outlines once they are big enough, names where they fit ----------

  function metresPerPixel() {
    var c = S.map.getCenter(), p = S.map.latLngToContainerPoint(c);
    return c.distanceTo(S.map.containerPointToLatLng([p.x + 100, p.y])) / 100;
  }

  function villageLabelElements() {
    return Array.prototype.slice.call(document.querySelectorAll(".oki-village"));
  }

  // 327 polygons of 27,000 points cost the page's start; a wall that never
  // zooms in never needs them, so the layer is made when they first show.
  function villageLayer() {
    if (!S.villageLayer && S.villageData) {
      S.villageLayer = L.geoJSON(S.villageData, { interactive: false, style: S.opts.villageStyle });
    }
    return S.villageLayer;
  }

  function villageInfo() {
    if (S.villageInfo.length || !villageLayer()) return S.villageInfo;
    S.villageLayer.eachLayer(function (layer) {
      var props = layer.feature.properties, bounds = layer.getBounds();
      if (!props.oki_name) return;
      S.villageInfo.push({
        name: props.oki_name,
        anchor: props.oki_anchor ? L.latLng(props.oki_anchor[0], props.oki_anchor[1]) : bounds.getCenter(),
        bounds: bounds,
        marker: null
      });
    });
    return S.villageInfo;
  }

  function updateVillages() {
    if (!S.villageData) return;
    var show = metresPerPixel() <= S.opts.villageOutlineMpp;
    if (!show && !S.villageLayer) return;
    villageLayer();
    if (show !== S.map.hasLayer(S.villageLayer)) {
      if (show) S.villageLayer.addTo(S.map); else S.map.removeLayer(S.villageLayer);
    }
    var view = S.map.getBounds(), charPx = S.opts.labelPx * 0.55;
    villageInfo().forEach(function (v) {
      var want = false;
      if (show && view.contains(v.anchor)) {
        // A name goes on a village wide and tall enough to hold it.
        var nw = S.map.latLngToContainerPoint(v.bounds.getNorthWest());
        var se = S.map.latLngToContainerPoint(v.bounds.getSouthEast());
        want = se.x - nw.x >= v.name.length * charPx && se.y - nw.y >= S.opts.labelPx * 1.6;
      }
      if (want && !v.marker) {
        v.marker = L.marker(v.anchor, {
          icon: L.divIcon({ html: '<div class="oki-village">' + escapeHtml(v.name) + "</div>",
                            className: "oki-village-label", iconSize: [0, 0], iconAnchor: [0, 0] }),
          pane: "okiLabels", interactive: false, keyboard: false
        });
        S.villageLabels.addLayer(v.marker);
      } else if (!want && v.marker) {
        S.villageLabels.removeLayer(v.marker);
        v.marker = null;
      }
    });
  }

  // --- legend and scale ------------------------------------------------------------

  function el(tag, className, text) {
    var e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function shapeSvg(shape, color) {
    var span = el("span", "oki-legend-icon");
    span.innerHTML = '<svg viewBox="0 0 100 100" aria-hidden="true"><g fill="' + color + '" stroke="' +
      S.opts.colors.bg + '" stroke-width="6">' + (SHAPES[shape] || SHAPES.circle) + "</g></svg>";
    return span;
  }

  // Category shapes (categories of one shape share a row), priority colours
  // with their letters, unit states: every colour with a word or a letter.
  function buildLegend() {
    var lg = S.opts.legend, c = S.opts.colors;
    var root = el("div", "oki-legend");
    root.setAttribute("role", "note");
    root.appendChild(el("div", "oki-legend-title", lg.title));
    var cols = el("div", "oki-legend-cols");
    var left = el("div", "oki-legend-col"), right = el("div", "oki-legend-col");
    left.appendChild(el("div", "oki-legend-head", lg.prioritiesTitle));
    lg.priorities.forEach(function (p) {
      var row = el("div", "oki-legend-row");
      var chip = el("span", "oki-legend-chip", S.opts.priorityLetter[p.priority] || "");
      chip.style.background = c.priority[p.priority];
      row.appendChild(chip);
      row.appendChild(el("span", "oki-legend-text", p.label));
      left.appendChild(row);
    });
    left.appendChild(el("div", "oki-legend-head", lg.unitsTitle));
    lg.units.forEach(function (u) {
      var row = el("div", "oki-legend-row");
      var dot = el("span", "oki-legend-unit oki-unit-" + u.group);
      dot.style.borderColor = c.unitGroup[u.group];
      row.appendChild(dot);
      row.appendChild(el("span", "oki-legend-text", u.label));
      left.appendChild(row);
    });
    right.appendChild(el("div", "oki-legend-head", lg.categoriesTitle));
    lg.shapes.forEach(function (item) {
      var row = el("div", "oki-legend-row");
      row.title = (lg.shapeCategories[item.shape] || []).join(", ");
      row.appendChild(shapeSvg(item.shape, c.textDim));
      row.appendChild(el("span", "oki-legend-text oki-legend-cats oki-legend-long", item.label));
      row.appendChild(el("span", "oki-legend-text oki-legend-short", item.short || item.label));
      right.appendChild(row);
    });
    cols.appendChild(left);
    cols.appendChild(right);
    root.appendChild(cols);
    root.addEventListener("click", function () {
      if (root.classList.contains("oki-legend-folded") || root.classList.contains("oki-legend-open")) {
        root.classList.toggle("oki-legend-open");
      }
    });
    var Legend = L.Control.extend({
      options: { position: "bottomright" },
      onAdd: function () { L.DomEvent.disableClickPropagation(root); return root; }
    });
    S.legend = new Legend();
    S.legend.addTo(S.map);
    S.scale = L.control.scale({ metric: true, imperial: false, position: "bottomleft",
                                maxWidth: Math.round(S.opts.labelPx * 6) }).addTo(S.map);
  }

  var declutterPending = false;
  var declutterTimer = null;
  function scheduleDeclutter() {
    if (!declutterPending) {
      declutterPending = true;
      requestAnimationFrame(function () { declutterPending = false; declutter(); });
    }
    // Again once markercluster's chunked loading has drawn the clusters.
    if (declutterTimer) clearTimeout(declutterTimer);
    declutterTimer = setTimeout(function () { declutterTimer = null; declutter(); }, 400);
  }

  // --- API ---------------------------------------------------------------------------

  function onIncidentClick(e) {
    var id = e.target.oki.id;
    if (S.py) S.py.markerClicked(id);
  }

  function placeOf(d) { return [d.lat, d.lon]; }

  function popupOptions() {
    // Leaflet sizes popups by measuring unwrapped content; bounds in em of the
    // popup text keep the two columns readable.
    return { minWidth: Math.round(S.opts.popupPx * 10), maxWidth: Math.round(S.opts.popupPx * 17),
             autoPanPadding: [24, 24] };
  }

  // Leaflet drops a zoom requested while another zoom animates (_tryAnimatedZoom),
  // so selection waits for the map to be still. Looked at again every STILL_POLL_MS, not
  // on the map's zoomend: markercluster animates its own clusters after that event, and a
  // wait for the next zoomend then lasted until somebody zoomed (the selection lost). An
  // animation that never ends is waited for STILL_MAX_MS at most.
  var STILL_POLL_MS = 50;
  var STILL_MAX_MS = 3000;
  function whenStill(fn, waited) {
    waited = waited || 0;
    if ((S.map._animatingZoom || S.cluster._inZoomAnimation) && waited < STILL_MAX_MS) {
      setTimeout(function () { whenStill(fn, waited + STILL_POLL_MS); }, STILL_POLL_MS);
    } else {
      fn();
    }
  }

  function closeSelectedPopup() {
    if (S.selPopup) {
      S.map.closePopup(S.selPopup);
      S.selPopup = null;
    }
    S.map.closePopup();
  }

  // An operator's console zooms in until the marker leaves its cluster; the wall
  // keeps its overview and shows the popup where the incident is, over its cluster.
  //
  // markercluster's zoomToShowLayer calls back on a moveend or animationend that comes while
  // it is still animating, and then waits for the next one: under load the popup did not
  // open until somebody moved the map. Not shown after SELECT_RETRY_MS, it is asked again,
  // and then the popup is shown where the incident is, as on the wall.
  var SELECT_RETRY_MS = 1500;
  var SELECT_TRIES = 3;
  function openSelectedPopup(m, tries) {
    tries = tries || 1;
    if (S.opts.interactive && m.okiIn && tries <= SELECT_TRIES) {
      whenStill(function () {
        if (S.selected !== m.oki.id) return;
        var shown = false;
        S.cluster.zoomToShowLayer(m, function () {
          shown = true;
          if (S.selected === m.oki.id && !m.isPopupOpen()) m.openPopup();
        });
        setTimeout(function () {
          if (!shown && S.selected === m.oki.id && S.incidents[m.oki.id] === m) openSelectedPopup(m, tries + 1);
        }, SELECT_RETRY_MS);
      });
      return;
    }
    S.selPopup = L.popup(popupOptions())
      .setLatLng(m.getLatLng())
      .setContent(incidentPopup(m));
    S.selPopup.openOn(S.map);
  }

  var api = {
    upsertIncidents: function (list) {
      var add = [], refresh = [];
      list.forEach(function (d) {
        var m = S.incidents[d.id];
        var icon = incidentIcon(d.shape, d.priority, !!S.pulsing[d.id], S.selected === d.id);
        if (!m) {
          m = L.marker(placeOf(d), { icon: icon, keyboard: false, riseOnHover: true });
          m.oki = d;
          m.on("click", onIncidentClick);
          m.bindPopup(incidentPopup, popupOptions());
          S.incidents[d.id] = m;
          m.okiIn = false;
        } else {
          var old = m.oki;
          m.oki = d;
          if (old.lat !== d.lat || old.lon !== d.lon) { m.setLatLng(placeOf(d)); S.incidentsMoved = true; }
          if (m.options.icon !== icon) { m.setIcon(icon); if (m.okiIn) refresh.push(m); S.incidentsMoved = true; }
          if (m.isPopupOpen()) m.getPopup().setContent(incidentPopup).update();
          if (S.selPopup && S.selected === d.id) S.selPopup.setLatLng(placeOf(d)).setContent(incidentPopup(m));
        }
        var want = shownByAgency(d.agencies);
        if (want && !m.okiIn) { add.push(m); m.okiIn = true; }
        if (!want && m.okiIn) { S.cluster.removeLayer(m); m.okiIn = false; S.incidentsMoved = true; }
      });
      if (add.length) { clusterAdd(add); S.incidentsMoved = true; }
      if (refresh.length) S.cluster.refreshClusters(refresh);
    },

    removeIncidents: function (ids) {
      var remove = [];
      ids.forEach(function (id) {
        var m = S.incidents[id];
        if (!m) return;
        if (m.okiIn) remove.push(m);
        m.closePopup();
        delete S.incidents[id];
        delete S.pulsing[id];
        // S.alerts stays: Python sends alert states apart from markers and
        // takes them back itself (a null), so both sides agree on what is held.
        if (S.selected === id) {
          S.selected = "";
          closeSelectedPopup();
        }
      });
      if (remove.length) { S.cluster.removeLayers(remove); S.incidentsMoved = true; }
    },

    upsertUnits: function (list) {
      list.forEach(function (d) {
        var m = S.units[d.id];
        var icon = unitIcon(d.agency, d.group);
        if (!m) {
          // Below incidents: a unit on scene must not hide the incident it serves.
          m = L.marker([d.lat, d.lon], { icon: icon, keyboard: false, zIndexOffset: -1000 });
          m.oki = d;
          m.bindPopup(unitPopup);
          S.units[d.id] = m;
          if (shownByAgency([d.agency])) S.unitLayer.addLayer(m);
        } else {
          var old = m.oki;
          m.oki = d;
          // Moving keeps the same marker (and its DOM element): no flicker, no rebuild.
          if (old.lat !== d.lat || old.lon !== d.lon) m.setLatLng([d.lat, d.lon]);
          if (m.options.icon !== icon) {
            m.setIcon(icon);
            // Its square's ring colours the cluster it is in.
            if (old.group !== d.group && S.unitLayer.hasLayer(m)) S.unitLayer.refreshClusters(m);
          }
          if (m.isPopupOpen()) m.getPopup().setContent(unitPopup).update();
        }
      });
    },

    removeUnits: function (ids) {
      ids.forEach(function (id) {
        var m = S.units[id];
        if (!m) return;
        S.unitLayer.removeLayer(m);
        delete S.units[id];
      });
    },

    setDistrictCounts: function (counts) {
      var next = dict();
      Object.keys(counts).forEach(function (name) { next[districtKey(name)] = counts[name]; });
      S.districtCounts = next;
      styleDistricts();
      updateLabelCounts();
      scheduleDeclutter();
    },

    setAlertStates: function (states) {
      // {id: state or null}: only the incidents whose alert state changed.
      var changed = Object.keys(states);
      changed.forEach(function (id) {
        if (states[id]) S.alerts[id] = states[id];
        else delete S.alerts[id];
      });
      refreshOpenPopups(changed);
    },

    // Only what changed: [started, stopped] (a burst has thousands pulsing; the
    // whole list each batch cost the page a pass over all of them).
    pulseDiff: function (diff) {
      var refresh = [];
      function set(id, on) {
        if (!!S.pulsing[id] === on) return;
        if (on) S.pulsing[id] = true;
        else delete S.pulsing[id];
        var m = S.incidents[id];
        if (!m) return;
        m.setIcon(incidentIcon(m.oki.shape, m.oki.priority, on, S.selected === id));
        if (m.okiIn) refresh.push(m);
      }
      diff[0].forEach(function (id) { set(id, true); });
      diff[1].forEach(function (id) { set(id, false); });
      if (refresh.length) S.cluster.refreshClusters(refresh);
    },

    // The whole list: what differs from the pulsing now goes through pulseDiff.
    setPulsing: function (ids) {
      var next = dict();
      ids.forEach(function (id) { next[id] = true; });
      api.pulseDiff([ids, Object.keys(S.pulsing).filter(function (id) { return !next[id]; })]);
    },

    select: function (id) {
      var prev = S.incidents[S.selected];
      S.selected = id || "";
      closeSelectedPopup();
      if (prev) {
        prev.setIcon(incidentIcon(prev.oki.shape, prev.oki.priority, !!S.pulsing[prev.oki.id], false));
        if (prev.okiIn) S.cluster.refreshClusters([prev]);
      }
      var m = S.incidents[S.selected];
      if (!m) {
        if (!S.opts.interactive) fitRegency();
        return;
      }
      m.setIcon(incidentIcon(m.oki.shape, m.oki.priority, !!S.pulsing[m.oki.id], true));
      openSelectedPopup(m);
    },

    clearAll: function () {
      S.cluster.clearLayers();
      S.unitLayer.clearLayers();
      closeSelectedPopup();
      S.incidents = dict();
      S.units = dict();
      S.pulsing = dict();
      S.alerts = dict();
      S.selected = "";
      S.districtCounts = dict();
      styleDistricts();
      updateLabelCounts();
      scheduleDeclutter();
    }
  };

  // The regency fills the map's area beside the legend: the legend's width is
  // kept free on the right when the panel is wide enough for both.
  // The legends (incidents', hazard layers') share the bottom right corner: its
  // width is what the regency keeps clear. An operator's screen too small for
  // both the regency and a full legend folds the incidents' legend to its title
  // (a click opens it); a wall keeps it open.
  var LEGEND_SHARE = 0.28;
  function fitRegency() {
    var size = S.map.getSize(), right = 8;
    var corner = S.map._controlCorners ? S.map._controlCorners.bottomright : null;
    var legend = S.legend ? S.legend.getContainer() : null;
    if (legend && S.opts.interactive) {
      legend.classList.remove("oki-legend-folded");
      if (corner && (corner.offsetWidth > size.x * 0.4 || corner.offsetHeight > size.y * 0.9)) {
        legend.classList.add("oki-legend-folded");
      }
    }
    // A wall's legend (open: nobody clicks a wall) beside the regency takes at most
    // LEGEND_SHARE of the width: where its two columns would take more (a 1080p panel read
    // from 6 m), one column without headings, each shape named by its first word (the rest
    // in the row's title). Under the regency (a portrait panel) it keeps its two columns.
    if (legend && !S.opts.interactive) legend.classList.remove("oki-legend-compact");
    var place = placeRegency(size, corner, legend);
    if (legend && !S.opts.interactive && place.side && place.width > size.x * LEGEND_SHARE) {
      legend.classList.add("oki-legend-compact");
      place = placeRegency(size, corner, legend);
    }
    var target = place.target, width = place.width, height = place.height, bottom = 8;
    if (place.side) right = width + 16;
    else if (place.below) bottom = height + 16;
    S.lastFit = { right: right, bottom: bottom, width: width, height: height, x: size.x, y: size.y };
    // No animation: a zoom in flight would swallow the next one (see whenStill).
    S.fitting = true;
    try {
      S.map.fitBounds(target, { paddingTopLeft: [8, 8], paddingBottomRight: [right, bottom], animate: false });
    } finally {
      S.fitting = false;
    }
  }

  // The widest legend in the corner (the corner's own width adds Leaflet's margin) and the
  // corner's height; the regency keeps clear of the corner either beside it (a strip on the
  // right) or above it (a strip at the bottom): whichever draws the regency larger, and on a
  // tie the one that leaves the larger free area (a portrait panel: above the legend, so the
  // regency is centred instead of pushed against the left edge).
  function placeRegency(size, corner, legend) {
    var width = 0, height = 0;
    if (corner) {
      Array.prototype.forEach.call(corner.children, function (e) { width = Math.max(width, e.offsetWidth); });
      height = corner.offsetHeight;
    } else if (legend) {
      width = legend.offsetWidth;
      height = legend.offsetHeight;
    }
    var target = fitTarget();
    var side = !!width && width < size.x * 0.6, below = !!height && height < size.y * 0.6;
    if (side && below) {
      var zSide = S.map.getBoundsZoom(target, false, L.point(8 + width + 16, 16));
      var zBelow = S.map.getBoundsZoom(target, false, L.point(16, 8 + height + 16));
      var freeSide = (size.x - width) * size.y, freeBelow = size.x * (size.y - height);
      if (zBelow > zSide || (zBelow === zSide && freeBelow > freeSide)) side = false;
    }
    return { target: target, width: width, height: height, side: side, below: below };
  }

  // Fits again when the area or the legends change, until an operator moves the map.
  function refit() {
    if (!S.opts.interactive || !S.userMoved) fitRegency();
  }

  // The regency's own outline where there is one, else the configured bounds.
  function fitTarget() {
    if (S.regencyLayer) {
      var b = S.regencyLayer.getBounds();
      if (b.isValid()) return b;
    }
    return S.opts.bounds;
  }

  function run(name, arg) {
    // Context-layer labels came or went: district labels make room again.
    if (name === "setHazards" || name === "setHazardVisible") S.incidentsMoved = true;
    try {
      api[name](arg);
    } catch (err) {
      logError(name, err);
    }
  }

  // Batches from Python arrive as data through QWebChannel, not as scripts: every
  // runJavaScript source is compiled, and V8 keeps each distinct one (a batch
  // of diffs is always distinct) for as long as the page lives.
  //
  // A batch is confirmed once its markers are all in the cluster group:
  // markercluster adds big lists in chunks on its own timers, and Python's
  // "idle" must mean the page shows everything it was sent.
  function onBatch(generation, text) {
    var n = -1;
    try {
      n = OkiMap.apply(JSON.parse(text));
    } catch (err) {
      logError("batch", err);
    }
    var confirm = function () { S.py.batchApplied(generation, n); };
    if (S.chunking > 0) S.afterChunks.push(confirm); else confirm();
  }

  // Adds to the cluster group, counting the adds whose chunks are not all in.
  function clusterAdd(layers) {
    S.chunking += 1;
    if (!S.chunkGuard) {
      // Should markercluster drop an add (a clearLayers while it chunks),
      // confirmations must not wait for ever.
      S.chunkGuard = setTimeout(function () { S.chunkGuard = null; chunksDone(true); }, CHUNK_GUARD_MS);
    }
    S.cluster.addLayers(layers);
  }

  function onChunkProgress(processed, total) {
    if (processed < total) return;
    S.chunking = Math.max(0, S.chunking - 1);
    scheduleDeclutter();  // markers landed after the batch: labels make room
    if (S.chunking === 0) chunksDone(false);
  }

  function chunksDone(forced) {
    if (forced) {
      if (S.chunking > 0) console.warn("OkiMap: markercluster left " + S.chunking + " adds unfinished");
      S.chunking = 0;
    }
    if (S.chunkGuard) { clearTimeout(S.chunkGuard); S.chunkGuard = null; }
    var waiting = S.afterChunks;
    S.afterChunks = [];
    waiting.forEach(function (confirm) { confirm(); });
  }

  // --- public object -------------------------------------------------------------------

  var OkiMap = {
    /* Called once by the page folium made, after the map and its layers exist. */
    init: function (map, layers, opts) {
      S.map = map;
      S.opts = opts;
      S.districtLayer = layers.districts;
      S.villageData = opts.villages;
      S.regencyLayer = layers.regency;
      S.tileLayer = layers.tiles;
      S.packLayer = layers.pack;
      var root = document.documentElement.style;
      root.setProperty("--oki-label-px", opts.labelPx + "px");
      root.setProperty("--oki-popup-px", opts.popupPx + "px");
      root.setProperty("--oki-marker-px", opts.markerPx + "px");
      root.setProperty("--oki-count-px", opts.labelPx + "px");
      document.body.classList.toggle("oki-interactive", !!opts.interactive);
      S.cluster = L.markerClusterGroup({
        chunkedLoading: true,
        chunkInterval: 100,
        // Markers added in chunks land after the batch that sent them: labels
        // make room again once the last chunk is in (on a busy machine that is
        // later than the timer in scheduleDeclutter).
        chunkProgress: onChunkProgress,
        showCoverageOnHover: false,
        spiderfyOnMaxZoom: true,
        removeOutsideVisibleBounds: true,
        // Members within the largest icon's size of a cluster join it: clusters then seldom
        // overlap, and placeIcons moves the few that do by a few pixels only.
        maxClusterRadius: clusterSize(100)[0],
        iconCreateFunction: clusterIcon
      }).addTo(map);
      S.unitLayer = L.markerClusterGroup({
        chunkedLoading: true,
        chunkInterval: 100,
        showCoverageOnHover: false,
        spiderfyOnMaxZoom: true,
        removeOutsideVisibleBounds: true,
        maxClusterRadius: unitClusterSize(100)[0],
        iconCreateFunction: unitClusterIcon
      }).addTo(map);
      S.unitLayer.on("animationend", scheduleSpread);
      S.villageLabels = L.layerGroup().addTo(map);
      buildLayerControl();
      buildLegend();
      if (window.OkiHazards) OkiHazards.init(map, opts, api, refit);
      fitRegency();
      map.on("zoomend moveend resize", scheduleDeclutter);
      S.cluster.on("animationend", scheduleDeclutter);
      map.on("zoomend moveend resize", scheduleSpread);
      // A zoom or pan that no fit started is the operator's: the map stays where they put it.
      map.on("dragstart zoomstart", function () { if (!S.fitting) S.userMoved = true; });
      map.on("resize", refit);
      // The legends' corner changes size without the map doing so (the page's fonts arrive,
      // a context layer's legend grows): fit again, or the legend covers the regency or the
      // regency is fitted to a corner it no longer has (the gallery's single-4k and
      // four-panels maps, depending on timing). The size a fit itself leaves is the one it
      // measured, so a fit does not call the next one.
      var corner = map._controlCorners ? map._controlCorners.bottomright : null;
      if (corner && window.ResizeObserver) {
        var cornerSize = "";
        new ResizeObserver(function () {
          var now = corner.offsetWidth + "x" + corner.offsetHeight;
          if (now !== cornerSize) {
            cornerSize = now;
            refit();
          }
        }).observe(corner);
      }
      setInterval(checkLabels, LABEL_CHECK_MS);
      styleDistricts();
      scheduleDeclutter();
      var done = function () {
        S.ready = true;
        var queued = S.queue;
        S.queue = [];
        queued.forEach(function (call) { OkiMap.apply(call); });
        if (S.py) S.py.pageReady();
      };
      if (typeof qt !== "undefined" && qt.webChannelTransport && typeof QWebChannel !== "undefined") {
        new QWebChannel(qt.webChannelTransport, function (channel) {
          S.py = channel.objects.mapBridge || null;
          if (S.py) S.py.batch.connect(onBatch);
          if (window.OkiHazards) OkiHazards.connect(S.py);
          done();
        });
      } else {
        done();  // opened in a plain browser (debugging): no Python side
      }
    },

    /* One batch of diffs: [[name, argument], ...]. Returns the batch number,
     * which runJavaScript hands back to Python as the confirmation. */
    apply: function (ops) {
      if (!S.ready) {
        S.queue.push(ops);
        return -1;
      }
      for (var i = 0; i < ops.length; i++) run(ops[i][0], ops[i][1]);
      S.applied += 1;
      // Incident markers changed: labels may have to make room. Most batches only move
      // units, inside their clusters: the label check (checkLabels) sees the few that move
      // an icon.
      if (S.incidentsMoved) {
        S.incidentsMoved = false;
        scheduleDeclutter();
      }
      scheduleSpread();  // a restyled icon lost its shift
      return S.applied;
    },

    upsertIncidents: function (list) { return OkiMap.apply([["upsertIncidents", list]]); },
    removeIncidents: function (ids) { return OkiMap.apply([["removeIncidents", ids]]); },
    upsertUnits: function (list) { return OkiMap.apply([["upsertUnits", list]]); },
    removeUnits: function (ids) { return OkiMap.apply([["removeUnits", ids]]); },
    setDistrictCounts: function (counts) { return OkiMap.apply([["setDistrictCounts", counts]]); },
    setPulsing: function (ids) { return OkiMap.apply([["setPulsing", ids]]); },
    setAlertStates: function (states) { return OkiMap.apply([["setAlertStates", states]]); },
    select: function (id) { return OkiMap.apply([["select", id]]); },
    clearAll: function () { return OkiMap.apply([["clearAll", null]]); },

    // --- for tests and diagnostics (read-only) ---
    isReady: function () { return S.ready; },
    // What the page is still doing, by name; empty once it shows, and will keep showing,
    // what it was sent: no markers coming in chunks, no zoom or cluster animation, no
    // declutter or spread due, labels placed for where the markers are, every base-map tile
    // in and the page's fonts loaded. The gallery (tools/screenshots.py) grabs the map then.
    settled: function () {
      var busy = [];
      if (!S.ready) busy.push("init");
      if (S.chunking > 0 || S.afterChunks.length) busy.push("chunks");
      if (declutterPending || declutterTimer) busy.push("declutter");
      if (spreadPending) busy.push("spread");
      if (S.map && (S.map._animatingZoom || S.map._panAnim && S.map._panAnim._inProgress)) busy.push("zoom");
      [S.cluster, S.unitLayer].forEach(function (g) {
        if (g && g._inZoomAnimation) busy.push("clusters");
      });
      if (document.querySelector(".leaflet-cluster-anim, .leaflet-zoom-anim")) busy.push("animation");
      if (S.map && S.cluster && labelKey() !== S.declutteredFor) {
        busy.push("labels");
      }
      [S.packLayer, S.tileLayer].forEach(function (t) {
        if (t && S.map && S.map.hasLayer(t) && t._loading) busy.push("tiles");
      });
      if (document.fonts && document.fonts.status !== "loaded") busy.push("fonts");
      return busy;
    },
    // A square of the given colour in the page's top left corner (or none, for null): the
    // gallery sees in its grabs that a frame drawn after the page came to rest reached the
    // window (ui.app.still).
    frameMark: function (color) {
      var el = document.getElementById("oki-frame-mark");
      if (color && !el) {
        el = document.createElement("div");
        el.id = "oki-frame-mark";
        el.style.cssText = "position: fixed; left: 0; top: 0; width: 16px; height: 16px; z-index: 100000;" +
          " pointer-events: none; background: " + color + ";";
        document.body.appendChild(el);
      } else if (!color && el) {
        el.parentNode.removeChild(el);
      }
      return true;
    },
    // For the gallery's pictures (ui.app.still), not read-only: every CSS animation (the
    // pulsing rings) off, also on icons made later, so each element shows its style without
    // animation (a pulsing ring whole) whenever the picture is taken (a paused animation's
    // phase still varied from run to run); the labels and icons placed again for what the
    // page holds now. Not undone: the wall's own pages never call it.
    holdStill: function () {
      if (!document.getElementById("oki-still")) {
        var style = document.createElement("style");
        style.id = "oki-still";
        style.textContent = "*, *::before, *::after { animation: none !important; }";
        document.head.appendChild(style);
      }
      declutter();
      return true;
    },
    // The markup of a single incident's icon (what the legibility test measures when every
    // incident is in a cluster).
    incidentIconHtml: function (shape, priority) { return incidentIcon(shape, priority, false, false).options.html; },
    counts: function () {
      var visibleUnits = 0;
      S.unitLayer.eachLayer(function () { visibleUnits += 1; });
      return {
        incidents: S.cluster.getLayers().length,
        incidentsTotal: Object.keys(S.incidents).length,
        units: visibleUnits,
        unitsTotal: Object.keys(S.units).length,
        districts: S.districtLayer ? S.districtLayer.getLayers().length : 0,
        villages: S.villageData ? S.villageData.features.length : 0,
        villagesShown: !!(S.villageLayer && S.map.hasLayer(S.villageLayer)),
        villageLabels: villageLabelElements().filter(function (e) { return e.style.visibility !== "hidden"; }).length,
        regency: !!S.regencyLayer,
        pulsing: Object.keys(S.pulsing).length,
        applied: S.applied,
        errors: S.errors
      };
    },
    // What the page holds, to show that a long run leaves nothing behind.
    footprint: function () {
      var size = function (obj) { return Object.keys(obj).length; };
      var all = function (sel) { return document.querySelectorAll(sel).length; };
      return {
        dom: document.getElementsByTagName("*").length,
        markerEls: all(".leaflet-marker-pane > *"),
        incidentEls: all(".leaflet-marker-pane .oki-incident, .leaflet-marker-pane .oki-cluster"),
        unitEls: all(".leaflet-marker-pane .oki-unit"),
        popups: all(".leaflet-popup"),
        layers: size(S.map._layers),
        targets: size(S.map._targets),
        icons: size(S.icons),
        incidents: size(S.incidents),
        units: size(S.units),
        pulsing: size(S.pulsing),
        alerts: size(S.alerts),
        queued: S.queue.length
      };
    },
    districtStyle: function (name) {
      var key = districtKey(name), found = null;
      if (!S.districtLayer) return null;
      S.districtLayer.eachLayer(function (layer) {
        if (layer.feature.properties.oki_key === key) {
          found = { fillColor: layer.options.fillColor, fillOpacity: layer.options.fillOpacity,
                    count: S.districtCounts[key] || 0 };
        }
      });
      return found;
    },
    popupOf: function (id) {
      var m = S.incidents[id];
      if (!m) return null;
      var el = incidentPopup(m);
      return { text: el.textContent, html: el.innerHTML, imgs: el.querySelectorAll("img").length };
    },
    openPopupDom: function () {
      var el = document.querySelector(".leaflet-popup-content .oki-popup");
      if (!el) return null;
      var button = el.querySelector("button.oki-ack"), line = el.querySelector(".oki-alert-line");
      return { id: el.getAttribute("data-incident"), text: el.textContent,
               imgs: el.querySelectorAll("img").length, scripts: el.querySelectorAll("script").length,
               button: button ? { text: button.textContent, disabled: button.disabled } : null,
               alertLine: line ? line.textContent : null };
    },
    // A real click (a DOM click event) on the open popup's acknowledge button.
    clickAck: function () {
      var button = document.querySelector(".leaflet-popup-content .oki-popup button.oki-ack");
      if (!button) return false;
      button.click();
      return true;
    },
    clickMarker: function (id) {
      var m = S.incidents[id];
      if (!m) return false;
      m.fire("click", { latlng: m.getLatLng() });
      return true;
    },
    setAgencyVisible: function (code, visible) {
      S.map.eachLayer(function (layer) {
        if (layer.okiAgency === code && !visible) S.map.removeLayer(layer);
      });
      if (visible) {
        S.layerControl._layers.forEach(function (entry) {
          if (entry.layer.okiAgency === code) S.map.addLayer(entry.layer);
        });
      }
      return S.agencyOn[code];
    },
    unitPosition: function (id) {
      var m = S.units[id];
      return m ? [m.getLatLng().lat, m.getLatLng().lng] : null;
    },
    // Moves the view (tests, diagnostics); returns the metres per pixel there.
    setView: function (lat, lon, zoom) {
      S.map.setView([lat, lon], zoom, { animate: false });
      declutter();
      return metresPerPixel();
    },
    // The icons' boxes as spread (what they paint, centred where they are drawn; diagnostics).
    iconBoxes: function () {
      return placeIcons().map(function (it) {
        return { x: it.x + it.dx, y: it.y + it.dy, w: it.w, h: it.h, unit: it.unit, cls: it.icon.className,
                 text: it.icon.textContent };
      });
    },
    // Where label placement takes markers to be (diagnostics).
    obstacleBoxes: function () { return markerObstacles(); },
    // Places the labels again now (diagnostics: what the next change would do).
    declutter: function () { declutter(); return labelElements().length; },
    // Labels shown now with their boxes (tests check they cover no marker
    // and no other label).
    labelBoxes: function () {
      var out = [];
      labelElements().concat(villageLabelElements()).forEach(function (e) {
        if (e.style.visibility === "hidden") return;
        var r = e.getBoundingClientRect();
        out.push({ text: e.textContent, village: e.classList.contains("oki-village"),
                   l: r.left, t: r.top, r: r.right, b: r.bottom });
      });
      return out;
    },
    markerBoxes: function () {
      return Array.prototype.map.call(
        document.querySelectorAll(".leaflet-marker-pane .oki-cluster, .leaflet-marker-pane .oki-incident"),
        function (e) { var r = e.getBoundingClientRect(); return { l: r.left, t: r.top, r: r.right, b: r.bottom }; });
    },
    legendText: function () {
      var e = document.querySelector(".oki-legend");
      return e ? e.textContent : null;
    },
    // The hazard layers as drawn (see resources/map/hazards.js).
    hazards: function () { return window.OkiHazards ? OkiHazards.state() : null; },
    clickHazardRow: function (id) { return window.OkiHazards ? OkiHazards.clickRow(id) : false; },
    // Boxes of the map, the legends' corner and the regency (the legend must not cover it).
    legendBox: function () {
      var corner = S.map._controlCorners.bottomright, r = corner.getBoundingClientRect();
      var m = S.map.getContainer().getBoundingClientRect();
      return { l: r.left - m.left, t: r.top - m.top, r: r.right - m.left, b: r.bottom - m.top,
               userMoved: !!S.userMoved, fit: S.lastFit || null, folded: !!(S.legend && S.legend.getContainer().classList.contains("oki-legend-folded")) };
    },
    regencyBox: function () {
      if (!S.regencyLayer) return null;
      var b = S.regencyLayer.getBounds();
      var nw = S.map.latLngToContainerPoint(b.getNorthWest()), se = S.map.latLngToContainerPoint(b.getSouthEast());
      var size = S.map.getSize();
      return { l: nw.x, t: nw.y, r: se.x, b: se.y, w: size.x, h: size.y };
    },
    visibleLabels: function () {
      return labelElements().filter(function (el) { return el.style.visibility !== "hidden"; }).length;
    }
  };

  window.OkiMap = OkiMap;
})();
