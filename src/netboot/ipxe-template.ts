import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BootrackError } from '../common/errors.js';

/**
 * A small logic-less renderer for iPXE scripts, Mustache-shaped and deliberately tiny:
 *   {{name}}                 a string value, checked by the iPXE escaper below
 *   {{#flag}} … {{/flag}}    the block when the boolean is true
 *   {{^flag}} … {{/flag}}    the block when it is false
 * A section tag alone on its line takes the line with it. No expressions, no eval, no partials;
 * an unknown tag or a missing value is an error (a template bug must not boot a machine wrongly).
 */
export type TemplateView = Readonly<Record<string, string | boolean>>;

type Node = { t: 'text'; text: string } | { t: 'var'; name: string } | { t: 'section'; name: string; inverted: boolean; children: Node[] };

export interface CompiledTemplate {
  readonly name: string;
  render(view: TemplateView): string;
}

const TAG = /\{\{\s*([#^/]?)\s*([A-Za-z][A-Za-z0-9_]*)\s*\}\}/g;

export function compileTemplate(name: string, source: string): CompiledTemplate {
  const text = source.replace(/^[ \t]*(\{\{\s*[#^/]\s*[A-Za-z][A-Za-z0-9_]*\s*\}\})[ \t]*\r?\n/gm, '$1');
  const root: Node[] = [];
  const stack: Array<{ name: string; children: Node[] }> = [{ name: '', children: root }];
  let last = 0;
  for (const m of text.matchAll(TAG)) {
    const top = stack[stack.length - 1]!;
    if (m.index > last) top.children.push({ t: 'text', text: text.slice(last, m.index) });
    last = m.index + m[0].length;
    const [, sigil, tagName = ''] = m;
    if (sigil === '#' || sigil === '^') {
      const section: Node = { t: 'section', name: tagName, inverted: sigil === '^', children: [] };
      top.children.push(section);
      stack.push({ name: tagName, children: section.children });
    } else if (sigil === '/') {
      if (stack.length === 1 || top.name !== tagName) throw templateError(name, `unexpected {{/${tagName}}}`);
      stack.pop();
    } else {
      top.children.push({ t: 'var', name: tagName });
    }
  }
  if (stack.length !== 1) throw templateError(name, `unclosed {{#${stack[stack.length - 1]!.name}}}`);
  if (last < text.length) root.push({ t: 'text', text: text.slice(last) });
  const leftover = /\{\{|\}\}/.exec(root.filter((n) => n.t === 'text').map((n) => (n as { text: string }).text).join(''));
  if (leftover) throw templateError(name, 'malformed tag');

  const renderNodes = (nodes: Node[], view: TemplateView): string =>
    nodes
      .map((node) => {
        if (node.t === 'text') return node.text;
        const value = view[node.name];
        if (node.t === 'var') {
          if (typeof value !== 'string') throw templateError(name, `{{${node.name}}} needs a string value`);
          return escapeIpxe(node.name, value);
        }
        if (typeof value !== 'boolean') throw templateError(name, `section {{#${node.name}}} needs a boolean`);
        return value !== node.inverted ? renderNodes(node.children, view) : '';
      })
      .join('');
  return { name, render: (view) => renderNodes(root, view) };
}

/**
 * iPXE has no general quoting: `${…}` expands settings anywhere, quotes and backslashes change
 * tokenising, a newline starts a new command, and the whole words `||`, `&&` and `;` chain
 * commands. A value carrying any of those is refused (VALIDATION_FAILED names the variable) rather
 * than rewritten, so what an operator typed is either booted verbatim or not at all.
 */
export function escapeIpxe(name: string, value: string): string {
  // eslint-disable-next-line no-control-regex
  const bad = /[\u0000-\u001f\u007f${}"'\\]/.exec(value);
  if (bad) {
    throw new BootrackError('VALIDATION_FAILED', `${name} may not contain ${JSON.stringify(bad[0])} in an iPXE script`, { field: name, character: bad[0] });
  }
  if (value.split(' ').some((word) => word === '||' || word === '&&' || word === ';')) {
    throw new BootrackError('VALIDATION_FAILED', `${name} may not contain the iPXE operators ||, && or ;`, { field: name });
  }
  return value;
}

function templateError(name: string, why: string): BootrackError {
  return new BootrackError('INTERNAL', `template ${name}: ${why}`, { template: name });
}

export const IPXE_TEMPLATE_NAMES = ['discovery', 'deploy', 'local'] as const;
export type IpxeTemplateName = (typeof IPXE_TEMPLATE_NAMES)[number];
export type IpxeTemplates = Readonly<Record<IpxeTemplateName, CompiledTemplate>>;

/** The repository's templates/ (the same relative place from src/netboot and dist/netboot). */
export const DEFAULT_TEMPLATE_DIR = fileURLToPath(new URL('../../templates/', import.meta.url));

/** Reads and compiles every iPXE template once, at start-up, so a broken template fails the daemon early. */
export function loadIpxeTemplates(dir: string = DEFAULT_TEMPLATE_DIR): IpxeTemplates {
  const out = {} as Record<IpxeTemplateName, CompiledTemplate>;
  for (const name of IPXE_TEMPLATE_NAMES) {
    const path = `${dir.replace(/\/$/, '')}/${name}.ipxe`;
    let source: string;
    try {
      source = readFileSync(path, 'utf8');
    } catch (err) {
      throw new BootrackError('INTERNAL', `iPXE template ${path} is missing or unreadable`, { path }, { cause: err });
    }
    out[name] = compileTemplate(name, source);
  }
  return out;
}
