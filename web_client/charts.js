// Canvas charts of our own (no library): time series with phase bands and a cursor, and the bar
// path (horizontal displacement against height, equal scales so the path's shape is true).
// Canvases are sized to their CSS box times devicePixelRatio so lines stay sharp on phones.

export const PHASE_COLORS = {
  setup: '#6b7a8f',
  first_pull: '#3a86ff',
  transition: '#8338ec',
  second_pull: '#ff006e',
  turnover: '#fb5607',
  catch: '#ffbe0b',
  recovery: '#2ec4b6',
  jerk_dip: '#4cc9f0',
  jerk_drive: '#f72585',
  jerk_catch: '#b5e48c',
  jerk_recovery: '#90a955',
};
export const SERIES_COLORS = ['#4cc9f0', '#ffbe0b', '#ff5d8f', '#9bf6a0', '#c77dff'];
const AXIS = '#9aa8b8';
const GRID = 'rgba(154, 168, 184, 0.18)';
const FONT = '12px system-ui, sans-serif';

export function phaseColor(name) {
  return PHASE_COLORS[name] || '#888888';
}

/** Round step for about `count` ticks over `range`. */
export function niceStep(range, count = 5) {
  if (!(range > 0)) return 1;
  const raw = range / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const nice = norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10;
  return nice * mag;
}

function ticks(lo, hi, count) {
  const step = niceStep(hi - lo, count);
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  }
  return { values: out, step };
}

function label(v, step) {
  const places = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return v.toFixed(Math.min(places, 3));
}

/** Size the canvas backing store to its box; returns [ctx, cssWidth, cssHeight]. */
function prepare(canvas) {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(1, canvas.clientWidth);
  const hgt = Math.max(1, canvas.clientHeight);
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(hgt * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(hgt * dpr);
  }
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, hgt);
  ctx.font = FONT;
  return [ctx, w, hgt];
}

