"""Broken and hostile safetensors / npz files: one line naming the file, exit 2, never 3,
nothing unpickled, no huge allocation."""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import modeltool
from modeltool.cli import main
from tests.conftest import fixture_path
from tests.hostile.corpus import FILE, Case, judge

GOOD = fixture_path("mnist_mlp_small", "k3.keras")


def _cases(folder: Path) -> list[Case]:
    st = Path(modeltool.convert(GOOD, folder / "good.safetensors").output)
    npz = Path(modeltool.convert(GOOD, folder / "good.npz").output)
    data = st.read_bytes()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + header_len])
    cases = []

    def add(name: str, content: bytes) -> None:
        (folder / name).write_bytes(content)
        cases.append(Case(name, folder / name, FILE))

    add("st_truncated.safetensors", data[: len(data) - 1000])
    add("st_huge_length.safetensors", struct.pack("<Q", 1 << 60) + data[8:])
    bad = dict(header)
    first = next(k for k in bad if k != "__metadata__")
    bad[first] = {**bad[first], "data_offsets": [0, 1 << 40]}
    text = json.dumps(bad).encode()
    add("st_bad_offsets.safetensors", struct.pack("<Q", len(text)) + text + data[8 + header_len:])
    lying = dict(header)
    lying["__metadata__"] = {**header["__metadata__"],
                             "weights": json.dumps([["nope", "a", "a", "b"]])}
    text = json.dumps(lying).encode()
    add("st_lying_metadata.safetensors",
        struct.pack("<Q", len(text)) + text + data[8 + header_len:])

    pickled = folder / "pickled.npz"
    np.savez(pickled, x=np.array([object()], dtype=object))
    cases.append(Case(pickled.name, pickled, FILE))
    huge = folder / "npz_huge_shape.npz"
    with zipfile.ZipFile(huge, "w") as archive, archive.open("dense/kernel.npy", "w") as member:
        np.lib.format.write_array_header_1_0(member, {"descr": "<f4", "fortran_order": False,
                                                      "shape": (100000, 100000)})
        member.write(b"\0" * 64)
    cases.append(Case(huge.name, huge, FILE))
    with zipfile.ZipFile(npz) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    meta = folder / "npz_bad_metadata.npz"
    with zipfile.ZipFile(meta, "w") as archive:
        for name, content in members.items():
            if name == "__metadata__.npy":
                with archive.open(name, "w") as member:
                    np.lib.format.write_array(member, np.array("{not json"), allow_pickle=False)
            else:
                archive.writestr(name, content)
    cases.append(Case(meta.name, meta, FILE))
    add("npz_truncated.npz", npz.read_bytes()[: npz.stat().st_size // 3])
    return cases


COMMANDS = {
    "weights-stats": lambda path: ["weights", str(path), "--stats"],
    "diff": lambda path: ["diff", str(GOOD), str(path)],
    "check": lambda path: ["check", str(path)],
    "load-weights": lambda path: ["load-weights", str(GOOD), str(path), "--by-name",
                                  "--dry-run"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_broken_flat_files(command: str, tmp_path: Path) -> None:
    problems = []
    for case in _cases(tmp_path):
        result = CliRunner().invoke(main, COMMANDS[command](case.path))
        problems += judge(case, result.exit_code, result.stderr, result.output, [], True)
    assert not problems, "\n".join(problems)
