/* OKI Siaga 112 - the provincial wall's map: a choropleth per regency and the
 * incident points. The page is built once (ui/views/map/province.py); data
 * arrives as JSON through the QWebChannel object "provinceBridge" (never as
 * scripts). Every text from data goes in through textContent, never as HTML.
 */
(function () {
  "use strict";
  var CFG = window.PROVINCE_CONFIG;
  var S = { py: null, map: null, layer: null, labels: {}, points: null, legend: null, byCode: {}, last: null };

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function init() {
    var map = L.map("map", { zoomControl: false, attributionControl: false, maxZoom: 18,
      zoomSnap: 0.1, keyboard: false, boxZoom: false });
    S.map = map;
    S.layer = L.geoJSON(CFG.geojson, {
      style: function () {
        return { className: "regency", color: CFG.lineColor, weight: 2, fillColor: CFG.emptyColor, fillOpacity: 0.85 };
      },
      onEachFeature: function (feature, layer) {
        S.byCode[feature.properties.kode] = layer;
      },
    }).addTo(map);
    map.fitBounds(S.layer.getBounds(), { padding: [CFG.fontPx / 2, CFG.fontPx / 2] });
    S.points = L.layerGroup().addTo(map);
    CFG.geojson.features.forEach(function (f) {
      var p = f.properties;
      var box = el("div", "plabel");
      var name = el("div", "pname", p.short || p.nama);
      var value = el("div", "pvalue", "");
      box.appendChild(name);
      box.appendChild(value);
      var icon = L.divIcon({ className: "plabel-wrap", html: box, iconSize: null });
      var m = L.marker([p.label_lat, p.label_lng], { icon: icon, interactive: false, keyboard: false });
      m.addTo(map);
      S.labels[p.kode] = { box: box, name: name, value: value };
    });
    var legend = L.control({ position: "bottomleft" });
    legend.onAdd = function () {
      S.legend = el("div", "plegend");
      return S.legend;
    };
    legend.addTo(map);
    window.addEventListener("resize", fit);
  }

  // Labels of neighbouring regencies (Palembang, Prabumulih, OKI) would cover each other at
  // wall size: a label that overlaps one placed before it moves a little up or down (never
  // further than its own height, so it stays on its regency) to the first clear place.
  function declutter() {
    var placed = [];
    Object.keys(S.labels).forEach(function (code) {
      var box = S.labels[code].box;
      box.style.marginTop = "0px";
      if (box.offsetParent === null) return;  // hidden (a regency not followed)
      var base = box.getBoundingClientRect();
      var h = base.height;
      var offsets = [0, -h / 2, h / 2, -h, h];
      var chosen = 0;
      for (var i = 0; i < offsets.length; i++) {
        var dy = offsets[i];
        var clear = !placed.some(function (q) {
          return base.left < q.right && q.left < base.right && base.top + dy < q.bottom && q.top < base.bottom + dy;
        });
        if (clear) { chosen = dy; break; }
      }
      box.style.marginTop = chosen + "px";
      placed.push(box.getBoundingClientRect());
    });
  }

  function fit() {
    S.map.invalidateSize();
    S.map.fitBounds(S.layer.getBounds(), { padding: [CFG.fontPx / 2, CFG.fontPx / 2] });
    if (S.last) declutter();
  }

  function render(json) {
    var d = JSON.parse(json);
    // The first data after load: the view has its final size now.
    if (!S.last) fit();
    S.last = d;
    d.regions.forEach(function (r) {
      var layer = S.byCode[r.code];
      var label = S.labels[r.code];
      if (layer) {
        layer.setStyle({ fillColor: r.fill, color: r.live ? CFG.lineColor : CFG.staleLine,
          dashArray: r.live ? null : "12 8", weight: r.live ? 2 : 4 });
        if (layer._path) layer._path.setAttribute("data-code", r.code);
      }
      if (label) {
        label.value.textContent = r.text;
        label.box.className = "plabel" + (r.live ? "" : " stale") + (r.followed ? "" : " unfollowed");
      }
    });
    declutter();
    S.points.clearLayers();
    d.points.forEach(function (p) {
      L.circleMarker([p.lat, p.lon], { radius: p.high ? CFG.pointPx * 1.4 : CFG.pointPx, color: "#0b0f14",
        weight: 1, fillColor: p.color, fillOpacity: 0.95, interactive: false, className: "ppoint" }).addTo(S.points);
    });
    var lg = S.legend;
    if (lg) {
      lg.textContent = "";
      lg.appendChild(el("div", "ptitle", d.legend.title));
      d.legend.classes.forEach(function (c) {
        var row = el("div", "prow");
        var sw = el("span", "pswatch");
        sw.style.background = c.color;
        row.appendChild(sw);
        row.appendChild(el("span", "", c.label));
        lg.appendChild(row);
      });
    }
    if (S.py) S.py.rendered(d.regions.length, d.points.length);
  }

  window.provinceState = function () {
    return JSON.stringify({
      regencies: document.querySelectorAll("path.regency").length,
      labels: document.querySelectorAll(".plabel").length,
      points: document.querySelectorAll("path.ppoint").length,
      stale: document.querySelectorAll(".plabel.stale").length,
    });
  };

  document.addEventListener("DOMContentLoaded", function () {
    init();
    new QWebChannel(qt.webChannelTransport, function (channel) {
      S.py = channel.objects.provinceBridge;
      S.py.data.connect(render);
      S.py.pageReady();
    });
  });
})();
