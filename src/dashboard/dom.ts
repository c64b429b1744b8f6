/** A tiny DOM builder: the dashboard is plain HTML elements, no framework. */
export type Child = Node | string | number | null | undefined | false | Child[];
type Props = Record<string, string | number | boolean | null | undefined | ((event: Event) => void)>;

const append = (parent: Node, child: Child): void => {
  if (child === null || child === undefined || child === false) return;
  if (Array.isArray(child)) {
    for (const each of child) append(parent, each);
    return;
  }
  parent.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
};

/** `h('button', {type: 'button', onclick: …}, 'Label')`: `on…` props listen, the others are attributes. */
export const h = <K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] => {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (typeof value === 'function') element.addEventListener(name.slice(2), value);
    else if (value === true) element.setAttribute(name, '');
    else if (value !== false && value !== null && value !== undefined)
      element.setAttribute(name, String(value));
  }
  append(element, children);
  return element;
};

/** Replaces what an element shows. */
export const show = (element: Element, ...children: Child[]): void => {
  element.replaceChildren();
  append(element, children);
};

export interface Column<Row> {
  label: string;
  value: (row: Row) => Child;
  /** Right-aligned (amounts, counts). */
  numeric?: boolean;
}

/** A table with a caption and column headers, scrollable on its own on a narrow screen. */
export const dataTable = <Row>(caption: string, columns: Column<Row>[], rows: Row[], empty = 'None.') =>
  rows.length === 0
    ? h('section', { class: 'empty-table' }, h('h3', {}, caption), h('p', {}, empty))
    : h(
        'div',
        { class: 'table-wrap', role: 'region', 'aria-label': caption, tabindex: 0 },
        h(
          'table',
          {},
          h('caption', {}, caption),
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              columns.map((column) =>
                h('th', { scope: 'col', class: column.numeric ? 'numeric' : '' }, column.label),
              ),
            ),
          ),
          h(
            'tbody',
            {},
            rows.map((row) =>
              h(
                'tr',
                {},
                columns.map((column) =>
                  h('td', { class: column.numeric ? 'numeric' : '' }, column.value(row)),
                ),
              ),
            ),
          ),
        ),
      );

/** Label/value pairs. */
export const facts = (pairs: Array<[string, Child]>) =>
  h(
    'dl',
    { class: 'facts' },
    pairs.map(([term, value]) => [h('dt', {}, term), h('dd', {}, value ?? '—')]),
  );

/** A labelled form field (`input`, `select` or `textarea` given whole). */
export const field = (
  label: string,
  control: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement,
  hint?: string,
) => {
  const id = control.id || `field-${Math.random().toString(36).slice(2)}`;
  control.id = id;
  const hintId = hint ? `${id}-hint` : undefined;
  if (hintId) control.setAttribute('aria-describedby', hintId);
  return h(
    'div',
    { class: 'field' },
    h('label', { for: id }, label),
    control,
    hint && h('p', { class: 'hint', id: hintId }, hint),
  );
};
