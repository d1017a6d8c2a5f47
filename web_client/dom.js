// Tiny DOM helpers. Text always goes in through textContent, never innerHTML, so nothing the
// server or a user wrote (titles, comments) can inject markup.

/**
 * Create an element. props: {class, text, on: {event: fn}, dataset: {...}, style: {...}} and any
 * other key as an attribute (false/null/undefined omit it, true sets it empty). children: nodes,
 * strings, or nested arrays of them; null/false children are skipped.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = String(value);
    else if (key === 'on') for (const [ev, fn] of Object.entries(value)) el.addEventListener(ev, fn);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'style') {
      // Custom properties (--name) only go in through setProperty.
      for (const [name, v] of Object.entries(value)) {
        if (name.startsWith('--')) el.style.setProperty(name, v);
        else el.style[name] = v;
      }
    }
    else if (key === 'value' || key === 'checked' || key === 'selected' || key === 'muted') el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace all children of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let uid = 0;
/** A unique element id with a readable prefix (labels need ids). */
export function newId(prefix) {
  uid += 1;
  return `${prefix}-${uid}`;
}

/** A labelled form field: returns {wrap, input}. kind: 'select' | 'textarea' | an input type. */
export function field(label, kind, props = {}, options = []) {
  const id = props.id || newId('f');
  let input;
  if (kind === 'select') {
    input = h('select', { ...props, id }, options.map(([value, text]) => h('option', { value, text })));
  } else if (kind === 'textarea') {
    input = h('textarea', { ...props, id });
  } else {
    input = h('input', { type: kind, ...props, id });
  }
  const wrap = h('div', { class: 'field' }, h('label', { for: id, text: label }), input);
  return { wrap, input };
}

/** Human words for a snake_case name: 'first_pull' -> 'first pull'. */
export function words(name) {
  return String(name).replace(/_/g, ' ');
}

/** 'first_pull' -> 'First pull'. */
export function title(name) {
  const w = words(name);
  return w.charAt(0).toUpperCase() + w.slice(1);
}
