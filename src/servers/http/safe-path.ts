import { BootrackError } from '../../common/errors.js';

/**
 * Turns the URL path below a mount point into a relative file path, or refuses it (PATH_REFUSED).
 * The path is percent-decoded exactly once; the decoded text must then be a plain relative path:
 * no NUL or control bytes, no backslash (a separator on other systems, and `%5c` would smuggle one),
 * no empty, `.` or `..` segment (so `../`, `..%2f`, `%2e%2e`, `//etc/passwd` are all refused), and no
 * segment that starts with a dot (hidden files are never boot assets). The caller still confines
 * the result to its root with realpath, which is what defeats symlinks that point outside.
 */
export function safeRelativePath(rawPath: string): string {
  const refuse = (why: string): never => {
    throw new BootrackError('PATH_REFUSED', `refused path ${JSON.stringify(rawPath.slice(0, 200))}: ${why}`, { path: rawPath.slice(0, 200), reason: why });
  };
  const query = rawPath.indexOf('?');
  const encoded = query === -1 ? rawPath : rawPath.slice(0, query);
  if (!encoded.startsWith('/')) refuse('not an absolute request path');
  let decoded = '';
  try {
    decoded = decodeURIComponent(encoded.slice(1));
  } catch {
    refuse('malformed percent-encoding');
  }
  if (decoded.length === 0) refuse('no file named');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(decoded)) refuse('control character');
  if (decoded.includes('\\')) refuse('backslash');
  const segments = decoded.split('/');
  for (const segment of segments) {
    if (segment === '') refuse('empty segment (absolute or doubled slash)');
    if (segment === '.' || segment === '..') refuse('dot segment');
    if (segment.startsWith('.')) refuse('hidden file');
  }
  return segments.join('/');
}
