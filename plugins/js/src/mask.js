// mask: replaces one top-level field of a JSON object value with a fixed string.
//
// config:  field        (required) the top-level JSON key to mask
//          replacement  (optional, default "***") the string written instead
// per record: null value -> unchanged; value not a JSON object (or not UTF-8) ->
//             reject; field missing -> unchanged (same bytes); else the field's
//             value replaced: spliced into the original text when that is
//             unambiguous (see splice), else the value written back with
//             JSON.stringify.
//
// Example code: it uses the language's own JSON (JSON.parse checks every value),
// so the output is the same JSON value as the Rust example's, not always the
// same bytes.

import { bytes, defineTransformer, reject, text } from '../lib/sluice.js';

let field = '';
let replacement = '***';
let needle = null; // '"field"' when the field needs no escaping, else null
let replacementJson = '"***"';
let replacementBytes = bytes(replacementJson);
const NOT_OBJECT = reject('value is not a JSON object');
const hasOwn = Object.prototype.hasOwnProperty;

/** The JSON object in the text `s`, or null when it is not JSON or not an object. */
function parseObject(s) {
  let doc;
  try {
    doc = JSON.parse(s);
  } catch (_) {
    return null;
  }
  return doc !== null && typeof doc === 'object' && !Array.isArray(doc) ? doc : null;
}

/**
 * The value with the field's value replaced, spliced into `s` (the text of the
 * UTF-8 bytes `value`, a JSON object that has the field), or null when the place
 * is not certain. Certain when `s` has no backslash (so every quote delimits a
 * string) and the field's quoted name occurs once: that occurrence is then the
 * top-level key (another key of that name, at any depth, would be another
 * occurrence). Values that are objects or arrays are left to JSON.stringify.
 * The result is the same JSON value as JSON.stringify's, with the other bytes
 * as they were.
 */
function splice(s, value) {
  if (needle === null || s.indexOf('\\') >= 0) return null;
  const at = s.indexOf(needle);
  if (at < 0 || s.indexOf(needle, at + needle.length) >= 0) return null;
  // Compact JSON needs no skipSpace call.
  let i = at + needle.length;
  if (s.charCodeAt(i) !== 0x3a) { // ':'
    i = skipSpace(s, i);
    if (s.charCodeAt(i) !== 0x3a) return null;
  }
  let start = i + 1;
  let c = s.charCodeAt(start);
  if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
    start = skipSpace(s, start);
    c = s.charCodeAt(start);
  }
  let end;
  if (c === 0x22) { // '"': the next quote closes it
    end = s.indexOf('"', start + 1) + 1;
    if (end === 0) return null;
  } else if (c === 0x7b || c === 0x5b) { // '{' '['
    return null;
  } else { // a number, true, false or null: up to the next delimiter
    end = start + 1;
    for (let n = s.length; end < n; end++) {
      const d = s.charCodeAt(end);
      if (d === 0x2c || d === 0x7d || d === 0x20 || d === 0x0a || d === 0x0d || d === 0x09) break;
    }
  }
  if (s.length !== value.length) {
    // Not ASCII: string positions are not byte positions.
    return bytes(s.slice(0, start) + replacementJson + s.slice(end));
  }
  const out = new Uint8Array(value.length - (end - start) + replacementBytes.length);
  const buf = value.buffer, base = value.byteOffset;
  out.set(new Uint8Array(buf, base, start), 0);
  out.set(replacementBytes, start);
  out.set(new Uint8Array(buf, base + end, value.length - end), start + replacementBytes.length);
  return out;
}

function skipSpace(s, i) {
  for (;;) {
    const c = s.charCodeAt(i);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return i;
    i++;
  }
}

export const transformer = defineTransformer({
  open(config) {
    field = config.required('field');
    replacement = config.optional('replacement', '***');
    const key = JSON.stringify(field);
    needle = key === `"${field}"` ? key : null;
    replacementJson = JSON.stringify(replacement);
    replacementBytes = bytes(replacementJson);
  },

  transform(record) {
    if (record.value === null) return record;
    let s;
    try {
      s = text(record.value);
    } catch (_) {
      return NOT_OBJECT;
    }
    const doc = parseObject(s);
    if (doc === null) return NOT_OBJECT;
    if (!hasOwn.call(doc, field)) return record;
    const spliced = splice(s, record.value);
    if (spliced !== null) {
      record.value = spliced;
      return record;
    }
    // defineProperty, not assignment: a key such as `__proto__` is data here.
    Object.defineProperty(doc, field, { value: replacement, enumerable: true, writable: true, configurable: true });
    record.value = bytes(JSON.stringify(doc));
    return record;
  },
});
