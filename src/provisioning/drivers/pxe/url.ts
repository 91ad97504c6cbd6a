import { BootrackError } from '../../../common/errors.js';

/**
 * `pxe:http(s)://host[:port][/prefix]` → `pxe:<scheme>://<lower-case host>:<explicit port>[/prefix]`
 * with no trailing slash, query or fragment. Credentials in the URL are refused: the canonical URL is
 * saved in every machine reference and shown in logs, so the token goes in driverOptions.token.
 */
export function canonicalizePxeUrl(url: string): string {
  const rest = url.replace(/^pxe:/i, '');
  if (rest === url || rest.trim() === '') throw new BootrackError('INVALID_DRIVER_URL', `expected pxe:http(s)://<appliance>:<port>, got ${JSON.stringify(url)}`, { url });
  let parsed: URL;
  try {
    parsed = new URL(rest);
  } catch {
    throw new BootrackError('INVALID_DRIVER_URL', `expected pxe:http(s)://<appliance>:<port>, got ${JSON.stringify(url)}`, { url });
  }
  if (parsed.username || parsed.password) {
    // Never echo the secret back: name the host only.
    throw new BootrackError('INVALID_DRIVER_URL', `the pxe: driver URL for ${parsed.hostname} carries credentials; remove them from the URL (it is saved in every machine reference) and pass the API token as driverOptions.token`, { host: parsed.hostname });
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new BootrackError('INVALID_DRIVER_URL', `the pxe: driver speaks http or https, not ${parsed.protocol.replace(':', '')} (in ${JSON.stringify(url)})`, { url });
  if (parsed.search || parsed.hash) throw new BootrackError('INVALID_DRIVER_URL', `the pxe: driver URL may not carry a query or fragment: ${JSON.stringify(url)}`, { url });
  const port = parsed.port || (parsed.protocol === 'https:' ? '443' : '80');
  const path = parsed.pathname.replace(/\/+$/, '');
  return `pxe:${parsed.protocol}//${parsed.hostname.toLowerCase()}:${port}${path}`;
}
