"""Errors that modeltool reports to users.

Every message reads ``<path>: <problem>. <hint>`` on one line. Each class carries the exit
code the CLI uses: 1 when an operation ran but its check failed, 2 for bad usage or
unreadable input. Anything that is not a ModelToolError is a bug (exit 3).
"""

from __future__ import annotations

import os


class ModelToolError(Exception):
    """Base class: a problem the user can act on."""

    exit_code = 2

    def __init__(self, message: str, *, path: str | os.PathLike[str] | None = None,
                 hint: str | None = None) -> None:
        self.problem = message.rstrip(".")
        self.path = os.fspath(path) if path is not None else None
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        text = f"{self.path}: {self.problem}" if self.path else self.problem
        if self.hint:
            hint = self.hint.rstrip(".")
            text += f". {hint[:1].upper()}{hint[1:]}"
        return " ".join(text.split("\n"))  # always one line


class InputNotFoundError(ModelToolError):
    """The input path does not exist."""


class UnknownFormatError(ModelToolError):
    """The file is not any Keras file kind modeltool knows."""


class CorruptFileError(ModelToolError):
    """The file is of a known kind but truncated, damaged or inconsistent."""


class IntegrityError(CorruptFileError):
    """Stored bytes do not match the checksum the file records for them (CRC-32, Fletcher32)."""


class UnsafeContentError(ModelToolError):
    """The file asks for something modeltool never does (code execution, links outside it)."""


class UnsupportedError(ModelToolError):
    """The file is valid but uses something modeltool cannot handle (yet)."""


class UnsupportedLayerError(UnsupportedError):
    """A layer class that neither modeltool nor Keras knows."""


class OutputExistsError(ModelToolError):
    """The output exists and --force was not given."""


class MissingDependencyError(ModelToolError):
    """An optional heavy package (tensorflow, tf2onnx, ...) is not installed."""


class KerasError(ModelToolError):
    """Keras itself refused the model (building, loading or saving it)."""


class WeightMismatchError(ModelToolError):
    """Weights do not fit the architecture (check failed)."""

    exit_code = 1


class VerificationError(ModelToolError):
    """A converted model does not compute what the source computes."""

    exit_code = 1
