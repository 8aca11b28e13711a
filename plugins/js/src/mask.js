// mask: replaces one top-level field of a JSON object value with a fixed string.
//
// config:  field        (required) the top-level JSON key to mask
//          replacement  (optional, default "***") the string written instead
// per record: null value -> unchanged; value not a JSON object -> reject;
//             field missing -> unchanged (same bytes); else the value re-serialized
//             compactly (key order kept) with the field's value replaced.

import { defineTransformer, reject } from '../lib/sluice.js';
import { JsonObject } from '../lib/json.js';

let field = '';
let replacement = '***';

export const transformer = defineTransformer({
  open(config) {
    field = config.required('field');
    replacement = config.optional('replacement', '***');
  },

  transform(record) {
    if (record.value === null) return record;
    const doc = JsonObject.parse(record.value);
    if (doc === null) return reject('value is not a JSON object');
    if (!doc.has(field)) return record;
    doc.setString(field, replacement);
    record.value = doc.toBytes();
    return record;
  },
});
