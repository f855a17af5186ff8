// The drawing page. The network runs in Python: this script only draws, posts the
// canvas as a PNG to /api/predict while the digit is being drawn, and shows the answer.
"use strict";

const PREDICT = new URL("/api/predict", location.href).href;
const pad = document.getElementById("pad");
const pen = pad.getContext("2d");
const field = document.getElementById("field");
const layer = document.getElementById("layer");
const label = document.getElementById("label");
const status = document.getElementById("status");
const bars = document.getElementById("bars");
const state = { drawing: false, last: null, ink: false, inFlight: false, dirty: false, classes: [] };

// What a test (or a curious reader) can look at: every answer's times, the last label.
window.funcnet = { answers: [], label: null, busy: false, errors: [] };

function clearPad() {
  pen.fillStyle = "#000";
  pen.fillRect(0, 0, pad.width, pad.height);
  state.ink = false;
  label.textContent = "–";
  label.dataset.label = "";
  window.funcnet.label = null;
  showBars(state.classes.map(() => 0));
  field.getContext("2d").clearRect(0, 0, field.width, field.height);
  layer.getContext("2d").clearRect(0, 0, layer.width, layer.height);
  status.textContent = "draw a digit with the mouse or a finger";
}

function point(e) {
  const r = pad.getBoundingClientRect();
  return [(e.clientX - r.left) * pad.width / r.width, (e.clientY - r.top) * pad.height / r.height];
}

function dot(p) {
  pen.fillStyle = "#fff";
  pen.beginPath();
  pen.arc(p[0], p[1], 10, 0, 2 * Math.PI);
  pen.fill();
  state.ink = true;
}

function stroke(a, b) {
  pen.strokeStyle = "#fff";
  pen.lineWidth = 20;
  pen.lineCap = "round";
  pen.lineJoin = "round";
  pen.beginPath();
  pen.moveTo(a[0], a[1]);
  pen.lineTo(b[0], b[1]);
  pen.stroke();
  state.ink = true;
}

pad.addEventListener("pointerdown", (e) => {
  e.preventDefault();
  pad.setPointerCapture(e.pointerId);
  state.drawing = true;
  state.last = point(e);
  dot(state.last);
  ask();
});
pad.addEventListener("pointermove", (e) => {
  if (!state.drawing) return;
  e.preventDefault();
  const p = point(e);
  stroke(state.last, p);
  state.last = p;
  ask();
});
for (const type of ["pointerup", "pointercancel"]) {
  pad.addEventListener(type, () => {
    if (!state.drawing) return;
    state.drawing = false;
    ask();
  });
}
document.getElementById("clear").addEventListener("click", clearPad);

// One request at a time; strokes drawn meanwhile are sent as soon as it returns.
function ask() {
  if (!state.ink) return;
  if (state.inFlight) { state.dirty = true; return; }
  state.inFlight = true;
  window.funcnet.busy = true;
  pad.toBlob(send, "image/png");
}

async function send(blob) {
  const start = performance.now();
  try {
    const response = await fetch(PREDICT, { method: "POST", headers: { "Content-Type": "image/png" }, body: blob });
    const body = await response.json();
    if (!response.ok) throw new Error(body.error || response.statusText);
    if (state.ink) show(body);
    record(start);
  } catch (err) {
    window.funcnet.errors.push(String(err.message || err));
    status.textContent = String(err.message || err);
  } finally {
    state.inFlight = false;
    if (state.dirty) { state.dirty = false; ask(); } else { window.funcnet.busy = false; }
  }
}

// The fetch's own time from the browser's resource timing, and the time until shown.
function record(start) {
  const entries = performance.getEntriesByName(PREDICT);
  const fetchMs = entries.length ? entries[entries.length - 1].duration : NaN;
  performance.clearResourceTimings();
  const shownMs = performance.now() - start;
  window.funcnet.answers.push({ fetch: fetchMs, shown: shownMs });
  status.textContent = `answered in ${Math.round(isNaN(fetchMs) ? shownMs : fetchMs)} ms`;
}

