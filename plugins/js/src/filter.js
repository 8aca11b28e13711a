// filter: drops records whose top-level JSON field equals a configured value.
//
// config:  field   (required) the top-level JSON key to compare
//          equals  (required) a string field matches when its text is `equals`; a
//                  number field when `equals` is the same number (compared as
//                  doubles: `42` matches 42 and 42.0); true, false and null when
//                  `equals` is `true`, `false` or `null`; arrays and objects never
// per record: null value -> kept; value not a JSON object (or not UTF-8) -> reject;
//             match -> dropped (emit count 0); otherwise kept unchanged (same bytes).
//
// Example code: it uses the language's own JSON (JSON.parse).

import { defineTransformer, reject, text } from '../lib/sluice.js';

let field = '';
let equals = '';
let equalsNumber = null;
const NOT_OBJECT = reject('value is not a JSON object');

/** `equals` read as a JSON number, or null when it is not one. */
function asNumber(s) {
  try {
    const v = JSON.parse(s);
    return typeof v === 'number' ? v : null;
  } catch (_) {
    return null;
  }
}

function matches(v) {
  if (typeof v === 'string') return v === equals;
  if (typeof v === 'number') return equalsNumber !== null && v === equalsNumber;
  if (typeof v === 'boolean') return equals === String(v);
  return v === null && equals === 'null';
}

export const transformer = defineTransformer({
  open(config) {
    field = config.required('field');
    equals = config.required('equals');
    equalsNumber = asNumber(equals);
  },

  transform(record) {
    if (record.value === null) return record;
    let doc;
    try {
      doc = JSON.parse(text(record.value));
    } catch (_) {
      return NOT_OBJECT;
    }
    if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return NOT_OBJECT;
    if (!Object.prototype.hasOwnProperty.call(doc, field)) return record;
    return matches(doc[field]) ? [] : record;
  },
});
