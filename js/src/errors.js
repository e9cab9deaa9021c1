// errors.js — the one error type the package throws.
//
// `code` is the C++ errc name (include/pocketvec/error.hpp), so a JS caller can switch on the same
// words the C++ docs use. Codes only in JS: 'disposed' (a method called after dispose()), 'aborted'
// (progress.js), 'internal_error' (a C++ exception that is not a pocketvec::error: a pocketvec bug),
// 'quota_exceeded' and 'conflict' (an IndexedDB save over the quota / over another tab's copy, idb.js),
// 'unsupported' (an OPFS store where sync access handles are not: main thread, WebKitGTK, Node; idb.js).

/** errc names by numeric value; never reorder (the values are stable in C++). */
const ERRC_NAMES = [
  undefined,
  'invalid_argument',
  'dimension_mismatch',
  'non_finite',
  'zero_vector',
  'unknown_id',
  'deleted_id',
  'empty_index',
  'corrupt_data',
  'unsupported_version',
  'capacity_exceeded',
  'io_error',
  'out_of_memory',
  'out_of_range',
];

/** Status the bindings return for a C++ exception that is not a pocketvec::error. */
const STATUS_INTERNAL = -100;

export class PocketvecError extends Error {
  /**
   * @param {string} code  errc name, or 'disposed' / 'internal_error'
   * @param {string} message
   * @param {{ cause?: unknown }} [options]
   */
  constructor(code, message, options) {
    super(message, options);
    this.name = 'PocketvecError';
    this.code = code;
  }
}

/** The error for a negative status from the bindings (-errc), with the C++ message. */
export function errorFromStatus(status, message) {
  const code = status === STATUS_INTERNAL ? 'internal_error' : (ERRC_NAMES[-status] ?? 'internal_error');
  return new PocketvecError(code, message);
}
