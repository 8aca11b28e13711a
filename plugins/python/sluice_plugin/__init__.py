"""Sluice plugin helper for Python transforms (componentize-py).

A batch crosses the WebAssembly boundary as one byte arena plus two flat lists of
u32 words that point into it (see wit/types.wit). This package hides that layout:
plugin code sees plain `Record`s and returns records, `reject(...)` or `retry(...)`
per input.

Write a plugin module like this and build it with build.sh::

    from sluice_plugin import ConfigError, define_transformer, reject

    def open(config):            # a Config: config.required("k"), config.optional("k", "x")
        ...                      # raise ConfigError(key, message) when a value is bad

    def transform(record):       # one input record
        return record            # or [records] ([] drops), None (drops),
                                 # reject(reason), retry(reason)

    Transformer = define_transformer(open, transform)
"""

from .batch import (
    BatchBuilder,
    BatchError,
    Config,
    ConfigError,
    Record,
    RetryableError,
    decode_batch,
    define_transformer,
    encode_batch,
    reject,
    retry,
    validate_batch,
)
from .log import log

__all__ = [
    "BatchBuilder",
    "BatchError",
    "Config",
    "ConfigError",
    "Record",
    "RetryableError",
    "decode_batch",
    "define_transformer",
    "encode_batch",
    "log",
    "reject",
    "retry",
    "validate_batch",
]
