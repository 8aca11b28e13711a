"""{{name}}: a Sluice transform in Python (built with componentize-py).

config:  tag  (optional, default "{{name}}") the value of the header it adds
per record: null value (tombstone) -> passed through unchanged
            empty value            -> rejected with "empty value" (the pipeline's
                                      `errors:` policy decides: fail, skip, dead-letter)
            anything else          -> passed through with one more header,
                                      `tagged-by: <tag>`
Key, value, other headers, timestamp and topic/partition overrides are kept.
"""

from sluice_plugin import define_transformer, reject

_tag = b""
_EMPTY = reject("empty value")


def open(config):
    """Once per instance, before any batch. A missing required key or an unknown
    key fails here with a ConfigError naming it."""
    global _tag
    _tag = config.optional("tag", "{{name}}").encode()


def transform(record):
    """Once per input record. Return the record (emit it), a list of records
    ([] drops it), None (drops it), reject(reason) or retry(reason)."""
    if record.value is None:
        return record
    if not record.value:
        return _EMPTY
    record.headers = (*record.headers, ("tagged-by", _tag))
    return record


Transformer = define_transformer(open, transform)
