// mask: replaces one top-level field of a JSON object value with a fixed string.
//
// config:  field        (required) the top-level JSON key to mask
//          replacement  (optional, default "***") the string written instead
// per record: null value -> unchanged; value not a JSON object (or not UTF-8) ->
//             reject; field missing -> unchanged (same bytes); else the value
//             written back with JSON.stringify, the field's value replaced.
//
// Example code: it uses the language's own JSON (JSON.parse / JSON.stringify), so
// numbers are doubles and the output is JavaScript's serialization of the same
// JSON value, not byte for byte the Rust example's.

import { bytes, defineTransformer, reject, text } from '../lib/sluice.js';

let field = '';
let replacement = '***';
const NOT_OBJECT = reject('value is not a JSON object');

/** The JSON object in `value`, or null when it is not UTF-8 JSON or not an object. */
function parseObject(value) {
  let doc;
  try {
    doc = JSON.parse(text(value));
  } catch (_) {
    return null;
  }
  return doc !== null && typeof doc === 'object' && !Array.isArray(doc) ? doc : null;
}

export const transformer = defineTransformer({
  open(config) {
    field = config.required('field');
    replacement = config.optional('replacement', '***');
  },

  transform(record) {
    if (record.value === null) return record;
    const doc = parseObject(record.value);
    if (doc === null) return NOT_OBJECT;
    if (!Object.prototype.hasOwnProperty.call(doc, field)) return record;
    // defineProperty, not assignment: a key such as `__proto__` is data here.
    Object.defineProperty(doc, field, { value: replacement, enumerable: true, writable: true, configurable: true });
    record.value = bytes(JSON.stringify(doc));
    return record;
  },
});
