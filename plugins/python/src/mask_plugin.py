"""mask: replaces one top-level field of a JSON object value with a fixed string.

config:  field        (required) the top-level JSON key to mask
         replacement  (optional, default "***") the string written instead
per record: null value -> unchanged; value not a JSON object (or not UTF-8) ->
            reject; field missing -> unchanged (same bytes); else the field's
            value replaced: spliced into the original bytes when its place is
            certain (see _splice), else the value written back compactly with
            json.dumps.

Example code: it checks values with Python's own json module, so the output is
the same JSON value as the Rust example's, not always the same bytes.
"""

import json
import re

from sluice_plugin import define_transformer, reject

_field = ""
_replacement = "***"
_needle = None  # b'"field"' when the field needs no escaping, else None
_replacement_json = b'"***"'
_NOT_OBJECT = reject("value is not a JSON object")
# A number, true, false or null: up to the next delimiter.
_SCALAR = re.compile(rb"[^,}\]\s]*")
_SPACE = re.compile(rb"[ \t\n\r]*")
_WHITE = b" \t\n\r"


def _no_constant(name):
    # json accepts NaN and Infinity, which are not JSON.
    raise ValueError(f"{name} is not JSON")


# Made once: json.loads / json.dumps with arguments build a new decoder or
# encoder (and its C scanner) on every call.
_DECODER = json.JSONDecoder(parse_constant=_no_constant)
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def open(config):
    global _field, _replacement, _needle, _replacement_json
    _field = config.required("field")
    _replacement = config.optional("replacement", "***")
    key = json.dumps(_field, ensure_ascii=False)
    _needle = key.encode("utf-8") if key == f'"{_field}"' else None
    _replacement_json = json.dumps(_replacement, ensure_ascii=False).encode("utf-8")


def _splice(value):
    """The value with the field's value replaced, spliced into the bytes `value` (a
    JSON object that has the field), or None when its place is not certain. Certain
    when `value` has no backslash (so every quote delimits a string) and the field's
    quoted name occurs once: that occurrence is then the top-level key (another key
    of that name, at any depth, would be another occurrence). Values that are objects
    or arrays are left to json.dumps."""
    needle = _needle
    if needle is None or b"\\" in value:
        return None
    at = value.find(needle)
    if at < 0 or value.find(needle, at + len(needle)) >= 0:
        return None
    # Compact JSON first (plain index checks); whitespace through the regex.
    i = at + len(needle)
    if value[i] != 0x3A:  # ':'
        i = _SPACE.match(value, i).end()
        if value[i] != 0x3A:
            return None
    start = i + 1
    c = value[start]
    if c in _WHITE:
        start = _SPACE.match(value, start).end()
        c = value[start]
    if c == 0x22:  # '"': the next quote closes it
        end = value.find(b'"', start + 1) + 1
        if end == 0:
            return None
    elif c == 0x7B or c == 0x5B:  # '{' '['
        return None
    else:
        end = _SCALAR.match(value, start).end()
    return value[:start] + _replacement_json + value[end:]


def transform(record):
    value = record.value
    if value is None:
        return record
    try:
        doc = _DECODER.decode(value.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return _NOT_OBJECT
    if not isinstance(doc, dict):
        return _NOT_OBJECT
    if _field not in doc:
        return record
    spliced = _splice(value)
    if spliced is not None:
        record.value = spliced
        return record
    doc[_field] = _replacement
    try:
        out = _ENCODER.encode(doc)
        record.value = out.encode("utf-8")
    except (ValueError, RecursionError):  # inf from 1e400; a lone surrogate
        return _NOT_OBJECT
    return record


Transformer = define_transformer(open, transform)
