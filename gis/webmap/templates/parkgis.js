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
    /* parcel labels (e.g. ids) once zoomed in: only those in view, at most 400 */
    var lab = null, centres = null, minZ = D.label_min_zoom || 16;
    function refreshLabels() {
      if (!lab || !map) return;
      lab.clearLayers();
      if (map.getZoom() < minZ) return;
      if (!centres) centres = feats.map(function (ft) { return ft ? centroid(ft.parts) : null; });
      var vb = map.getBounds(), count = 0, col = D.cols[D.label];
      for (var q = 0; q < feats.length && count < 400; q++) {
        if (!centres[q] || !vb.contains(centres[q])) continue;
        var lv = value(col, q);
        if (lv === null || lv === '') continue;
        lab.addLayer(labelMarker(centres[q], lv, 'parkgis-label-parcels', PRIORITY.parcels));
        count++;
      }
    }
    if (D.label && D.cols[D.label]) { lab = L.layerGroup(); group.addLayer(lab); }
    group.on('add', function () {
      map = group._map;
      if (D.tooltip && D.tooltip.length) map.on('mousemove', move);
      map.on('click', click);
      if (lab) { map.on('zoomend moveend', refreshLabels); refreshLabels(); }
    });
    group.on('remove', function () {
      map.off('mousemove', move); map.off('click', click); map.closeTooltip(tip); last = -1;
      if (lab) { map.off('zoomend moveend', refreshLabels); lab.clearLayers(); }
    });
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
          var lm;
          if (ft.t === 1) lm = lineLabel(ft.parts.map(function (rs) { return rs[0]; }), lv, 'parkgis-label-' + D.kind, PRIORITY[D.kind] || 30, colour);
          else if (ft.t === 0) lm = labelMarker(ft.parts[0][0][0], lv, 'parkgis-label-' + D.kind + ' parkgis-label-right', PRIORITY[D.kind] || 30);
          else lm = labelMarker(centroid(ft.parts), lv, 'parkgis-label-' + D.kind, (PRIORITY[D.kind] || 30) + Math.min(9, ringArea(ft.parts) * 1e4));
          if (lm) group.addLayer(lm);
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

  /* ---- labels: HTML markers placed by PG.placeLabels (collisions hidden or offset, never under a panel) ---- */
  var PRIORITY = {centres: 50, axes: 40, zones: 30, boundary: 25, parcels: 20, place: 16, river: 14, district: 10};
  PG.PRIORITY = PRIORITY;
  function labelMarker(latlng, s, cls, priority, minZoom) {
    var span = document.createElement('span');
    span.className = 'parkgis-label parkgis-lbl ' + (cls || '');
    span.textContent = fmt(s);
    span.setAttribute('data-priority', String(priority || 0));
    if (minZoom) span.setAttribute('data-minzoom', String(minZoom));
    return L.marker(latlng, {icon: L.divIcon({className: 'parkgis-lbl-anchor', html: span, iconSize: [0, 0]}),
                             interactive: false, keyboard: false});
  }
  PG.labelMarker = labelMarker;
  function centroid(parts) {
    var best = null, bestA = -1;
    for (var p = 0; p < parts.length; p++) {
      var ring = parts[p][0], a = 0, x = 0, y = 0;
      for (var k = 0, j = ring.length - 1; k < ring.length; j = k++) {
        var f = ring[j].lng * ring[k].lat - ring[k].lng * ring[j].lat;
        a += f; x += (ring[j].lng + ring[k].lng) * f; y += (ring[j].lat + ring[k].lat) * f;
      }
      if (Math.abs(a) > bestA) { bestA = Math.abs(a); best = a ? L.latLng(y / (3 * a), x / (3 * a)) : ring[0]; }
    }
    return best;
  }
  function ringArea(parts) {
    var t = 0;
    for (var p = 0; p < parts.length; p++) {
      var ring = parts[p][0], a = 0;
      for (var k = 0, j = ring.length - 1; k < ring.length; j = k++) a += ring[j].lng * ring[k].lat - ring[k].lng * ring[j].lat;
      t += Math.abs(a) / 2;
    }
    return t;
  }
  /* a label along a line: at the middle of its longest part, rotated to the line's direction there */
  function lineLabel(lines, s, cls, priority, colour) {
    var best = null, bestLen = -1;
    lines.forEach(function (pts) {
      var P = pts.map(function (ll) { return L.CRS.EPSG3857.latLngToPoint(ll, 0); }), len = 0;
      for (var k = 1; k < P.length; k++) len += P[k].distanceTo(P[k - 1]);
      if (len > bestLen) { bestLen = len; best = {pts: pts, P: P, len: len}; }
    });
    if (!best || best.P.length < 2) return null;
    function along(frac) {
      var half = best.len * frac, acc = 0, k = 1;
      for (; k < best.P.length; k++) { var d = best.P[k].distanceTo(best.P[k - 1]); if (acc + d >= half) break; acc += d; }
      k = Math.min(k, best.P.length - 1);
      var a = best.P[k - 1], b = best.P[k], seg = a.distanceTo(b) || 1, t = Math.max(0, Math.min(1, (half - acc) / seg));
      var angle = Math.atan2(b.y - a.y, b.x - a.x) * 180 / Math.PI;
      if (angle > 90) angle -= 180; else if (angle <= -90) angle += 180;
      return {at: L.CRS.EPSG3857.pointToLatLng(L.point(a.x + (b.x - a.x) * t, a.y + (b.y - a.y) * t), 0), angle: angle};
    }
    var spots = [0.5, 0.35, 0.65, 0.2, 0.8].map(along), first = spots[0];
    var m = labelMarker(first.at, s, 'parkgis-label-along ' + (cls || ''), priority);
    var span = m.options.icon.options.html;
    span.style.setProperty('--pg-angle', first.angle.toFixed(1) + 'deg');
    span._pgSpots = spots;   /* other places along the line, tried when the middle collides */
    span._pgMarker = m;
    if (colour) span.style.color = colour;
    return m;
  }
  PG.lineLabel = lineLabel;

  function visible(el) {
    if (!el || !el.offsetParent) return false;
    var cs = getComputedStyle(el);
    return cs.visibility !== 'hidden' && cs.display !== 'none' && el.offsetWidth > 0 && el.offsetHeight > 0;
  }
  PG.PANELS = ['#parkgis-title', '#parkgis-legend', '.leaflet-control-layers', '.parkgis-north', '.leaflet-control-scale',
               '.leaflet-control-attribution', '.leaflet-control-zoom', '.leaflet-control-measure',
               '.leaflet-control-zoom-fullscreen', '.parkgis-raster-legend'];
  /* the boxes of every panel drawn over the map, in container pixels */
  PG.panels = function () {
    var map = PG.map, cr = map.getContainer().getBoundingClientRect(), out = [];
    PG.PANELS.forEach(function (sel) {
      Array.prototype.forEach.call(map.getContainer().querySelectorAll(sel), function (el) {
        if (!visible(el)) return;
        var r = el.getBoundingClientRect();
        out.push({sel: sel, x0: r.left - cr.left, y0: r.top - cr.top, x1: r.right - cr.left, y1: r.bottom - cr.top});
      });
    });
    return out;
  };
  function hits(r, list, gap) {
    gap = gap || 0;
    for (var i = 0; i < list.length; i++) {
      var o = list[i];
      if (r.x0 < o.x1 + gap && r.x1 + gap > o.x0 && r.y0 < o.y1 + gap && r.y1 + gap > o.y0) return true;
    }
    return false;
  }
  /* Place every label: highest priority first; a label that would overlap a placed label or a panel
   * is moved up or down by its height, else hidden. Runs after every zoom or move. */
  PG.placeLabels = function () {
    var map = PG.map;
    if (!map) return;
    var box = map.getContainer(), cr = box.getBoundingClientRect(), W = cr.width, H = cr.height;
    var spans = Array.prototype.slice.call(box.querySelectorAll('.parkgis-lbl'));
    var panels = PG.panels(), placed = [], z = map.getZoom(), shown = 0;
    spans.forEach(function (s) { s.style.marginTop = '0px'; s.classList.remove('parkgis-lbl-hidden'); });
    spans.sort(function (a, b) { return (+b.getAttribute('data-priority')) - (+a.getAttribute('data-priority')); });
    spans.forEach(function (s) {
      var mz = s.getAttribute('data-minzoom'), xz = s.getAttribute('data-maxzoom');
      if ((mz && z < +mz) || (xz && z > +xz)) { s.classList.add('parkgis-lbl-hidden'); return; }
      var h = s.offsetHeight + 2, ok = false, spots = s._pgSpots, steps = spots ? spots : [0, -1, 1, -2, 2];
      for (var k = 0; k < steps.length && !ok; k++) {
        if (spots) {
          s._pgMarker.setLatLng(spots[k].at);
          s.style.setProperty('--pg-angle', spots[k].angle.toFixed(1) + 'deg');
        } else s.style.marginTop = (steps[k] * h) + 'px';
        var b = s.getBoundingClientRect();
        var r = {x0: b.left - cr.left, y0: b.top - cr.top, x1: b.right - cr.left, y1: b.bottom - cr.top};
        if (r.x0 < 0 || r.y0 < 0 || r.x1 > W || r.y1 > H) continue;
        if (hits(r, panels, 2) || hits(r, placed, 1)) continue;
        placed.push(r); ok = true;
      }
      if (!ok) {
        s.style.marginTop = '0px';
        s.classList.add('parkgis-lbl-hidden');
        if (spots) { s._pgMarker.setLatLng(spots[0].at); s.style.setProperty('--pg-angle', spots[0].angle.toFixed(1) + 'deg'); }
      } else shown++;
    });
    document.documentElement.setAttribute('data-labels', String(shown));
    document.documentElement.setAttribute('data-labels-hidden', String(spans.length - shown));
  };
  var placing = false;
  PG.schedulePlace = function () {
    if (placing) return;
    placing = true;
    requestAnimationFrame(function () { placing = false; PG.placeLabels(); });
  };

  /* Fit the data into the part of the map no panel covers: each panel takes the side (top, bottom,
   * left or right band) that costs the least extra room. */
  PG.fit = function () {
    var map = PG.map, b = PG.bounds;
    if (!map || !b) return;
    var size = map.getSize(), pad = {top: 0, bottom: 0, left: 0, right: 0}, M = 16;
    var P = PG.panels().sort(function (a, c) { return (c.x1 - c.x0) * (c.y1 - c.y0) - (a.x1 - a.x0) * (a.y1 - a.y0); });
    P.forEach(function (r) {
      var need = {top: r.y1, bottom: size.y - r.y0, left: r.x1, right: size.x - r.x0};
      if (pad.top >= need.top || pad.bottom >= need.bottom || pad.left >= need.left || pad.right >= need.right) return;
      var best = null, bestCost = Infinity;
      ['top', 'bottom', 'left', 'right'].forEach(function (side) {
        var dim = (side === 'top' || side === 'bottom') ? size.y : size.x;
        var cost = (need[side] - pad[side]) / dim;
        if (cost < bestCost) { bestCost = cost; best = side; }
      });
      pad[best] = need[best];
    });
    PG.padding = pad;
    map.fitBounds(L.latLngBounds(b), {paddingTopLeft: [pad.left + M, pad.top + M],
                                     paddingBottomRight: [pad.right + M, pad.bottom + M], animate: false});
  };

  /* ---- context under the data: districts and names, rivers, places (own pane, not interactive) ---- */
  PG.context = function (map, C) {
    if (!C) return null;
    var pane = map.createPane('parkgisContext');
    pane.style.zIndex = 350;
    pane.style.pointerEvents = 'none';
    var r = L.canvas({pane: 'parkgisContext', padding: 0.5}), g = L.layerGroup(), n = 0;
    (C.districts || []).forEach(function (d) {
      var rings = d.rings.map(function (ring) { return ring.map(function (p) { return [p[1], p[0]]; }); });
      g.addLayer(L.polygon(rings, {renderer: r, pane: 'parkgisContext', interactive: false,
        color: d.lanzhou ? '#8c8c8c' : '#b4b4b4', weight: d.lanzhou ? 1.3 : 1.0, dashArray: '7 3 2 3',
        fillColor: d.lanzhou ? '#fbfaf6' : '#efeee9', fillOpacity: 1}));
      g.addLayer(labelMarker(d.label, d.name, 'parkgis-label-district', PRIORITY.district));
      n++;
    });
    (C.rivers || []).forEach(function (rv) {
      g.addLayer(L.polyline(rv.coords, {renderer: r, pane: 'parkgisContext', interactive: false, color: '#4f8fd1',
                                        weight: 4, opacity: 0.9}));
      var ll = rv.coords.map(function (c) { return L.latLng(c[0], c[1]); });
      var lm = lineLabel([ll], rv.name, 'parkgis-label-river', PRIORITY.river, '#2b6cb0');
      if (lm) g.addLayer(lm);
      n++;
    });
    (C.places || []).forEach(function (p) {
      var syms = {airport: '✈', city: '★', area: ''}, sym = (p.kind in syms) ? syms[p.kind] : '•';
      var pm = labelMarker(p.at, (sym ? sym + ' ' : '') + p.name, 'parkgis-label-place parkgis-label-place-' + p.kind, PRIORITY.place);
      if (p.kind === 'area') pm.options.icon.options.html.setAttribute('data-maxzoom', '12.5');  /* a region name, for overviews */
      g.addLayer(pm);
      n++;
    });
    g.addTo(map);
    if (C.attribution && map.attributionControl) map.attributionControl.addAttribution(C.attribution);
    PG.contextGroup = g;
    document.documentElement.setAttribute('data-context', String(n));
    return g;
  };

  /* ---- north arrow ---- */
  PG.northArrow = function (map) {
    var c = L.control({position: 'topright'});
    c.onAdd = function () {
      var d = L.DomUtil.create('div', 'parkgis-north leaflet-control');
      d.title = '北 North';
      var NS = 'http://www.w3.org/2000/svg', svg = document.createElementNS(NS, 'svg');
      svg.setAttribute('width', '34'); svg.setAttribute('height', '46'); svg.setAttribute('viewBox', '0 0 34 46');
      var t = document.createElementNS(NS, 'text');
      [['x', '17'], ['y', '12'], ['text-anchor', 'middle'], ['font-size', '12'], ['font-weight', 'bold'],
       ['font-family', 'sans-serif']].forEach(function (a) { t.setAttribute(a[0], a[1]); });
      t.textContent = 'N';
      svg.appendChild(t);
      [['M17 15 L27 43 L17 36 L7 43 Z', '#fff'], ['M17 15 L17 36 L7 43 Z', '#222']].forEach(function (p) {
        var path = document.createElementNS(NS, 'path');
        path.setAttribute('d', p[0]); path.setAttribute('fill', p[1]);
        path.setAttribute('stroke', '#222'); path.setAttribute('stroke-width', '1.2');
        svg.appendChild(path);
      });
      d.appendChild(svg);
      return d;
    };
    c.addTo(map);
    return c;
  };

  /* ---- legend: collapsible ---- */
  PG.legend = function (map) {
    var lg = document.getElementById('parkgis-legend');
    if (!lg) return;
    var btn = lg.querySelector('.parkgis-legend-toggle');
    if (btn) L.DomEvent.on(btn, 'click', function (e) {
      L.DomEvent.stop(e);
      var collapsed = lg.classList.toggle('parkgis-collapsed');
      btn.setAttribute('aria-expanded', collapsed ? 'false' : 'true');
      btn.textContent = collapsed ? '▸' : '▾';
      PG.schedulePlace();
    });
  };

  /* Called last: fit the data clear of the panels, place labels, then report what is on the map. */
  PG.finish = function (map, bounds) {
    PG.finishCalled = performance.now();
    PG.map = map;
    PG.bounds = bounds || null;
    if (map.attributionControl) map.attributionControl.setPrefix(false);
    PG.legend(map);
    PG.fit();
    map.on('zoomend moveend resize layeradd layerremove', PG.schedulePlace);
    var done = function () {
      PG.placeLabels();
      var n = 0, k = 0;
      PG.layers.forEach(function (g) { if (map.hasLayer(g)) { n += g._pgDrawn; k++; } });
      var root = document.documentElement;
      root.setAttribute('data-drawn', String(n));
      root.setAttribute('data-layers', String(k));
      root.setAttribute('data-drawn-ms', String(Math.round(performance.now())));
    };
    requestAnimationFrame(function () { requestAnimationFrame(done); });
    /* panels change size when their fonts arrive: fit and place again, unless the user has moved the map */
    var touched = false;
    map.once('dragstart', function () { touched = true; });
    L.DomEvent.on(map.getContainer(), 'wheel mousedown touchstart', function () { touched = true; });
    if (document.fonts && document.fonts.ready) document.fonts.ready.then(function () {
      if (!touched) PG.fit();
      PG.schedulePlace();
    });
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
