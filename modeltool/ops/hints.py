"""Hints that are commands: what an error suggests is a ``modeltool`` command line that works
for the file at hand (tests/cli/test_hints.py runs each one). Commands are written between
backticks; ``ARCH`` and ``WEIGHTS`` stand for a file only the user can name (the architecture
a weights-only file belongs to, the weights an architecture goes with), and nothing else is a
placeholder."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from ..artifact import ModelArtifact

PathLike = str | os.PathLike[str]

#: The placeholders a hint may hold: files only the user can name.
ARCH = "ARCH"
WEIGHTS = "WEIGHTS"


def command(*args: str) -> str:
    """``modeltool ARGS`` quoted for a POSIX shell, between backticks."""
    return "`" + shlex.join(["modeltool", *args]) + "`"


def beside(path: PathLike, suffix: str) -> str:
    """A new file name in the current folder for an output made from ``path``."""
    name = Path(os.fspath(path).rstrip("/")).name
    for ending in (".weights.h5", ".savedmodel", ".keras", ".hdf5", ".h5", ".json", ".yaml",
                   ".yml", ".onnx"):
        if name.lower().endswith(ending):
            name = name[:-len(ending)]
            break
    stem = name.replace(".", "_") or "model"
    return f"{stem}{suffix}"


def to_keras_archive(artifact: ModelArtifact, path: PathLike) -> str:
    """How to turn ``artifact`` (read from ``path``) into a ``.keras`` model file."""
    source = os.fspath(path)
    out = beside(path, ".keras")
    if artifact.config is None:
        return ("a weights-only file needs the architecture it belongs to: "
                + command("convert", ARCH, "--weights", source, "-o", out))
    if not artifact.weights:
        return ("give it weights: "
                + command("convert", source, "--weights", WEIGHTS, "-o", out)
                + " pairs it with a weights file; "
                + command("convert", source, "--init", "-o", out) + " builds fresh ones")
    return "convert it first: " + command("convert", source, "-o", out)


def weights_alone(path: PathLike, *, pairable: bool = True) -> str:
    """How to keep the weights of a file that has no architecture (``pairable``: its weights
    are named by layer, so ``convert ARCH --weights`` takes them)."""
    source = os.fspath(path)
    text = "write its weights alone: " + command(
        "convert", source, "-o", beside(path, ".weights_k2.h5"), "--to", "k2-weights")
    if pairable:
        text += ", or pair it with its architecture: " + command(
            "convert", ARCH, "--weights", source, "-o", beside(path, ".keras"))
    return text
