"""Logging into the host's structured log (the host adds pipeline, stage, plugin)."""

from wit_world.imports import log as _wit_log


class _Log:
    """`log.info("...")` and friends; messages are plain strings."""

    __slots__ = ()

    def debug(self, message: str) -> None:
        _wit_log.emit(_wit_log.Level.DEBUG, str(message))

    def info(self, message: str) -> None:
        _wit_log.emit(_wit_log.Level.INFO, str(message))

    def warn(self, message: str) -> None:
        _wit_log.emit(_wit_log.Level.WARN, str(message))

    def error(self, message: str) -> None:
        _wit_log.emit(_wit_log.Level.ERROR, str(message))


log = _Log()
