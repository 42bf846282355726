/* parkgis map runtime: decodes the compact layers written by gis/webmap/compact.py and draws
 * them on one shared canvas. Attribute values only ever reach the page through textContent.
 * The page reports progress on <html>: data-drawn (features drawn), data-layers (layers done),
 * data-drawn-ms (ms since navigation start when everything was drawn). */
(function () {
  'use strict';
  var PG = window.parkgis = window.parkgis || {};
  PG.layers = [];

  function bytes(b64) {
    var bin = atob(b64), n = bin.length, out = new Uint8Array(n);
    for (var i = 0; i < n; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function varints(b64) {
    var b = bytes(b64), count = 0, i;
    for (i = 0; i < b.length; i++) if (b[i] < 128) count++;
    var out = new Float64Array(count), v = 0, mul = 1, k = 0;
    for (i = 0; i < b.length; i++) {
      var c = b[i];
      v += (c & 127) * mul;
      if (c & 128) { mul *= 128; } else { out[k++] = v; v = 0; mul = 1; }
    }
    return out;
  }
  function unzig(u) { return (u % 2) ? -(u + 1) / 2 : u / 2; }

  /* -> per feature: null (no geometry) or {t: type, parts: [[ring of LatLng], ...] per part} */
  function decode(g) {
    var P = varints(g.P), T = varints(g.T), R = varints(g.R), N = varints(g.N), C = varints(g.C);
    var q = g.q, feats = new Array(P.length), pi = 0, ri = 0, ci = 0, x = 0, y = 0;
    for (var f = 0; f < P.length; f++) {
      var np = P[f];
      if (!np) { feats[f] = null; continue; }
      var parts = new Array(np), t = T[pi];
      for (var p = 0; p < np; p++) {
        var nr = R[pi++], rings = new Array(nr);
        for (var r = 0; r < nr; r++) {
          var n = N[ri++], pts = new Array(n);
          for (var j = 0; j < n; j++) {
            x += unzig(C[ci++]); y += unzig(C[ci++]);
            pts[j] = new L.LatLng(y * q, x * q);
          }
          rings[r] = pts;
        }
        parts[p] = rings;
      }
      feats[f] = {t: t, parts: parts};
    }
    return feats;
  }
  PG.decode = decode;

  function value(col, i) {
    if (!col) return null;
    if (col.k) { var k = col.k[i]; return k < 0 ? null : col.d[k]; }
    var v = col.v[i];
    return v === undefined ? null : v;
  }
  PG.value = value;

  function fmt(v, digits) {
    if (v === null || v === undefined || v === '') return '—';
    if (typeof v === 'number') {
      var d = (digits === undefined || digits === null) ? 2 : digits;
      return v.toLocaleString('en-US', {minimumFractionDigits: 0, maximumFractionDigits: d});
    }
    return String(v);
  }

  function table(D, fields, i) {
    var box = document.createElement('div');
    box.className = 'parkgis-tip';
    if (D.heading) {
      var h = document.createElement('div');
      h.className = 'parkgis-tip-head';
      h.textContent = fmt(value(D.cols[D.heading], i));
      box.appendChild(h);
    }
    var t = document.createElement('table');
    for (var k = 0; k < fields.length; k++) {
      var f = fields[k], v = value(D.cols[f.field], i);
      if ((v === null || v === '') && f.skip_empty) continue;
      var tr = t.insertRow(), th = document.createElement('th'), td = tr.insertCell(-1);
      th.textContent = f.label;
      tr.insertBefore(th, td);
      td.textContent = fmt(v, f.digits) + ((v !== null && f.suffix) ? f.suffix : '');
    }
    box.appendChild(t);
    return box;
  }
  PG.table = table;

  function text(s, cls) {
    var el = document.createElement('span');
    el.className = cls || '';
    el.textContent = fmt(s);
    return el;
  }

  PG.renderer = function () {
    if (!PG._canvas) PG._canvas = L.canvas({padding: 0.3, tolerance: 3});
    return PG._canvas;
  };

  /* Build one layer (an L.FeatureGroup, not yet on the map) from its compact payload. */
  PG.layer = function (D) {
    var feats = decode(D.geom), S = D.style, renderer = PG.renderer();
    var group = L.featureGroup(), drawn = 0;
    var fillIdx = S.fill_idx, outline = S.outline, label = D.label ? D.cols[D.label] : null;
    var order = [];  /* outlined features last, so their outline is not painted over by neighbours */
    for (var j = 0; j < feats.length; j++) if (!(outline && outline.flags[j])) order.push(j);
    if (outline) for (j = 0; j < feats.length; j++) if (outline.flags[j]) order.push(j);
    for (var n = 0; n < order.length; n++) {
      var i = order[n], ft = feats[i];
      if (!ft) continue;
      var colour = S.palette[fillIdx ? fillIdx[i] : 0];
      var o = {renderer: renderer, color: S.stroke || colour, weight: S.weight, opacity: S.opacity,
               fillColor: colour, fillOpacity: S.fill_opacity, dashArray: S.dash || null};
      if (outline && outline.flags[i]) { o.color = outline.color; o.weight = outline.weight; }
      var lyr;
      if (ft.t === 2) {
        lyr = L.polygon(ft.parts.length === 1 ? ft.parts[0] : ft.parts, o);
      } else if (ft.t === 1) {
        var lines = ft.parts.map(function (rs) { return rs[0]; });
        o.color = colour;
        lyr = L.polyline(lines.length === 1 ? lines[0] : lines, o);
      } else {
        o.radius = S.radius || 7;
        o.color = S.stroke || '#333';
        lyr = L.circleMarker(ft.parts[0][0][0], o);
      }
      lyr._pgi = i;
      if (label) {
        var lv = value(label, i);
        if (lv !== null && lv !== '') {
          lyr.bindTooltip(text(lv), {permanent: true, direction: ft.t === 0 ? 'right' : 'center',
                                     className: 'parkgis-label parkgis-label-' + D.kind, interactive: false});
        }
      }
      group.addLayer(lyr);
      drawn++;
    }
    if (D.tooltip && D.tooltip.length) {
      group.bindTooltip(function (l) { return table(D, D.tooltip, l._pgi); }, {sticky: true, className: 'parkgis-tooltip'});
    }
    if (D.popup && D.popup.length) {
      group.bindPopup(function (l) { return table(D, D.popup, l._pgi); }, {maxWidth: 420});
    }
    group._pgDrawn = drawn;
    group._pgData = D;
    PG.layers.push(group);
    return group;
  };

  /* Called last: after the canvas has painted, report what is on the map. */
  PG.finish = function (map) {
    var done = function () {
      var n = 0, k = 0;
      PG.layers.forEach(function (g) { if (map.hasLayer(g)) { n += g._pgDrawn; k++; } });
      var root = document.documentElement;
      root.setAttribute('data-drawn', String(n));
      root.setAttribute('data-layers', String(k));
      root.setAttribute('data-drawn-ms', String(Math.round(performance.now())));
    };
    requestAnimationFrame(function () { requestAnimationFrame(done); });
    PG.map = map;
  };

  /* For tests: open the hover tooltip of feature i of layer k, return its text. */
  PG.hover = function (k, i) {
    var g = PG.layers[k], target = null;
    g.eachLayer(function (l) { if (l._pgi === i) target = l; });
    if (!target) return null;
    var ll = target.getCenter ? target.getCenter() : target.getLatLng();
    target.fire('mouseover', {latlng: ll, layer: target, target: target, containerPoint: PG.map.latLngToContainerPoint(ll)}, true);
    var tip = document.querySelector('.parkgis-tooltip');
    return tip ? tip.textContent : null;
  };
})();
