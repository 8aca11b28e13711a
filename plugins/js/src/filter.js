// filter: drops records whose top-level JSON field equals a configured text.
//
// config:  field   (required) the top-level JSON key to compare
//          equals  (required) the field matches when its text equals this: a string's
//                  text, a number as serde_json writes it (42, 1.5, 1e+21), true,
//                  false or null; arrays and objects never match
// per record: null value -> kept; value not a JSON object -> reject; match -> dropped
//             (emit count 0); otherwise kept unchanged (same bytes).
// The value is checked like the Rust filter does (JsonObject.field): the whole text
// must be one JSON object; the wanted field is fully checked, other values for syntax.

import { defineTransformer, reject } from '../lib/sluice.js';
import { field as findField } from '../lib/json.js';

let field = '';
let equals = '';
const NOT_OBJECT = reject('value is not a JSON object');

export const transformer = defineTransformer({
  open(config) {
    field = config.required('field');
    equals = config.required('equals');
  },

  transform(record) {
    if (record.value === null) return record;
    const found = findField(record.value, field);
    if (found === null) return NOT_OBJECT;
    return found.text !== undefined && found.text === equals ? [] : record;
  },
});
