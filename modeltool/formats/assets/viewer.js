(function () {
'use strict';
var DATA = JSON.parse(document.getElementById('model-data').textContent);
var NS = 'http://www.w3.org/2000/svg';
var M = DATA.metrics;
var expanded = new Set(DATA.expanded || []);
var svg = document.getElementById('graph');
if (!svg || !DATA.levels['']) { return; }
var viewport = document.getElementById('viewport');
var view = {x: 0, y: 0, k: 1};
var matches = [], matchIndex = 0, selected = null, current = null;

function clone(level) {
  return {rankdir: level.rankdir, w: level.w, h: level.h,
    bands: level.bands.map(function (b) { return b.slice(); }),
    boxes: level.boxes.map(function (b) {
      return {id: b.id, x: b.x, y: b.y, w: b.w, h: b.h, rank: b.rank, inner: null}; }),
    routes: level.routes.map(function (r) {
      return {s: r.s, t: r.t, sp: r.sp, tp: r.tp,
              pts: r.pts.map(function (p) { return p.slice(); })}; })};
}
function index(L) {
  var idx = {}; L.boxes.forEach(function (b) { idx[b.id] = b; }); return idx;
}
function attach(L, r, idx) {
  var s = idx[r.s], t = idx[r.t], end = L.bands[s.rank][1], mid = r.pts.slice(2, -1), head, tail;
  if (L.rankdir === 'LR') {
    var sc = s.y + s.h * r.sp, tc = t.y + t.h * r.tp;
    head = [[s.x + s.w, sc], [end, sc]]; tail = [[t.x, tc]];
  } else {
    var sc2 = s.x + s.w * r.sp, tc2 = t.x + t.w * r.tp;
    head = [[sc2, s.y + s.h], [sc2, end]]; tail = [[tc2, t.y]];
  }
  r.pts = head.concat(mid, tail);
}
function translate(L, dx, dy) {
  L.boxes.forEach(function (b) { shift(b, dx, dy); });
  L.routes.forEach(function (r) { r.pts = r.pts.map(function (p) { return [p[0] + dx, p[1] + dy]; }); });
  var da = L.rankdir === 'LR' ? dx : dy;
  L.bands = L.bands.map(function (b) { return [b[0] + da, b[1] + da]; });
}
function shift(b, dx, dy) {
  b.x += dx; b.y += dy; if (b.inner) { translate(b.inner, dx, dy); }
}
// The same growth as modeltool.graph.nesting.expand.
function expand(L, box, inner) {
  var horiz = L.rankdir === 'LR';
  var newW = Math.max(inner.w + 2 * M.pad, box.w);
  var newH = Math.max(inner.h + 2 * M.pad + M.title, box.h);
  var newAlong = horiz ? newW : newH, newAcross = horiz ? newH : newW;
  var oldAcross = horiz ? box.h : box.w;
  var bandEnd = L.bands[box.rank][1];
  var startAlong = horiz ? box.x : box.y;
  var growAlong = Math.max(0, startAlong + newAlong - bandEnd);
  var growAcross = newAcross - oldAcross;
  var centre = horiz ? box.y + box.h / 2 : box.x + box.w / 2;
  function moveC(c) {
    if (c > centre + 1e-9) { return c + growAcross / 2; }
    if (c < centre - 1e-9) { return c - growAcross / 2; }
    return c;
  }
  function moveA(a) { return a >= bandEnd - 1e-9 ? a + growAlong : a; }
  L.boxes.forEach(function (o) {
    if (o === box) { return; }
    var da = o.rank > box.rank ? growAlong : 0;
    if (horiz) { var cy = o.y + o.h / 2; shift(o, da, moveC(cy) - cy); }
    else { var cx = o.x + o.w / 2; shift(o, moveC(cx) - cx, da); }
  });
  L.routes.forEach(function (r) {
    var mid = r.pts.slice(2, -1).map(function (p) {
      return horiz ? [moveA(p[0]), moveC(p[1])] : [moveC(p[0]), moveA(p[1])]; });
    r.pts = r.pts.slice(0, 2).concat(mid, r.pts.slice(-1));
  });
  if (horiz) { box.y -= growAcross / 2; } else { box.x -= growAcross / 2; }
  box.w = newW; box.h = newH;
  L.bands = L.bands.map(function (b, r) {
    if (r === box.rank) { return [b[0], b[1] + growAlong]; }
    if (r > box.rank) { return [b[0] + growAlong, b[1] + growAlong]; }
    return b;
  });
  var idx = index(L);
  L.routes.forEach(function (r) { attach(L, r, idx); });
  translate(inner, box.x + (box.w - inner.w) / 2, box.y + M.pad + M.title);
  box.inner = inner;
  refit(L);
}
function refit(L) {
  var horiz = L.rankdir === 'LR', low = Infinity, high = -Infinity;
  L.boxes.forEach(function (b) {
    var a = horiz ? b.y : b.x, e = horiz ? b.y + b.h : b.x + b.w;
    low = Math.min(low, a); high = Math.max(high, e); });
  L.routes.forEach(function (r) { r.pts.forEach(function (p) {
    var c = horiz ? p[1] : p[0]; low = Math.min(low, c); high = Math.max(high, c); }); });
  if (!isFinite(low)) { return; }
  if (low !== 0) { translate(L, horiz ? 0 : -low, horiz ? -low : 0); high -= low; }
  var length = L.bands.length ? L.bands[L.bands.length - 1][1] : 0;
  if (horiz) { L.w = length; L.h = high; } else { L.w = high; L.h = length; }
}
function compose(levelId) {
  var L = clone(DATA.levels[levelId]);
  L.boxes.slice().forEach(function (b) {
    var n = DATA.nodes[b.id];
    if (n && n.inner && expanded.has(b.id) && DATA.levels[b.id]) { expand(L, b, compose(b.id)); }
  });
  return L;
}
function el(name, attrs, parent) {
  var e = document.createElementNS(NS, name);
  for (var k in attrs) { e.setAttribute(k, attrs[k]); }
  if (parent) { parent.appendChild(e); }
  return e;
}
function text(parent, x, y, value, cls) {
  var t = el('text', {x: x.toFixed(1), y: y.toFixed(1)}, parent);
  if (cls) { t.setAttribute('class', cls); }
  t.textContent = value; return t;
}
function drawLevel(L, parent) {
  L.routes.forEach(function (r) {
    el('path', {'class': 'edge', 'data-source': r.s, 'data-target': r.t, 'marker-end': 'url(#arrow)',
      d: 'M' + r.pts.map(function (p) { return p[0].toFixed(1) + ',' + p[1].toFixed(1); }).join(' L')},
      parent);
  });
  L.boxes.forEach(function (b) {
    var n = DATA.nodes[b.id];
    if (b.inner) {
      var g = el('g', {'class': 'nest', 'data-id': b.id}, parent);
      el('rect', {x: b.x, y: b.y, width: b.w, height: b.h, rx: 6}, g);
      var t = text(g, b.x + M.pad + 16, b.y + M.pad + 12, n.name + ' (' + n.cls + ')');
      var tg = text(g, b.x + M.pad, b.y + M.pad + 12, '\u2212', 'toggle');
      tg.setAttribute('data-id', b.id);
      t.setAttribute('data-id', b.id);
      drawLevel(b.inner, g);
      return;
    }
    var cls = 'node ' + n.kind + ' ' + n.fam + (n.trainable ? '' : ' frozen');
    var g2 = el('g', {'class': cls, 'data-id': b.id, 'data-kind': n.kind}, parent);
    el('rect', {x: b.x, y: b.y, width: b.w, height: b.h,
      rx: (n.kind === 'input' || n.kind === 'output') ? 12 : 3, fill: n.fill}, g2);
    n.lines.forEach(function (line, i) {
      text(g2, b.x + M.padX, b.y + M.padY + i * M.line + M.font, line, i === 0 ? 'title' : '');
    });
    if (n.inner) {
      var tg2 = text(g2, b.x + b.w - 16, b.y + M.padY + M.font, '+', 'toggle');
      tg2.setAttribute('data-id', b.id);
    }
  });
}
function redraw() {
  current = compose('');
  while (viewport.firstChild) { viewport.removeChild(viewport.firstChild); }
  drawLevel(current, viewport);
  mark();
}
function apply() {
  viewport.setAttribute('transform', 'translate(' + view.x + ',' + view.y + ') scale(' + view.k + ')');
}
function fit() {
  var r = svg.getBoundingClientRect(), pad = 16;
  var k = Math.min((r.width - 2 * pad) / Math.max(current.w, 1), (r.height - 2 * pad) / Math.max(current.h, 1));
  k = Math.max(0.02, Math.min(k, 1.5));
  view.k = k; view.x = (r.width - current.w * k) / 2; view.y = pad; apply();
}
// A big model shrunk to fit is a grey smear: start readable at the top instead.
function start() {
  var r = svg.getBoundingClientRect(), pad = 16;
  var k = Math.min((r.width - 2 * pad) / Math.max(current.w, 1), (r.height - 2 * pad) / Math.max(current.h, 1));
  if (k >= 0.35) { fit(); return; }
  view.k = Math.min(0.8, Math.max(0.35, (r.width - 2 * pad) / Math.max(current.w, 1)));
  var first = current.boxes.filter(function (b) { return b.rank === 0; })[0];
  var cx = current.w * view.k <= r.width ? current.w / 2 : (first ? first.x + first.w / 2 : 0);
  view.x = r.width / 2 - cx * view.k; view.y = pad; apply();
}
function boxOf(id) {
  var found = null;
  (function walk(L) { L.boxes.forEach(function (b) {
    if (b.id === id) { found = b; } if (b.inner) { walk(b.inner); } }); })(current);
  return found;
}
function centreOn(id) {
  var b = boxOf(id); if (!b) { return; }
  var r = svg.getBoundingClientRect();
  if (view.k < 0.6) { view.k = 0.9; }
  view.x = r.width / 2 - (b.x + b.w / 2) * view.k;
  view.y = r.height / 2 - (b.y + b.h / 2) * view.k; apply();
}
function mark() {
  var set = new Set(matches);
  viewport.querySelectorAll('g.node').forEach(function (g) {
    var id = g.getAttribute('data-id');
    g.classList.toggle('match', set.has(id));
    g.classList.toggle('selected', id === selected);
  });
}
function openAncestors(id) {
  var changed = false, p = DATA.nodes[id] && DATA.nodes[id].parent;
  while (p) { if (!expanded.has(p)) { expanded.add(p); changed = true; } p = DATA.nodes[p].parent; }
  return changed;
}
function search(query) {
  var q = query.trim().toLowerCase();
  matches = [];
  if (q) {
    Object.keys(DATA.nodes).forEach(function (id) {
      var n = DATA.nodes[id];
      if (n.name.toLowerCase().indexOf(q) >= 0 || n.cls.toLowerCase() === q) { matches.push(id); }
    });
  }
  var changed = false;
  matches.forEach(function (id) { changed = openAncestors(id) || changed; });
  if (changed) { redraw(); } else { mark(); }
  matchIndex = 0;
  document.getElementById('search-count').textContent = q ? matches.length + ' found' : '';
  if (matches.length) { centreOn(matches[0]); }
}
function toggle(id) {
  if (expanded.has(id)) {
    expanded.delete(id);
    Object.keys(DATA.nodes).forEach(function (k) {
      var p = DATA.nodes[k].parent;
      while (p) { if (p === id) { expanded.delete(k); } p = DATA.nodes[p].parent; }
    });
  } else { expanded.add(id); }
  redraw();
}
function fmt(v) { return v === null || v === undefined ? '?' : Number(v).toLocaleString('en'); }
function hist(counts) {
  var top = Math.max.apply(null, counts.concat([0])); if (!top) { return null; }
  var s = el('svg', {'class': 'hist', width: 120, height: 26, viewBox: '0 0 120 26'});
  var w = 120 / counts.length;
  counts.forEach(function (c, i) { if (c) { el('rect', {x: i * w, y: 26 - c / top * 26, width: w * 0.9, height: c / top * 26}, s); } });
  return s;
}
function row(table, key, value) {
  var tr = document.createElement('tr'), a = document.createElement('td'), b = document.createElement('td');
  a.textContent = key; if (typeof value === 'string') { b.textContent = value; } else { b.appendChild(value); }
  tr.appendChild(a); tr.appendChild(b); table.appendChild(tr);
}
function details(id) {
  var n = DATA.nodes[id], d = document.getElementById('details'); if (!n || !d) { return; }
  d.textContent = '';
  var h = document.createElement('h3'); h.textContent = n.name + ' (' + n.cls + ')'; d.appendChild(h);
  var t = document.createElement('table'); d.appendChild(t);
  row(t, 'path', n.path + (n.node ? ' (call #' + n.node + ')' : ''));
  if (n.ins.length) { row(t, 'input', n.ins.join(', ')); }
  row(t, 'output', n.outs.join(', '));
  if (n.kind === 'layer' || n.kind === 'model') {
    row(t, 'params', n.shared ? 'shared (counted on call #0)' : fmt(n.params));
    row(t, 'trainable', n.trainable ? 'yes' : 'no');
  }
  if (n.macs !== null && n.macs !== undefined) { row(t, 'MACs', fmt(n.macs)); }
  if (n.dtype) { row(t, 'dtype', n.dtype); }
  Object.keys(n.attrs || {}).forEach(function (k) { row(t, k, n.attrs[k]); });
  var ws = (DATA.weights || {})[n.path] || [];
  if (ws.length) {
    var h4 = document.createElement('h4'); h4.textContent = 'Weights'; d.appendChild(h4);
    var wt = document.createElement('table'); wt.className = 'weights'; d.appendChild(wt);
    ws.forEach(function (w) {
      var line = w.name + ' ' + JSON.stringify(w.shape) + ' ' + w.dtype;
      var stats = w.error ? w.error : ('min ' + w.min + ' max ' + w.max + ' mean ' + w.mean + ' std ' + w.std
        + (w.nan || w.inf ? ' NaN ' + w.nan + ' Inf ' + w.inf : ''));
      var cell = document.createElement('div'); cell.textContent = stats;
      var hs = w.hist && w.hist.length ? hist(w.hist) : null; if (hs) { cell.appendChild(hs); }
      row(wt, line, cell);
    });
  }
  if (n.config) {
    var h5 = document.createElement('h4'); h5.textContent = 'Config'; d.appendChild(h5);
    var pre = document.createElement('pre'); pre.textContent = n.config; d.appendChild(pre);
  }
}
svg.addEventListener('click', function (e) {
  var tg = e.target.closest('.toggle');
  if (tg) { toggle(tg.getAttribute('data-id')); e.stopPropagation(); return; }
  var g = e.target.closest('g.node');
  if (g) { selected = g.getAttribute('data-id'); mark(); details(selected); }
});
svg.addEventListener('dblclick', function (e) {
  var g = e.target.closest('g.node, g.nest');
  if (g && DATA.nodes[g.getAttribute('data-id')].inner) { toggle(g.getAttribute('data-id')); }
});
var drag = null;
svg.addEventListener('mousedown', function (e) { drag = {x: e.clientX - view.x, y: e.clientY - view.y}; });
window.addEventListener('mousemove', function (e) {
  if (drag) { view.x = e.clientX - drag.x; view.y = e.clientY - drag.y; apply(); } });
window.addEventListener('mouseup', function () { drag = null; });
svg.addEventListener('wheel', function (e) {
  e.preventDefault();
  var r = svg.getBoundingClientRect(), mx = e.clientX - r.left, my = e.clientY - r.top;
  var k = Math.max(0.02, Math.min(8, view.k * Math.exp(-e.deltaY * 0.0015)));
  view.x = mx - (mx - view.x) * k / view.k; view.y = my - (my - view.y) * k / view.k; view.k = k; apply();
}, {passive: false});
function zoom(f) {
  var r = svg.getBoundingClientRect(), k = Math.max(0.02, Math.min(8, view.k * f));
  view.x = r.width / 2 - (r.width / 2 - view.x) * k / view.k;
  view.y = r.height / 2 - (r.height / 2 - view.y) * k / view.k; view.k = k; apply();
}
document.getElementById('fit').addEventListener('click', function () { fit(); });
document.getElementById('zoom-in').addEventListener('click', function () { zoom(1.25); });
document.getElementById('zoom-out').addEventListener('click', function () { zoom(0.8); });
document.getElementById('expand-all').addEventListener('click', function () {
  Object.keys(DATA.nodes).forEach(function (id) { if (DATA.nodes[id].inner) { expanded.add(id); } });
  redraw(); fit(); });
document.getElementById('collapse-all').addEventListener('click', function () {
  expanded.clear(); redraw(); fit(); });
var input = document.getElementById('search');
input.addEventListener('input', function () { search(input.value); });
input.addEventListener('keydown', function (e) {
  if (e.key === 'Enter' && matches.length) {
    matchIndex = (matchIndex + 1) % matches.length; centreOn(matches[matchIndex]); }
});
redraw(); start();
window.addEventListener('resize', function () { start(); });
})();
