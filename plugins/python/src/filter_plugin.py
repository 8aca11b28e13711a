"""filter: drops records whose top-level JSON field equals a configured text.

config:  field   (required) the top-level JSON key to compare
         equals  (required) the field matches when its text equals this: a string's
                 text, a number as serde_json writes it (42, 1.5, 1e+21), true, false
                 or null; arrays and objects never match
per record: null value -> kept; value not a JSON object -> reject; match -> dropped
            (emit count 0); otherwise kept unchanged (same bytes).
"""

from sluice_plugin import define_transformer, reject
from sluice_plugin.serde_json import field

_field = ""
_equals = ""
_NOT_OBJECT = reject("value is not a JSON object")


def open(config):
    global _field, _equals
    _field = config.required("field")
    _equals = config.required("equals")


def transform(record):
    value = record.value
    if value is None:
        return record
    accepted, found, text = field(value, _field)
    if not accepted:
        return _NOT_OBJECT
    return None if found and text == _equals else record


Transformer = define_transformer(open, transform)
