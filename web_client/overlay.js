// The bar path drawn over the camera picture. Samples come in the pixels of the frames the
// server received (x right, y down): the camera's, unless the encoder scaled them down, so they
// are rescaled by the sent frame size and mapped onto the <video> box as laid out with
// object-fit: contain.

const IDLE_TRAIL = 40;
// A step longer than this share of the picture between two samples is a lost track or a cut,
// not bar motion: the line is broken there instead of drawn across the picture.
const MAX_STEP = 0.2;
// Samples the tracker is less sure of are left out of the drawing.
const MIN_CONFIDENCE = 0.2;

/** The bar positions of the current lift (and a short trail between lifts). */
export class LiftTrace {
  constructor() {
    this.points = [];
    this.previous = [];
    this.inLift = false;
  }

  add(x, y, confidence = 1) {
    if (!Number.isFinite(x) || !Number.isFinite(y) || !(confidence >= MIN_CONFIDENCE)) return;
    this.points.push([x, y]);
    // Between lifts only a short trail is kept, so walking around does not scribble the picture.
    if (!this.inLift && this.points.length > IDLE_TRAIL) this.points.splice(0, this.points.length - IDLE_TRAIL);
  }

  startLift() {
    // Keep the last few idle points: the lift-off is detected a little after the bar moved.
    this.points = this.points.slice(-8);
    this.previous = [];
    this.inLift = true;
  }

  /** The lift was not one (the server cancelled it): back to the idle trail, nothing kept. */
  cancelLift() {
    this.points = this.points.slice(-IDLE_TRAIL);
    this.inLift = false;
  }

  endLift() {
    this.previous = this.points;
    this.points = [];
    this.inLift = false;
  }
}

/** The picture's rectangle inside a box of w x h for a frame of vw x vh (object-fit: contain). */
export function containRect(w, h, vw, vh) {
  if (!vw || !vh) return null;
  const scale = Math.min(w / vw, h / vh);
  return { scale, x: (w - vw * scale) / 2, y: (h - vh * scale) / 2 };
}

function path(ctx, points, rect) {
  const limit = MAX_STEP * rect.size;
  ctx.beginPath();
  let prev = null;
  for (const [x, y] of points) {
    const px = rect.x + x * rect.scale;
    const py = rect.y + y * rect.scale;
    if (prev && Math.hypot(px - prev[0], py - prev[1]) <= limit) ctx.lineTo(px, py);
    else ctx.moveTo(px, py);
    prev = [px, py];
  }
  ctx.stroke();
}

/**
 * Draw the trace over `video`. sentSize: {width, height} of the frames the server gets (from the
 * sender's stats), or null when unknown (then the camera's size is assumed).
 */
export function drawOverlay(canvas, video, trace, sentSize = null) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth;
  const h = canvas.clientHeight;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  const fit = containRect(w, h, video.videoWidth, video.videoHeight);
  if (!fit) return;
  const k = sentSize?.width > 0 ? video.videoWidth / sentSize.width : 1;
  const rect = { x: fit.x, y: fit.y, scale: fit.scale * k, size: Math.max(video.videoWidth, video.videoHeight) * fit.scale };
  ctx.lineJoin = 'round';
  ctx.lineCap = 'round';
  if (trace.previous.length > 1) {
    ctx.strokeStyle = 'rgba(255, 255, 255, 0.45)';
    ctx.lineWidth = 3;
    path(ctx, trace.previous, rect);
  }
  if (trace.points.length > 1) {
    // A dark under-stroke keeps the path visible on bright and dark backgrounds alike.
    ctx.strokeStyle = 'rgba(0, 0, 0, 0.6)';
    ctx.lineWidth = 7;
    path(ctx, trace.points, rect);
    ctx.strokeStyle = trace.inLift ? '#ffbe0b' : '#4cc9f0';
    ctx.lineWidth = 4;
    path(ctx, trace.points, rect);
  }
  const last = trace.points[trace.points.length - 1];
  if (last) {
    ctx.fillStyle = '#ff006e';
    ctx.beginPath();
    ctx.arc(rect.x + last[0] * rect.scale, rect.y + last[1] * rect.scale, 7, 0, 2 * Math.PI);
    ctx.fill();
  }
}