function finiteRange(arrays) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const a of arrays) {
    for (const v of a) {
      if (Number.isFinite(v)) {
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
  }
  if (lo === Infinity) return null;
  if (hi - lo < 1e-9) return [lo - 1, hi + 1];
  const pad = (hi - lo) * 0.06;
  return [lo - pad, hi + pad];
}

/**
 * A time-series chart. spec: {series: [{label, t: number[] (s), v: number[] (display units,
 * NaN = gap), color}], unit, bands: [{name, start, end}] (s), xRange: [t0, t1] (s)}.
 * Returns {draw(), setCursor(t), timeAt(clientX), points}; points counts the drawn samples.
 */
export function timeChart(canvas, spec) {
  const margin = { left: 52, right: 10, top: 18, bottom: 24 };
  let cursor = null;
  let geometry = null;
  const chart = { points: 0 };

  chart.draw = () => {
    const [ctx, w, hgt] = prepare(canvas);
    const plotW = w - margin.left - margin.right;
    const plotH = hgt - margin.top - margin.bottom;
    const [t0, t1] = spec.xRange;
    const visible = (s) => s.v.map((v, k) => (s.t[k] >= t0 && s.t[k] <= t1 ? v : NaN));
    const yr = finiteRange(spec.series.map(visible));
    geometry = { t0, t1, plotW };
    const x = (t) => margin.left + ((t - t0) / (t1 - t0 || 1)) * plotW;
    // Phase bands behind everything, labelled where there is room.
    for (const band of spec.bands || []) {
      const xa = Math.max(margin.left, x(band.start));
      const xb = Math.min(margin.left + plotW, x(band.end));
      if (xb <= xa) continue;
      ctx.fillStyle = phaseColor(band.name);
      ctx.globalAlpha = 0.16;
      ctx.fillRect(xa, margin.top, xb - xa, plotH);
      ctx.globalAlpha = 1;
      const text = band.name.replace(/_/g, ' ');
      if (ctx.measureText(text).width + 4 < xb - xa) {
        ctx.fillStyle = phaseColor(band.name);
        ctx.fillText(text, xa + 2, margin.top - 5);
      }
    }
    ctx.strokeStyle = AXIS;
    ctx.strokeRect(margin.left, margin.top, plotW, plotH);
    ctx.fillStyle = AXIS;
    const xt = ticks(t0, t1, Math.max(2, Math.floor(plotW / 70)));
    ctx.textAlign = 'center';
    for (const v of xt.values) ctx.fillText(`${label(v, xt.step)} s`, x(v), hgt - 6);
    if (!yr) {
      ctx.textAlign = 'center';
      ctx.fillText('no data', margin.left + plotW / 2, margin.top + plotH / 2);
      chart.points = 0;
      canvas.dataset.points = '0';
      return;
    }
    const [ylo, yhi] = yr;
    const y = (v) => margin.top + plotH - ((v - ylo) / (yhi - ylo)) * plotH;
    const yt = ticks(ylo, yhi, Math.max(2, Math.floor(plotH / 40)));
    ctx.textAlign = 'right';
    for (const v of yt.values) {
      ctx.fillStyle = AXIS;
      ctx.fillText(label(v, yt.step), margin.left - 4, y(v) + 4);
      ctx.strokeStyle = v === 0 ? AXIS : GRID;
      ctx.beginPath();
      ctx.moveTo(margin.left, y(v));
      ctx.lineTo(margin.left + plotW, y(v));
      ctx.stroke();
    }
    ctx.textAlign = 'left';
    ctx.fillStyle = AXIS;
    ctx.fillText(spec.unit || '', 4, 12);
    let points = 0;
    ctx.save();
    ctx.beginPath();
    ctx.rect(margin.left, margin.top, plotW, plotH);
    ctx.clip();
    spec.series.forEach((s, i) => {
      ctx.strokeStyle = s.color || SERIES_COLORS[i % SERIES_COLORS.length];
      ctx.lineWidth = 2;
      ctx.beginPath();
      let pen = false;
      for (let k = 0; k < s.v.length; k += 1) {
        const v = s.v[k];
        const t = s.t[k];
        if (!Number.isFinite(v) || !Number.isFinite(t)) {
          pen = false;
          continue;
        }
        if (pen) ctx.lineTo(x(t), y(v));
        else ctx.moveTo(x(t), y(v));
        pen = true;
        if (t >= t0 && t <= t1) points += 1;
      }
      ctx.stroke();
    });
    ctx.restore();
    ctx.lineWidth = 1;
    chart.points = points;
    canvas.dataset.points = String(points);
    if (cursor !== null && cursor >= t0 && cursor <= t1) {
      ctx.strokeStyle = '#ffffff';
      ctx.beginPath();
      ctx.moveTo(x(cursor), margin.top);
      ctx.lineTo(x(cursor), margin.top + plotH);
      ctx.stroke();
    }
  };

  chart.setCursor = (t) => {
    cursor = t;
    chart.draw();
  };

  /** The time (s) under a mouse x position, or null outside the plot. */
  chart.timeAt = (clientX) => {
    if (!geometry) return null;
    const rect = canvas.getBoundingClientRect();
    const frac = (clientX - rect.left - margin.left) / geometry.plotW;
    if (frac < 0 || frac > 1) return null;
    return geometry.t0 + frac * (geometry.t1 - geometry.t0);
  };

  chart.draw();
  return chart;
}

/**
 * The bar path: x = horizontal displacement, y = height, in the same display unit. The bar moves
 * a few centimetres sideways over a metre or more of height, so the horizontal axis is
 * stretched (at least ±minHalfWidth of the unit, centred on the lift-off line) and the stretch
 * factor is printed on the chart. spec: {x: number[], y: number[], unit, minHalfWidth,
 * phaseAt: (i) => name|null}. Returns {draw(), setCursor(index), points}.
 */
export function barPathChart(canvas, spec) {
  const margin = { left: 52, right: 12, top: 22, bottom: 30 };
  let cursor = null;
  const chart = { points: 0 };

  chart.draw = () => {
    const [ctx, w, hgt] = prepare(canvas);
    const plotW = w - margin.left - margin.right;
    const plotH = hgt - margin.top - margin.bottom;
    const xr = finiteRange([spec.x]);
    const yr = finiteRange([spec.y]);
    ctx.strokeStyle = AXIS;
    ctx.strokeRect(margin.left, margin.top, plotW, plotH);
    if (!xr || !yr) {
      ctx.fillStyle = AXIS;
      ctx.textAlign = 'center';
      ctx.fillText('no bar path', margin.left + plotW / 2, margin.top + plotH / 2);
      chart.points = 0;
      canvas.dataset.points = '0';
      return;
    }
    const half = Math.max(Math.abs(xr[0]), Math.abs(xr[1]), spec.minHalfWidth || 0);
    const [xlo, xhi] = [-half, half];
    const [ylo, yhi] = yr;
    const sx = plotW / (xhi - xlo);
    const sy = plotH / (yhi - ylo);
    const x = (v) => margin.left + (v - xlo) * sx;
    const y = (v) => margin.top + plotH - (v - ylo) * sy;
    ctx.fillStyle = AXIS;
    ctx.textAlign = 'center';
    const xt = ticks(xlo, xhi, Math.max(2, Math.floor(plotW / 60)));
    for (const v of xt.values) {
      ctx.strokeStyle = v === 0 ? AXIS : GRID;
      ctx.beginPath();
      ctx.moveTo(x(v), margin.top);
      ctx.lineTo(x(v), margin.top + plotH);
      ctx.stroke();
      ctx.fillText(label(v, xt.step), x(v), hgt - 16);
    }
    ctx.textAlign = 'right';
    const yt = ticks(ylo, yhi, Math.max(2, Math.floor(plotH / 45)));
    for (const v of yt.values) {
      ctx.strokeStyle = GRID;
      ctx.beginPath();
      ctx.moveTo(margin.left, y(v));
      ctx.lineTo(margin.left + plotW, y(v));
      ctx.stroke();
      ctx.fillText(label(v, yt.step), margin.left - 4, y(v) + 4);
    }
    const stretch = sx / sy;
    ctx.textAlign = 'right';
    if (stretch > 1.5) ctx.fillText(`sideways ×${stretch.toFixed(stretch < 10 ? 1 : 0)}`, margin.left + plotW - 4, margin.top + 14);
    ctx.textAlign = 'center';
    ctx.fillText(`forward (${spec.unit}) →`, margin.left + plotW / 2, hgt - 3);
    ctx.textAlign = 'left';
    ctx.fillText(`height (${spec.unit})`, 4, 12);
    let points = 0;
    let prev = null;
    ctx.lineWidth = 2.5;
    for (let i = 0; i < spec.x.length; i += 1) {
      if (!Number.isFinite(spec.x[i]) || !Number.isFinite(spec.y[i])) {
        prev = null;
        continue;
      }
      const p = [x(spec.x[i]), y(spec.y[i])];
      if (prev) {
        ctx.strokeStyle = phaseColor(spec.phaseAt ? spec.phaseAt(i) : null);
        ctx.beginPath();
        ctx.moveTo(prev[0], prev[1]);
        ctx.lineTo(p[0], p[1]);
        ctx.stroke();
      }
      prev = p;
      points += 1;
    }
    ctx.lineWidth = 1;
    chart.points = points;
    canvas.dataset.points = String(points);
    if (cursor !== null && Number.isFinite(spec.x[cursor]) && Number.isFinite(spec.y[cursor])) {
      ctx.fillStyle = '#ffffff';
      ctx.beginPath();
      ctx.arc(x(spec.x[cursor]), y(spec.y[cursor]), 5, 0, 2 * Math.PI);
      ctx.fill();
    }
  };

  chart.setCursor = (index) => {
    cursor = index;
    chart.draw();
  };

  chart.draw();
  return chart;
}
