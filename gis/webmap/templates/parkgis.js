/* parkgis map runtime: decodes the compact layers written by gis/webmap/compact.py and draws
 * them on one shared canvas. Attribute values only ever reach the page through textContent.
 * The page reports progress on <html>: data-drawn (features drawn), data-layers (layers done),
 * data-drawn-ms (ms since navigation start when everything was drawn). */
(function () {
  'use strict';
  var PG = window.parkgis = window.parkgis || {};
  PG.layers = [];
  PG.CHUNK = 256;  /* features per canvas path: small paths fill fast, few paths add fast */

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


  /* ---- bulk polygons: one canvas path per style class, hover/click found with a grid index ---- */
  function ringContains(ring, x, y) {
    var inside = false;
    for (var a = 0, b = ring.length - 1; a < ring.length; b = a++) {
      var xa = ring[a].lng, ya = ring[a].lat, xb = ring[b].lng, yb = ring[b].lat;
      if (((ya > y) !== (yb > y)) && (x < (xb - xa) * (y - ya) / (yb - ya) + xa)) inside = !inside;
    }
    return inside;
  }
  function featureContains(ft, x, y) {
    for (var p = 0; p < ft.parts.length; p++) {
      var rings = ft.parts[p], inside = false;
      for (var r = 0; r < rings.length; r++) if (ringContains(rings[r], x, y)) inside = !inside;
      if (inside) return true;
    }
    return false;
  }
  function gridIndex(feats) {
    var n = feats.length, bb = new Float64Array(n * 4), x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity, i;
    for (i = 0; i < n; i++) {
      var ft = feats[i], a = Infinity, b = Infinity, c = -Infinity, d = -Infinity;
      if (ft) for (var p = 0; p < ft.parts.length; p++) {
        var ring = ft.parts[p][0];
        for (var k = 0; k < ring.length; k++) {
          var ll = ring[k];
          if (ll.lng < a) a = ll.lng; if (ll.lng > c) c = ll.lng;
          if (ll.lat < b) b = ll.lat; if (ll.lat > d) d = ll.lat;
        }
      }
      bb[4 * i] = a; bb[4 * i + 1] = b; bb[4 * i + 2] = c; bb[4 * i + 3] = d;
      if (a < x0) x0 = a; if (b < y0) y0 = b; if (c > x1) x1 = c; if (d > y1) y1 = d;
    }
    var side = Math.max(1, Math.ceil(Math.sqrt(n / 2))), w = (x1 - x0) / side || 1e-9, h = (y1 - y0) / side || 1e-9;
    var cells = new Array(side * side);
    function cell(v, o, s) { return Math.min(side - 1, Math.max(0, Math.floor((v - o) / s))); }
    for (i = 0; i < n; i++) {
      if (!feats[i]) continue;
      var ca = cell(bb[4 * i], x0, w), cc = cell(bb[4 * i + 2], x0, w), cb = cell(bb[4 * i + 1], y0, h), cd = cell(bb[4 * i + 3], y0, h);
      for (var cx = ca; cx <= cc; cx++) for (var cy = cb; cy <= cd; cy++) {
        var key = cy * side + cx;
        (cells[key] || (cells[key] = [])).push(i);
      }
    }
    return function (x, y) {
      if (x < x0 || x > x1 || y < y0 || y > y1) return -1;
      var list = cells[cell(y, y0, h) * side + cell(x, x0, w)] || [];
      for (var m = list.length - 1; m >= 0; m--) {
        var j = list[m];
        if (x >= bb[4 * j] && x <= bb[4 * j + 2] && y >= bb[4 * j + 1] && y <= bb[4 * j + 3] && featureContains(feats[j], x, y)) return j;
      }
      return -1;
    };
  }
  function bulkLayer(D, feats) {
    var S = D.style, renderer = PG.renderer(), group = L.featureGroup(), outline = S.outline;
    var classes = {}, chunks = {}, drawn = 0, order = [];
    for (var i = 0; i < feats.length; i++) {
      if (!feats[i]) continue;
      var cls = (S.fill_idx ? S.fill_idx[i] : 0) + (outline && outline.flags[i] ? 'o' : '');
      var bucket = chunks[cls] || (chunks[cls] = {k: 0, n: 0});
      if (bucket.n >= PG.CHUNK) { bucket.k++; bucket.n = 0; }
      var key = cls + ':' + bucket.k;
      if (!classes[key]) { classes[key] = []; order.push(key); }
      bucket.n++;
      var parts = feats[i].parts;
      for (var p = 0; p < parts.length; p++) classes[key].push(parts[p]);
      drawn++;
    }
    function outlined(key) { return key.split(':')[0].slice(-1) === 'o'; }
    order.sort(function (a, b) { return outlined(a) - outlined(b); });
    order.forEach(function (key) {
      var out = outlined(key), colour = S.palette[parseInt(key, 10)];
      group.addLayer(L.polygon(classes[key], {renderer: renderer, interactive: false, noClip: true, fillColor: colour,
        fillOpacity: S.fill_opacity, color: out ? outline.color : (S.stroke || colour),
        weight: out ? outline.weight : S.weight, opacity: S.opacity}));
    });
    var find = gridIndex(feats), tip = L.tooltip({sticky: true, className: 'parkgis-tooltip'}), map = null, last = -1;
    function move(e) {
      var j = find(e.latlng.lng, e.latlng.lat);
      if (j < 0) { if (last >= 0) { map.closeTooltip(tip); last = -1; } return; }
      if (j !== last) { tip.setContent(table(D, D.tooltip, j)); last = j; }
      tip.setLatLng(e.latlng);
      if (!map.hasLayer(tip)) map.openTooltip(tip);
    }
    function click(e) {
      var j = find(e.latlng.lng, e.latlng.lat);
      if (j >= 0 && D.popup && D.popup.length) L.popup({maxWidth: 420}).setLatLng(e.latlng).setContent(table(D, D.popup, j)).openOn(map);
    }
    group.on('add', function () {
      map = group._map;
      if (D.tooltip && D.tooltip.length) map.on('mousemove', move);
      map.on('click', click);
    });
    group.on('remove', function () { map.off('mousemove', move); map.off('click', click); map.closeTooltip(tip); last = -1; });
    group._pgFind = find;
    group._pgTip = tip;
    group._pgHover = function (j) {
      var ft = feats[j];
      if (!ft) return null;
      var ring = ft.parts[0][0], x = 0, y = 0;
      for (var k = 0; k < ring.length; k++) { x += ring[k].lng; y += ring[k].lat; }
      var ll = L.latLng(y / ring.length, x / ring.length);
      move({latlng: ll});
      return ll;
    };
    group._pgDrawn = drawn;
    return group;
  }

  /* Build one layer (an L.FeatureGroup, not yet on the map) from its compact payload. */
  PG.layer = function (D) {
    var t0 = performance.now();
    var feats = decode(D.geom), S = D.style, renderer = PG.renderer();
    var t1 = performance.now();
    var allPolygons = feats.every(function (f) { return !f || f.t === 2; });
    if (allPolygons && (D.kind === 'parcels' || feats.length > 5000)) {
      var bulk = bulkLayer(D, feats);
      PG.timings = PG.timings || [];
      PG.timings.push({start: Math.round(t0), kind: D.kind, n: feats.length, bulk: true, decode_ms: Math.round(t1 - t0), build_ms: Math.round(performance.now() - t1)});
      bulk._pgData = D;
      PG.layers.push(bulk);
      return bulk;
    }
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
    PG.timings = PG.timings || [];
    PG.timings.push({start: Math.round(t0), kind: D.kind, n: feats.length, decode_ms: Math.round(t1 - t0), build_ms: Math.round(performance.now() - t1)});
    group._pgData = D;
    PG.layers.push(group);
    return group;
  };

  /* Called last: after the canvas has painted, report what is on the map. */
  PG.finish = function (map) {
    PG.finishCalled = performance.now();
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

  /* For tests: fire a mouseover on feature i of layer k; return the text of that layer's tooltip. */
  PG.hover = function (k, i) {
    var g = PG.layers[k], target = null, tip;
    if (g._pgHover) {
      if (!g._pgHover(i)) return null;
      tip = g._pgTip;
    } else {
      g.eachLayer(function (l) { if (l._pgi === i) target = l; });
      if (!target) return null;
      var ll = target.getCenter ? target.getCenter() : target.getLatLng();
      target.fire('mouseover', {latlng: ll, layer: target, target: target, containerPoint: PG.map.latLngToContainerPoint(ll)}, true);
      tip = g.getTooltip();
    }
    var el = tip && tip.getElement();
    return el && PG.map.hasLayer(tip) ? el.textContent : null;
  };
})();
