// Small DOM helpers. Text always goes in as text nodes: nothing here parses HTML.

/** The element with this id; throws if the page does not have it (a bug, not a user error). */
export function byId(id) {
  const found = document.getElementById(id);
  if (!found) throw new Error(`missing element #${id}`);
  return found;
}

/**
 * Create an element. `props.className`, `props.attrs` (set with setAttribute) and
 * `props.text` (set as textContent); `children` are nodes or strings (strings become text nodes).
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  if (props.className) node.className = props.className;
  for (const [name, value] of Object.entries(props.attrs || {})) {
    if (value !== undefined && value !== null && value !== false) node.setAttribute(name, String(value));
  }
  if (props.text !== undefined) node.textContent = String(props.text);
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return node;
}

/** Show a message in a banner-like element, or hide it when `text` is empty. */
export function setMessage(node, text) {
  node.textContent = text || '';
  node.hidden = !text;
}
