"""Every command on every hostile input: one line naming the file, exit 2 (never 3), no
traceback, bounded time, and nothing from the file executed."""

from __future__ import annotations

import resource
from pathlib import Path

import pytest
from click.testing import CliRunner

from modeltool.cli import main
from tests.conftest import fixture_path
from tests.hostile.corpus import MARKER, Case, build_corpus, judge


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Case]:
    return build_corpus(tmp_path_factory.mktemp("hostile"))


COMMANDS = {
    "weights": lambda path, out: ["weights", str(path)],
    "weights-stats": lambda path, out: ["weights", str(path), "--stats"],
    "config": lambda path, out: ["config", str(path)],
    "convert": lambda path, out: ["convert", str(path), "-o", str(out)],
    "convert-init": lambda path, out: ["convert", str(path), "-o", str(out), "--init"],
    "summary": lambda path, out: ["summary", str(path)],
    "summary-json": lambda path, out: ["summary", str(path), "--json", "--expand-nested"],
    "check": lambda path, out: ["check", str(path)],
    "to-onnx": lambda path, out: ["to-onnx", str(path), "-o", str(out.with_suffix(".onnx"))],
    "diff": lambda path, out: ["diff", str(fixture_path("mnist_mlp_small", "k3.keras")),
                               str(path)],
    "plot": lambda path, out: ["plot", str(path), "-o", str(out.with_suffix(".svg")),
                               "--expand-nested", "--shapes"],
    "report": lambda path, out: ["report", str(path), "-o", str(out.with_suffix(".html"))],
}
#: Commands that use the model as a whole, so must refuse an inconsistent one.
#: (summary shows an inconsistent model, with a note on what does not fit.)
USES_MODEL = {"convert", "convert-init", "check", "to-onnx"}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_on_every_case(command: str, corpus: list[Case], tmp_path: Path) -> None:
    folder = corpus[0].path.parent
    problems = []
    # ru_maxrss is a high-water mark: if it rose by less than 1 GB over the whole loop, no
    # single case used more than 1 GB on top of what the process held before.
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for case in corpus:
        out = tmp_path / f"{case.name}.out.keras"
        result = CliRunner().invoke(main, COMMANDS[command](case.path, out))
        problems += judge(case, result.exit_code, result.stderr, result.output,
                          [out, out.with_suffix(".onnx")], command in USES_MODEL)
        if (folder / MARKER).exists():
            problems.append(f"{case.name}: CODE FROM THE FILE WAS EXECUTED")
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
    assert grown_mb < 1024, f"peak RSS grew {grown_mb:.0f} MB"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".modeltool-tmp")]
    assert not leftovers, leftovers
    assert not problems, "\n".join(problems)
