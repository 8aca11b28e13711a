"""mask: replaces one top-level field of a JSON object value with a fixed string.

config:  field        (required) the top-level JSON key to mask
         replacement  (optional, default "***") the string written instead
per record: null value -> unchanged; value not a JSON object (or not UTF-8) ->
            reject; field missing -> unchanged (same bytes); else the value written
            back compactly with json.dumps, the field's value replaced.

Example code: it uses Python's own json module, so the output is Python's
serialization of the same JSON value, not byte for byte the Rust example's.
"""

import json

from sluice_plugin import define_transformer, reject

_field = ""
_replacement = "***"
_NOT_OBJECT = reject("value is not a JSON object")


def _no_constant(name):
    # json accepts NaN and Infinity, which are not JSON.
    raise ValueError(f"{name} is not JSON")


def open(config):
    global _field, _replacement
    _field = config.required("field")
    _replacement = config.optional("replacement", "***")


def transform(record):
    value = record.value
    if value is None:
        return record
    try:
        doc = json.loads(value.decode("utf-8"), parse_constant=_no_constant)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return _NOT_OBJECT
    if not isinstance(doc, dict):
        return _NOT_OBJECT
    if _field not in doc:
        return record
    doc[_field] = _replacement
    try:
        out = json.dumps(doc, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        record.value = out.encode("utf-8")
    except (ValueError, RecursionError):  # inf from 1e400; a lone surrogate
        return _NOT_OBJECT
    return record


Transformer = define_transformer(open, transform)
