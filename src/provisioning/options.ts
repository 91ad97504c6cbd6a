/**
 * THE one option merge of the provisioning port. Chef had two rules side by side (Cheffish
 * MergedConfig: first wins; DeepMerge.hash_only_merge: last wins; CP#455, CP#246, CP#383, PR#581);
 * we keep one, with tests (CP#429):
 *
 *   mergeOptions(global, driver, machine) — layers are applied left to right, LAST WINS:
 *   - plain objects merge key by key, recursively (so `convergenceOptions.script` from the machine
 *     keeps `convergenceOptions.timeoutMs` from the driver layer);
 *   - arrays are REPLACED whole by a later layer, never concatenated (`tags: [a]` then `tags: [b]`
 *     is `[b]`), so a machine can always narrow a list it inherited;
 *   - scalars: the later layer wins; `undefined` in a later layer is ignored (absent), while `null`
 *     is a real value and overrides (write `null` to clear an inherited setting);
 *   - inputs are never mutated; the result shares no objects or arrays with them.
 */
export type OptionValue = string | number | boolean | null | undefined | OptionValue[] | { [key: string]: OptionValue };
export type Options = Record<string, unknown>;

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function cloneValue(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(cloneValue);
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = cloneValue(v);
    return out;
  }
  return value;
}

function mergeTwo(base: Record<string, unknown>, layer: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(layer)) {
    if (value === undefined) continue;
    if (key === '__proto__' || key === 'constructor' || key === 'prototype') continue;
    const current = out[key];
    out[key] = isPlainObject(current) && isPlainObject(value) ? mergeTwo(current, value) : cloneValue(value);
  }
  return out;
}

/** Merges option layers, last wins (see the file comment for objects, arrays and null). */
export function mergeOptions<T extends Options = Options>(...layers: Array<Options | undefined | null>): T {
  let out: Record<string, unknown> = {};
  for (const layer of layers) {
    if (layer === undefined || layer === null) continue;
    out = mergeTwo(out, cloneValue(layer) as Record<string, unknown>);
  }
  return out as T;
}
