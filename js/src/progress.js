// progress.js — progress reports and cancellation for the long calls (insertBatch, compact, save, load).
//
// A call that takes { onProgress, signal } reports { done, total, fraction } through onProgress: done
// never decreases, and the last report of a call that succeeds has done === total (fraction 1). Reports
// come at most every REPORT_MS while the work runs, plus the first and the last one. A signal is looked
// at between steps of the work; once it has aborted, the call undoes what it did and fails with a
// PocketvecError 'aborted' whose cause is signal.reason.
import { PocketvecError } from './errors.js';

/** Least time between two reports of one call (the first and the last always go out). */
export const REPORT_MS = 50;

const now = () => performance.now(); // (a global in every browser, worker and Node >= 16)

export function abortedError(signal) {
  return new PocketvecError('aborted', 'the operation was aborted; the index is as it was before the call',
    { cause: signal?.reason });
}

/** Throws 'aborted' when `signal` has aborted. */
export function throwIfAborted(signal) {
  if (signal?.aborted) throw abortedError(signal);
}

/** Checks the options every long call takes; returns them. */
export function progressOptions(onProgress, signal) {
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw new PocketvecError('invalid_argument', `onProgress must be a function, got ${typeof onProgress}`);
  }
  if (signal !== undefined && (signal === null || typeof signal.aborted !== 'boolean')) {
    throw new PocketvecError('invalid_argument', 'signal must be an AbortSignal');
  }
  return { onProgress, signal };
}

/**
 * A reporter for `total` units: report(done) calls onProgress when REPORT_MS have passed since the
 * last report, or when done === total; report(done, true) always does.
 */
export function reporter(onProgress, total) {
  if (!onProgress) return () => {};
  let last = -Infinity;
  let lastDone = -1;
  return (done, force = false) => {
    const t = now();
    if (done === lastDone || (!force && done !== total && t - last < REPORT_MS)) return;
    last = t;
    lastDone = done;
    onProgress({ done, total, fraction: total === 0 ? 1 : done / total });
  };
}

/** fn(...args), for a call whose work is done: a throw is reported (reportError, else console.error), not thrown. */
export function settled(fn, ...args) {
  try { fn(...args); } catch (err) { (globalThis.reportError ?? console.error)(err); }
}

export { now };
