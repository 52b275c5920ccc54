"""Quiet TensorFlow, absl and tf2onnx: their log records and warnings are kept off stderr."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator


class LogCollector(logging.Handler):
    """Keeps tf2onnx's error messages (for the error we raise) instead of printing them."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            self.messages.append(" ".join(record.getMessage().split())[:300])

    @contextlib.contextmanager
    def attached(self, name: str) -> Iterator[None]:
        logger = logging.getLogger(name)
        logger.addHandler(self)
        try:
            yield
        finally:
            logger.removeHandler(self)


@contextlib.contextmanager
def quiet_tf() -> Iterator[None]:
    """TensorFlow, absl and tf2onnx log to stderr freely: silence them (and their warnings)."""
    loggers = {name: logging.getLogger(name) for name in ("tensorflow", "tf2onnx", "absl")}
    saved = {name: (lg.level, lg.propagate, list(lg.handlers)) for name, lg in loggers.items()}
    for logger in loggers.values():
        logger.setLevel(logging.ERROR)
        logger.propagate = False
        for handler in list(logger.handlers):
            if not isinstance(handler, LogCollector):
                logger.removeHandler(handler)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for name, logger in loggers.items():
            level, propagate, handlers = saved[name]
            logger.setLevel(level)
            logger.propagate = propagate
            for handler in handlers:
                if handler not in logger.handlers:
                    logger.addHandler(handler)
