// {{name}}: a Sluice transform in JavaScript (QuickJS, built with componentize-qjs).
//
// config:  tag  (optional, default "{{name}}") the value of the header it adds
// per record: null value (tombstone) -> passed through unchanged
//             empty value            -> rejected with "empty value" (the pipeline's
//                                       `errors:` policy decides: fail, skip, dead-letter)
//             anything else          -> passed through with one more header,
//                                       `tagged-by: <tag>`
// Key, value, other headers, timestamp and topic/partition overrides are kept.

import { defineTransformer, reject, bytes } from '../lib/sluice.js';

let tag = new Uint8Array(0);

export const transformer = defineTransformer({
  // Once per instance, before any batch. A missing required key or an unknown key
  // fails here with a ConfigError naming it.
  open(config) {
    tag = bytes(config.optional('tag', '{{name}}'));
  },

  // Once per input record. Return the record (emit it), an array of records
  // ([] drops it), null (drops it), reject(reason) or retry(reason).
  transform(record) {
    if (record.value === null) return record;
    if (record.value.length === 0) return reject('empty value');
    record.headers = [...record.headers, ['tagged-by', tag]];
    return record;
  },
});
