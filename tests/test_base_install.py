"""``pip install modeltool`` without extras: a fresh virtual environment that sees only the base
dependencies (the closure of ``[project].dependencies`` from this venv's site-packages, exposed
through a ``.pth``) and the source tree. TensorFlow, Keras, tf_keras, onnx and onnxruntime are
not importable there.

Offline: ``python -m venv --without-pip`` and symbolic links, nothing is downloaded. In that
environment ``summary``, ``weights``, ``config``, ``check``, ``freeze`` and ``load-weights`` run
on ``.h5``, ``.keras``, JSON and YAML fixtures and report what the full install reports; the
files ``freeze`` and ``load-weights`` write load in Keras with the flags and weights the full
install's outputs hold; ``to-onnx`` says in one line which extra to install.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from modeltool.cli import main
from tests.conftest import ROOT

MODELS = ROOT / "fixtures" / "models"
HEAVY = ("tensorflow", "keras", "tf_keras", "tf2onnx", "onnx", "onnxruntime")


def _requirement_name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert match is not None, requirement
    return match.group(0)


def _base_distributions() -> set[str]:
    """The installed distributions the base install needs: modeltool's dependencies,
    recursively (requirements behind an extra are left out)."""
    todo = ["modeltool"]
    seen: set[str] = set()
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name in seen:
            continue
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            continue
        seen.add(name)
        for req in dist.requires or []:
            if "extra ==" not in req:
                todo.append(_requirement_name(req))
    seen.discard("modeltool")  # the source tree is exposed instead
    return seen


@pytest.fixture(scope="session")
def base_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv whose only third-party packages are the base dependencies."""
    root = tmp_path_factory.mktemp("base-install")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    exposed = root / "exposed"
    exposed.mkdir()
    for name in _base_distributions():
        dist = distribution(name)
        tops = {Path(str(f)).parts[0] for f in dist.files or []
                if not str(f).startswith("..")}
        for top in tops:
            source = Path(str(dist.locate_file(top)))
            if source.exists() and not (exposed / top).exists():
                (exposed / top).symlink_to(source)
    (exposed / "modeltool").symlink_to(ROOT / "modeltool")
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True, capture_output=True, text=True).stdout.strip()
    (Path(site) / "modeltool_base.pth").write_text(f"{exposed}\n")
    return python


def _run(python: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["COLUMNS"] = "200"
    return subprocess.run([str(python), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def _modeltool(python: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return _run(python, "-m", "modeltool", *args, cwd=cwd)


def _full_install(*args: str) -> Any:
    """The same command in this (full) environment, as JSON."""
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_the_heavy_packages_are_not_importable(base_python: Path, tmp_path: Path) -> None:
    code = ("import importlib.util, modeltool\n"
            f"print([m for m in {HEAVY!r} if importlib.util.find_spec(m)])\n"
            "print(modeltool.__file__)")
    result = _run(base_python, "-c", code, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    found, where = result.stdout.split("\n")[:2]
    assert found == "[]"
    assert Path(where).resolve().is_relative_to((ROOT / "modeltool").resolve())


REPORTS = [
    ("summary", "news_model.k2.h5"), ("summary", "byname_target.k3.keras"),
    ("summary", "batchnorm_cnn.k3.json"), ("summary", "mnist_mlp.k3.yaml"),
    ("weights", "news_model.k2.h5"), ("weights", "byname_target.k3.keras"),
    ("config", "batchnorm_cnn.k3.yaml"), ("config", "news_model.k2.h5"),
    ("check", "news_model.k2.h5"), ("check", "byname_target.k3.keras"),
    ("check", "batchnorm_cnn.k2.json"), ("check", "mnist_mlp.k3.yaml"),
]


def test_reports_match_the_full_install(base_python: Path, tmp_path: Path) -> None:
    for command, name in REPORTS:
        path = str(MODELS / name)
        result = _modeltool(base_python, command, path, "--json", cwd=tmp_path)
        assert result.returncode == 0, (command, name, result.stderr)
        assert "Traceback" not in result.stderr
        assert json.loads(result.stdout) == _full_install(command, path), (command, name)


def test_freeze_and_load_weights_write_what_the_full_install_writes(
        base_python: Path, tmp_path: Path, keras: Any) -> None:
    runs = [("freeze", str(MODELS / "byname_target.k3.keras"), "--all-but-last", "1"),
            ("freeze", str(MODELS / "news_model.k3.h5"), "--layers", "*lstm*"),
            ("load-weights", str(MODELS / "byname_target.k3.keras"),
             str(MODELS / "byname_source.k3.keras"))]
    for i, (command, *args) in enumerate(runs):
        suffix = Path(args[0]).suffix
        light, full = tmp_path / f"light{i}{suffix}", tmp_path / f"full{i}{suffix}"
        result = _modeltool(base_python, command, *args, "-o", str(light), cwd=tmp_path)
        assert result.returncode == 0, (command, result.stderr)
        _full_install(command, *args, "-o", str(full))
        light_model = keras.models.load_model(light, compile=False)
        full_model = keras.models.load_model(full, compile=False)
        assert [(layer.name, layer.trainable) for layer in light_model.layers] == \
            [(layer.name, layer.trainable) for layer in full_model.layers], command
        for a, b in zip(light_model.weights, full_model.weights, strict=True):
            assert a.path == b.path and np.array_equal(np.asarray(a), np.asarray(b)), a.path
        if command == "freeze":
            assert not all(layer.trainable for layer in light_model.layers)
        else:  # some weights came from the source
            target = keras.models.load_model(args[0], compile=False)
            assert any(not np.array_equal(np.asarray(a), np.asarray(b))
                       for a, b in zip(light_model.weights, target.weights, strict=True))


def test_to_onnx_names_the_extra_in_one_line(base_python: Path, tmp_path: Path) -> None:
    source = str(MODELS / "byname_target.k3.keras")
    result = _modeltool(base_python, "to-onnx", source, "-o", str(tmp_path / "m.onnx"),
                        cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "pip install 'modeltool[export]'" in lines[0].lower() and "tensorflow" in lines[0]
    assert not (tmp_path / "m.onnx").exists()
