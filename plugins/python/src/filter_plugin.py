"""filter: drops records whose top-level JSON field equals a configured value.

config:  field   (required) the top-level JSON key to compare
         equals  (required) a string field matches when its text is `equals`; a
                 number field when `equals` is the same number (compared as
                 doubles: `42` matches 42 and 42.0); true, false and null when
                 `equals` is `true`, `false` or `null`; arrays and objects never
per record: null value -> kept; value not a JSON object (or not UTF-8) -> reject;
            match -> dropped (emit count 0); otherwise kept unchanged (same bytes).

Example code: it uses Python's own json module.
"""

import json

from sluice_plugin import define_transformer, reject

_field = ""
_equals = ""
_equals_number = None
_NOT_OBJECT = reject("value is not a JSON object")


def _no_constant(name):
    raise ValueError(f"{name} is not JSON")


def _as_double(v):
    """A JSON number as the double JavaScript or Go would read, or None."""
    try:
        return float(v)
    except OverflowError:
        return None


# Made once: json.loads with arguments builds a new decoder on every call.
_DECODER = json.JSONDecoder(parse_constant=_no_constant)


def open(config):
    global _field, _equals, _equals_number
    _field = config.required("field")
    _equals = config.required("equals")
    try:
        n = json.loads(_equals, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        n = None
    _equals_number = _as_double(n) if isinstance(n, (int, float)) and not isinstance(n, bool) else None


def _matches(v):
    if isinstance(v, str):
        return v == _equals
    if isinstance(v, bool):
        return _equals == ("true" if v else "false")
    if isinstance(v, (int, float)):
        return _equals_number is not None and _as_double(v) == _equals_number
    return v is None and _equals == "null"


def transform(record):
    value = record.value
    if value is None:
        return record
    try:
        doc = _DECODER.decode(value.decode("utf-8"))
    except (ValueError, RecursionError):
        return _NOT_OBJECT
    if not isinstance(doc, dict):
        return _NOT_OBJECT
    if _field not in doc:
        return record
    return None if _matches(doc[_field]) else record


Transformer = define_transformer(open, transform)
