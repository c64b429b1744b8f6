import type { Answer } from './api.js';
import type { Child } from './dom.js';
import { h, show } from './dom.js';

export type Environment = 'test' | 'live';

/** What a page gets: where it is, and a place to say what happened (read out by screen readers). */
export interface PageContext {
  environment: Environment;
  /** What follows the page's name in the address (`#/test/subjects/team/acme` → `['team', 'acme']`). */
  params: string[];
  root: HTMLElement;
  announce: (message: string, kind?: 'info' | 'error') => void;
  /** Runs every `ms` while the page is shown; stopped when the page is left. */
  every: (ms: number, task: () => Promise<void>) => void;
  /** True once the admin has gone to another page (an answer that comes late is then dropped). */
  left: () => boolean;
}

export type Page = (context: PageContext) => Promise<void>;

/** Shows an API error as one line, or returns the data. */
export const orShowError = <T>(answer: Answer<T>, where: HTMLElement): T | undefined => {
  if (answer.error) {
    show(where, h('p', { class: 'error', role: 'alert' }, answer.error.message));
    return undefined;
  }
  return answer.data;
};

/** A section with a heading. */
export const section = (title: string, ...children: Child[]) =>
  h('section', {}, h('h2', {}, title), ...children);

/** A button that disables itself while its action runs. */
export const actionButton = (
  label: string,
  action: () => Promise<void>,
  attributes: Record<string, string> = {},
) => {
  const button = h('button', { type: 'button', ...attributes }, label);
  button.addEventListener('click', async () => {
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
    try {
      await action();
    } finally {
      button.disabled = false;
      button.removeAttribute('aria-busy');
    }
  });
  return button;
};

/** A form whose submit handler gets its fields by name; the submit button is disabled while it runs. */
export const form = (
  label: string,
  children: Child[],
  submitLabel: string,
  onSubmit: (values: FormData, form: HTMLFormElement) => Promise<void>,
) => {
  const submit = h('button', { type: 'submit' }, submitLabel);
  const element = h('form', { 'aria-label': label }, ...children, submit);
  element.addEventListener('submit', async (event) => {
    event.preventDefault();
    submit.disabled = true;
    try {
      await onSubmit(new FormData(element), element);
    } finally {
      submit.disabled = false;
    }
  });
  return element;
};

export const value = (values: FormData, name: string): string => String(values.get(name) ?? '').trim();

/** A link to another page of the same environment. */
export const pageLink = (environment: Environment, path: string, label: Child) =>
  h('a', { href: `#/${environment}/${path}` }, label);
