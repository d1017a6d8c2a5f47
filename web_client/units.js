// Measurement systems. Everything is converted to SI first, then to what the user chose.
// Display units follow DESIGN.md: metric = mm, m/s, N, W, kg, degrees; imperial = in, ft/s, lbf,
// W, lb, degrees. The live protocol is SI on the wire; a session document is in the unit system
// it was analysed in (its "units" block, else the session's measurement_system).

const KEY = 'liftstream.units';
export const M_PER_IN = 0.0254;
export const M_PER_FT = 0.3048;
export const KG_PER_LB = 0.45359237;
export const N_PER_LBF = KG_PER_LB * 9.80665;

// Quantity -> system -> [unit label, SI units per display unit, decimals].
const DISPLAY = {
  length: { metric: ['mm', 0.001, 0], imperial: ['in', M_PER_IN, 1] },
  velocity: { metric: ['m/s', 1, 2], imperial: ['ft/s', M_PER_FT, 2] },
  force: { metric: ['N', 1, 0], imperial: ['lbf', N_PER_LBF, 0] },
  power: { metric: ['W', 1, 0], imperial: ['W', 1, 0] },
  angle: { metric: ['°', 1, 0], imperial: ['°', 1, 0] },
  time: { metric: ['s', 1, 2], imperial: ['s', 1, 2] },
  mass: { metric: ['kg', 1, 1], imperial: ['lb', KG_PER_LB, 1] },
};

// Unit strings a document's units block may use, as SI per unit.
const SI_PER_UNIT = {
  m: 1, cm: 0.01, mm: 0.001, in: M_PER_IN, ft: M_PER_FT,
  'm/s': 1, 'ft/s': M_PER_FT, 'in/s': M_PER_IN, 'mm/s': 0.001,
  n: 1, lbf: N_PER_LBF, w: 1, kg: 1, lb: KG_PER_LB, lbs: KG_PER_LB,
  s: 1, ms: 0.001, deg: 1, degree: 1, degrees: 1, '°': 1,
};

const QUANTITY_BY_NAME = {
  power_output: 'power',
  ground_reaction_force: 'force',
  barbell_velocity: 'velocity',
  hip_velocity: 'velocity',
  hip_height: 'length',
  bar_height: 'length',
  barbell_trajectory: 'length',
  vertical_shoulder_height: 'length',
};

/** The quantity a document series measures (angles end in _angle). */
export function quantityOf(name) {
  if (name.endsWith('_angle')) return 'angle';
  return QUANTITY_BY_NAME[name] || 'length';
}

/** The user's chosen system ('metric' | 'imperial'), remembered in localStorage. */
export function preferredSystem() {
  const stored = localStorage.getItem(KEY);
  return stored === 'imperial' ? 'imperial' : 'metric';
}

export function setPreferredSystem(system) {
  localStorage.setItem(KEY, system === 'imperial' ? 'imperial' : 'metric');
  window.dispatchEvent(new CustomEvent('liftstream:units', { detail: preferredSystem() }));
}

/** Display unit label of a quantity in a system. */
export function unitLabel(quantity, system) {
  return DISPLAY[quantity][system][0];
}

/** SI value -> display value (not rounded). null stays null. */
export function fromSI(quantity, value, system) {
  if (value === null || value === undefined || !Number.isFinite(value)) return null;
  return value / DISPLAY[quantity][system][1];
}

/** Display value -> SI. */
export function toSI(quantity, value, system) {
  return value * DISPLAY[quantity][system][1];
}

/** "1.23 m/s" from an SI value; an em dash when unknown. */
export function format(quantity, si, system, { unit = true, decimals } = {}) {
  const v = fromSI(quantity, si, system);
  if (v === null) return '—';
  const [label, , places] = DISPLAY[quantity][system];
  // No "-0.00": a value that rounds to zero is shown as zero.
  const text = v.toFixed(decimals ?? places).replace(/^-(?=0(\.0*)?$)/, '');
  if (!unit) return text;
  return label === '°' ? `${text}°` : `${text} ${label}`;
}

/** The unit system a session document's numbers are in. */
export function documentSystem(document, fallback) {
  const block = document && typeof document.units === 'object' && document.units ? document.units : {};
  for (const key of ['system', 'measurement_system']) {
    const named = String(block[key] || '').toLowerCase();
    if (named === 'metric' || named === 'imperial') return named;
  }
  const labels = Object.values(block).filter((v) => typeof v === 'string').map((v) => v.toLowerCase());
  if (labels.some((l) => ['in', 'ft/s', 'lbf', 'lb', 'ft'].includes(l))) return 'imperial';
  return fallback === 'imperial' ? 'imperial' : 'metric';
}

/** SI per document unit for a series: its own entry in the units block, its quantity's, or the
 * default display unit of the document's system. */
export function documentFactor(document, name, system) {
  const quantity = quantityOf(name);
  const block = document && typeof document.units === 'object' && document.units ? document.units : {};
  for (const key of [name, quantity]) {
    const label = typeof block[key] === 'string' ? block[key].trim().toLowerCase() : '';
    if (label in SI_PER_UNIT) return SI_PER_UNIT[label];
  }
  return DISPLAY[quantity][system][1];
}

/** A document series (array with nulls) as SI numbers (NaN where unknown). */
export function seriesToSI(document, name, values, system) {
  const factor = documentFactor(document, name, system);
  return values.map((v) => (typeof v === 'number' && Number.isFinite(v) ? v * factor : NaN));
}