function show(body) {
  label.textContent = body.name;
  label.dataset.label = String(body.label);
  window.funcnet.label = body.label;
  showBars(body.probs);
  showField(body.field, body.side);
  showLayer(body.layer.values, body.layer.shape, body.layer.of);
}

function showBars(probs) {
  const top = probs.indexOf(Math.max(...probs));
  probs.forEach((p, k) => {
    const row = bars.children[3 * k + 1];
    if (!row) return;
    row.classList.toggle("top", k === top && p > 0);
    row.firstChild.style.width = `${(100 * p).toFixed(1)}%`;
    bars.children[3 * k + 2].textContent = `${(100 * p).toFixed(1)}%`;
  });
}

function makeBars(classes) {
  bars.replaceChildren();
  for (const name of classes) {
    const head = document.createElement("span");
    head.textContent = name;
    const bar = document.createElement("div");
    bar.className = "bar";
    bar.appendChild(document.createElement("div"));
    const pct = document.createElement("span");
    pct.className = "pct";
    pct.textContent = "0.0%";
    bars.append(head, bar, pct);
  }
}

function showField(values, side) {
  field.width = field.height = side;
  const ctx = field.getContext("2d");
  const img = ctx.createImageData(side, side);
  values.forEach((v, i) => {
    const g = Math.round(255 * v);
    img.data.set([g, g, g, 255], 4 * i);
  });
  ctx.putImageData(img, 0, 0);
}

// Orange for positive activations, blue for negative, grey for 0, scaled by the largest |a|.
function shade(v, scale) {
  const t = Math.min(1, Math.abs(v) / scale);
  const [r, g, b] = v >= 0 ? [196, 80, 27] : [50, 100, 180];
  return [236 + (r - 236) * t, 236 + (g - 236) * t, 236 + (b - 236) * t].map(Math.round);
}

// Hidden units (shape [n]) as a grid of cells; feature maps (shape [H, W, C]) as C tiles.
// `of` names the network shown when it is one of several (an ensemble's first member).
function showLayer(values, shape, of) {
  const maps = shape.length === 3 ? shape[2] : 1;
  const [h, w] = shape.length === 3 ? [shape[0], shape[1]] : gridOf(shape[0] || values.length);
  const cols = maps === 1 ? 1 : Math.ceil(Math.sqrt(maps * 2)), rows = Math.ceil(maps / cols);
  const cell = Math.max(2, Math.floor(256 / (cols * (w + 1))));
  layer.width = cols * (w + 1) * cell;
  layer.height = rows * (h + 1) * cell;
  const ctx = layer.getContext("2d");
  const scale = Math.max(1e-6, ...values.map(Math.abs));
  ctx.clearRect(0, 0, layer.width, layer.height);
  values.forEach((v, i) => {
    const [unit, map] = shape.length === 3 ? [Math.floor(i / maps), i % maps] : [i, 0];
    const x = (map % cols) * (w + 1) + (unit % w), y = Math.floor(map / cols) * (h + 1) + Math.floor(unit / w);
    ctx.fillStyle = `rgb(${shade(v, scale).join(",")})`;
    ctx.fillRect(x * cell, y * cell, cell - (cell > 3 ? 1 : 0), cell - (cell > 3 ? 1 : 0));
  });
  const title = of ? `first layer of ${of}` : "first layer";
  document.getElementById("layer-title").textContent =
    shape.length === 3 ? `${title}: ${maps} feature maps` : `${title}: ${values.length} units`;
}

function gridOf(n) {
  const w = Math.ceil(Math.sqrt(2 * n));
  return [Math.ceil(n / w), w];
}

fetch("/api/model").then((r) => r.json()).then((about) => {
  state.classes = about.classes;
  makeBars(about.classes);
  document.getElementById("model").textContent =
    `model: ${about.model} (${about.network}); the network runs in Python on the server`;
  clearPad();
});
clearPad();
