// tablelog web viewer: the only script, optional. Pages work without it.
// - a "Copy" button beside each Python snippet;
// - the overlay controls of a table page: box and mask sets and classes shown or
//   hidden, a minimum score per score name, on every image of the page;
// - an image with overlays opens full size (the same SVG, enlarged) on click or Enter;
// - point clouds (.pts.json) drawn on a canvas, turned by dragging.
"use strict";

function setUpCopyButtons() {
  for (const button of document.querySelectorAll("button[data-copy]")) {
    const target = document.getElementById(button.dataset.copy);
    if (!target || !navigator.clipboard) continue;
    button.hidden = false;
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(target.textContent);
        button.textContent = "Copied";
      } catch (err) {
        button.textContent = "Copy failed";
      }
    });
  }
}

// -- overlays ---------------------------------------------------------------------------

function overlayState(panel) {
  const sets = new Set();
  const classes = new Set();
  for (const box of panel.querySelectorAll("input[type=checkbox][data-set]")) {
    if (!box.checked) continue;
    if (box.dataset.class === undefined) sets.add(box.dataset.set);
    else classes.add(box.dataset.set + "\u0000" + box.dataset.class);
  }
  const minScores = {};
  for (const slider of panel.querySelectorAll("input[type=range][data-score]")) {
    minScores[slider.dataset.score] = parseFloat(slider.value);
    slider.nextElementSibling.textContent = slider.value;
  }
  return { sets, classes, minScores };
}

function layerShown(layer, state) {
  if (!state.sets.has(layer.dataset.set)) return false;
  const cls = layer.dataset.class;
  if (cls !== "" && !state.classes.has(layer.dataset.set + "\u0000" + cls)) return false;
  const scores = JSON.parse(layer.dataset.scores || "{}");
  for (const [name, min] of Object.entries(state.minScores)) {
    if (name in scores && scores[name] < min) return false;
  }
  return true;
}

function applyOverlays(panel) {
  const state = overlayState(panel);
  for (const layer of document.querySelectorAll("svg.overlaid [data-set]")) {
    layer.classList.toggle("off", !layerShown(layer, state));
  }
}

function setUpOverlays() {
  const panel = document.getElementById("overlay-controls");
  if (panel) {
    panel.addEventListener("input", () => applyOverlays(panel));
    applyOverlays(panel);
  }
  for (const figure of document.querySelectorAll("figure.with-overlays")) {
    const toggle = () => figure.classList.toggle("expanded");
    figure.addEventListener("click", toggle);
    figure.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || (event.key === "Escape" &&
                                    figure.classList.contains("expanded"))) toggle();
    });
  }
}

// -- point clouds -----------------------------------------------------------------------

const CATEGORY_COLORS = ["#888", "#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4",
  "#42d4f4", "#f032e6", "#bfef45", "#469990", "#9a6324", "#800000", "#808000", "#000075",
  "#a9a9a9"];

function pointColor(p) {
  if (p.length >= 6) {
    const c = p.slice(3, 6).map((v) => Math.max(0, Math.min(255, Math.round(v))));
    return `rgb(${c[0]},${c[1]},${c[2]})`;
  }
  if (p.length === 4) return CATEGORY_COLORS[Math.abs(Math.round(p[3])) % 15];
  return null;  // by depth
}

function drawCloud(canvas, scene, yaw, pitch) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width;
  const h = canvas.height;
  ctx.fillStyle = "#11141a";
  ctx.fillRect(0, 0, w, h);
  const cy = Math.cos(yaw), sy = Math.sin(yaw), cp = Math.cos(pitch), sp = Math.sin(pitch);
  const project = (x, y, z) => {
    const x1 = cy * x - sy * y;
    const y1 = sy * x + cy * y;
    return [x1, cp * z - sp * y1, sp * z + cp * y1];
  };
  const { points, center, radius } = scene;
  const scale = (0.45 * Math.min(w, h)) / radius;
  const projected = [];
  for (const p of points) {
    if (p[0] === null || p[1] === null || p[2] === null) continue;
    const [u, v, d] = project(p[0] - center[0], p[1] - center[1], p[2] - center[2]);
    projected.push([u, v, d, p]);
  }
  projected.sort((a, b) => b[2] - a[2]);
  for (const [u, v, d, p] of projected) {
    const shade = Math.round(120 + 120 * (0.5 - d / (2 * radius)));
    ctx.fillStyle = pointColor(p) || `rgb(${shade},${shade},255)`;
    ctx.fillRect(w / 2 + u * scale, h / 2 - v * scale, 2, 2);
  }
  for (const box of scene.boxes) {
    const c = box.corners.map((q) => project(q[0] - center[0], q[1] - center[1],
                                             q[2] - center[2]));
    const rgb = (box.color || [1, 1, 0]).map((v) => Math.round(255 * (v > 1 ? v / 255 : v)));
    ctx.strokeStyle = `rgb(${rgb[0]},${rgb[1]},${rgb[2]})`;
    ctx.beginPath();
    for (let i = 0; i < 8; i++) {
      for (const bit of [1, 2, 4]) {
        const j = i ^ bit;
        if (j < i) continue;
        ctx.moveTo(w / 2 + c[i][0] * scale, h / 2 - c[i][1] * scale);
        ctx.lineTo(w / 2 + c[j][0] * scale, h / 2 - c[j][1] * scale);
      }
    }
    ctx.stroke();
  }
}

function sceneOf(json) {
  const points = Array.isArray(json) ? json : (json.points || []);
  const boxes = Array.isArray(json) ? [] : (json.boxes || []);
  const lo = [Infinity, Infinity, Infinity];
  const hi = [-Infinity, -Infinity, -Infinity];
  for (const p of points) {
    for (let k = 0; k < 3; k++) {
      if (p[k] === null) continue;
      lo[k] = Math.min(lo[k], p[k]);
      hi[k] = Math.max(hi[k], p[k]);
    }
  }
  const center = lo.map((v, k) => (isFinite(v) ? (v + hi[k]) / 2 : 0));
  const radius = Math.max(1e-9, ...lo.map((v, k) => (isFinite(v) ? (hi[k] - v) / 2 : 0)));
  return { points, boxes, center, radius };
}

async function setUpPointCloud(canvas) {
  let scene;
  try {
    const response = await fetch(canvas.dataset.src, { credentials: "same-origin" });
    scene = sceneOf(await response.json());
  } catch (err) {
    canvas.title = `could not draw the point cloud: ${err}`;
    return;
  }
  let yaw = 0.6, pitch = 0.5, dragging = null;
  const redraw = () => drawCloud(canvas, scene, yaw, pitch);
  canvas.addEventListener("pointerdown", (e) => {
    dragging = [e.clientX, e.clientY];
    canvas.setPointerCapture(e.pointerId);
  });
  canvas.addEventListener("pointerup", () => { dragging = null; });
  canvas.addEventListener("pointermove", (e) => {
    if (!dragging) return;
    yaw += (e.clientX - dragging[0]) / 80;
    pitch = Math.max(-1.5, Math.min(1.5, pitch + (e.clientY - dragging[1]) / 80));
    dragging = [e.clientX, e.clientY];
    redraw();
  });
  redraw();
  canvas.dataset.drawn = String(scene.points.length);
}

document.addEventListener("DOMContentLoaded", () => {
  setUpCopyButtons();
  setUpOverlays();
  for (const canvas of document.querySelectorAll("canvas.points[data-src]")) {
    setUpPointCloud(canvas);
  }
});
