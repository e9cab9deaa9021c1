// check.js — the few assertions the parity cases use, with no Node import, so that the same cases run in
// Node (test/parity.test.js) and in each browser (test/browser/page.js).

export class CheckError extends Error {
  constructor(message) {
    super(message);
    this.name = 'CheckError';
  }
}

function show(value) {
  if (ArrayBuffer.isView(value)) return `${value.constructor.name}(${value.length}) [${Array.from(value.slice(0, 8)).join(', ')}${value.length > 8 ? ', …' : ''}]`;
  try {
    const text = JSON.stringify(value);
    return text === undefined ? String(value) : text.length > 300 ? `${text.slice(0, 300)}…` : text;
  } catch {
    return String(value);
  }
}

function same(a, b) {
  if (Object.is(a, b)) return true;
  if (ArrayBuffer.isView(a) || ArrayBuffer.isView(b)) {
    if (!ArrayBuffer.isView(a) || !ArrayBuffer.isView(b) || a.constructor !== b.constructor || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
    return true;
  }
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.hasOwn(b, k) && same(a[k], b[k]));
}

export const check = {
  ok(value, message = 'expected a truthy value') {
    if (!value) throw new CheckError(message);
  },
  equal(actual, expected, message = '') {
    if (!Object.is(actual, expected)) throw new CheckError(`${message ? `${message}: ` : ''}${show(actual)} !== ${show(expected)}`);
  },
  deepEqual(actual, expected, message = '') {
    if (!same(actual, expected)) throw new CheckError(`${message ? `${message}: ` : ''}${show(actual)} differs from ${show(expected)}`);
  },
  /** Awaits `fn()` and requires a PocketvecError with `code`; returns it. */
  async rejects(fn, code, message = '') {
    let error = null;
    try {
      await fn();
    } catch (err) {
      error = err;
    }
    const where = message ? `${message}: ` : '';
    if (error === null) throw new CheckError(`${where}expected a PocketvecError '${code}', but the call succeeded`);
    if (error?.name !== 'PocketvecError' || error.code !== code) {
      throw new CheckError(`${where}expected a PocketvecError '${code}', got ${error?.name}: ${error?.code ?? ''} ${error?.message}`);
    }
    return error;
  },
};
