"""mask: replaces one top-level field of a JSON object value with a fixed string.

config:  field        (required) the top-level JSON key to mask
         replacement  (optional, default "***") the string written instead
per record: null value -> unchanged; value not a JSON object -> reject;
            field missing -> unchanged (same bytes); else the value re-serialized
            compactly (key order kept) with the field's value replaced.
"""

from sluice_plugin import define_transformer, reject
from sluice_plugin.serde_json import JsonObject

_field = ""
_replacement = "***"
_NOT_OBJECT = reject("value is not a JSON object")


def open(config):
    global _field, _replacement
    _field = config.required("field")
    _replacement = config.optional("replacement", "***")


def transform(record):
    value = record.value
    if value is None:
        return record
    doc = JsonObject.parse(value)
    if doc is None:
        return _NOT_OBJECT
    if not doc.has(_field):
        return record
    doc.set_string(_field, _replacement)
    record.value = doc.to_bytes()
    return record


Transformer = define_transformer(open, transform)
