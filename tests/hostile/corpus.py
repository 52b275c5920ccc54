"""A corpus of hostile and broken inputs, built in a temporary folder at test time.

Each case says whether modeltool must refuse it (``must_fail``) or may also accept it (a bit flip
in weight data is still a valid file). Payload cases would create ``MARKER`` if anything in them
were executed.
"""

from __future__ import annotations

import base64
import json
import marshal
import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from tests.conftest import fixture_path

MARKER = "EXECUTED-MARKER"


#: How broken a case is: "file" (every command must refuse it), "model" (readable, but the
#: architecture or its weights are inconsistent: commands that use the model must refuse it),
#: "ok" (a command may accept it).
FILE, MODEL, OK = "file", "model", "ok"


@dataclass(frozen=True)
class Case:
    name: str
    path: Path
    level: str = FILE


def _payload_code(marker: Path) -> str:
    """Base64 marshalled code of a lambda that creates ``marker`` when called."""
    func = eval(f"lambda x: (open({str(marker)!r}, 'w').close(), x)[1]")  # noqa: S307
    return base64.b64encode(marshal.dumps(func.__code__)).decode("ascii")


def flip_weight_bit(source: Path, target: Path, layer_group: str = "batch_normalization",
                    bit: int = 0x20) -> Path:
    """A copy of a ``.keras`` archive with one bit flipped inside the first weight of a layer's
    HDF5 group (the archive still records the old CRC-32, as after a disk or transfer error):
    Keras refuses it ("Bad CRC-32")."""
    import io as _io

    data = bytearray(source.read_bytes())
    with zipfile.ZipFile(source) as archive:
        info = archive.getinfo("model.weights.h5")
        name_len, extra_len = np.frombuffer(
            bytes(data[info.header_offset + 26:info.header_offset + 30]), "<u2")
        start = info.header_offset + 30 + int(name_len) + int(extra_len)
        with h5py.File(_io.BytesIO(archive.read(info)), "r") as handle:
            offset = handle[f"layers/{layer_group}/vars/0"].id.get_offset()
    data[start + offset + 2] ^= bit
    target.write_bytes(bytes(data))
    return target


def build_corpus(folder: Path) -> list[Case]:
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / MARKER
    cases: list[Case] = []
    h5 = fixture_path("mnist_mlp_small", "k2.h5")
    keras_zip = fixture_path("mnist_mlp_small", "k3.keras")
    config_json = fixture_path("mnist_mlp_small", "k3.json")

    def add(name: str, level: str = FILE) -> Path:
        path = folder / name
        cases.append(Case(name, path, level))
        return path

    data = h5.read_bytes()
    for fraction in (0.0, 0.01, 0.05, 0.2, 0.5, 0.8, 0.99):
        add(f"truncated_{int(fraction * 100):02d}.h5").write_bytes(
            data[: max(1, int(len(data) * fraction))])
    for offset in (0, 9, 40, 100, 600, 2048, len(data) // 2, len(data) - 100):
        flipped = bytearray(data)
        flipped[offset] ^= 0xFF
        add(f"bitflip_{offset}.h5", FILE if offset < 100 else OK).write_bytes(bytes(flipped))
    with h5py.File(add("plain_hdf5.h5"), "w") as handle:
        handle.create_dataset("x", data=np.arange(3))
    (folder / "target.h5").write_bytes(data)
    for kind in ("soft", "external"):
        with h5py.File(add(f"{kind}_link.h5"), "w") as handle:
            handle.attrs["model_config"] = h5py.File(h5, "r").attrs["model_config"]
            weights = handle.create_group("model_weights")
            weights.attrs["layer_names"] = [b"dense"]
            if kind == "soft":
                handle.create_group("real")
                weights["dense"] = h5py.SoftLink("/real")
            else:
                weights["dense"] = h5py.ExternalLink(str(folder / "target.h5"), "/model_weights")
    with h5py.File(add("absurd_shape.h5"), "w") as handle:
        handle.attrs["layer_names"] = [b"dense"]
        group = handle.create_group("dense")
        group.attrs["weight_names"] = [b"dense/kernel:0"]
        group.create_dataset("dense/kernel:0", shape=(10**6, 10**6), dtype="f4",
                             chunks=(1, 1024))
    wrong = add("wrong_shapes.h5", MODEL)
    shutil.copy(h5, wrong)
    with h5py.File(wrong, "a") as handle:
        group = handle["model_weights"]
        first = next(name for name in group.attrs["layer_names"]
                     if len(group[name].attrs["weight_names"]))
        name = group[first].attrs["weight_names"][0]
        del group[first][name]
        group[first].create_dataset(name, data=np.zeros((7, 7), "f4"))
    config = json.loads(config_json.read_text())

    def write_config(name: str, value: object, level: str = MODEL) -> None:
        add(name, level).write_text(json.dumps(value))

    unknown = json.loads(json.dumps(config))
    unknown["config"]["layers"][1]["class_name"] = "NoSuchLayer"
    unknown["config"]["layers"][1]["module"] = "evil_module_that_does_not_exist"
    write_config("unknown_class.json", unknown, OK)  # a custom layer: shown with "?"
    functional = json.loads(fixture_path("news_model", "k3.json").read_text())
    missing = json.loads(json.dumps(functional))
    for layer in missing["config"]["layers"]:
        for node in layer.get("inbound_nodes", []):
            for arg in node["args"]:
                for ref in (arg if isinstance(arg, list) else [arg]):
                    ref["config"]["keras_history"][0] = "ghost_layer"
    write_config("missing_layer_ref.json", missing)
    bad_node = json.loads(json.dumps(functional))
    for layer in bad_node["config"]["layers"]:
        for node in layer.get("inbound_nodes", []):
            for arg in node["args"]:
                for ref in (arg if isinstance(arg, list) else [arg]):
                    ref["config"]["keras_history"][1] = 99
    write_config("missing_node_index.json", bad_node)
    cycle = json.loads(json.dumps(functional))
    first_layer = cycle["config"]["layers"][1]
    last = cycle["config"]["layers"][-1]["name"]
    for arg in first_layer["inbound_nodes"][0]["args"]:
        for ref in (arg if isinstance(arg, list) else [arg]):
            ref["config"]["keras_history"][0] = last
    write_config("cycle.json", cycle)
    add("deep.json").write_text('{"class_name": "Sequential", "config": '
                                + '{"a": ' * 100_000 + "1" + "}" * 100_000 + "}")
    add("non_utf8.json").write_bytes(config_json.read_bytes().replace(b'"dense"', b'"\xff\xfe"'))
    add("empty.h5").write_bytes(b"")
    add("not_a_model.json").write_text('{"hello": "world"}')
    weird = json.loads(json.dumps(config))
    weird["config"]["layers"][0]["config"]["batch_shape"] = [None, -5]
    write_config("negative_dim.json", weird)

    def zip_with(name: str, members: dict[str, bytes], level: str = FILE) -> None:
        with zipfile.ZipFile(add(name, level), "w") as archive:
            for member, payload in members.items():
                archive.writestr(member, payload)

    with zipfile.ZipFile(keras_zip) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    zip_with("no_config.keras", {k: v for k, v in members.items() if k != "config.json"})
    zip_with("no_weights.keras", {k: v for k, v in members.items()
                                  if k != "model.weights.h5"}, OK)
    zip_with("extra_member.keras", {**members, "notes.txt": b"hi"}, OK)
    zip_with("dotdot.keras", {**members, "../../escape.txt": b"x"})
    zip_with("broken_weights.keras", {**members, "model.weights.h5": b"\x89HDF\r\n\x1a\n"})
    bomb = add("bomb.keras")
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("metadata.json", members["metadata.json"])
        archive.writestr("config.json", members["config.json"])
        with archive.open("model.weights.h5", "w", force_zip64=True) as handle:
            chunk = bytes(1 << 20)
            for _ in range(300):  # 300 MB of zeros, ~300 KB compressed
                handle.write(chunk)
    add("truncated.keras").write_bytes(keras_zip.read_bytes()[:2000])
    # One bit flipped in a weight: the archive is readable, its CRC-32 is not right.
    flip_weight_bit(fixture_path("batchnorm_cnn", "k3.keras"), add("crc_damaged.keras", MODEL))

    lambda_config = json.loads(json.dumps(config))
    lambda_config["config"]["layers"].insert(1, {
        "module": "keras.layers", "class_name": "Lambda", "registered_name": None,
        "config": {"name": "payload", "function": {"class_name": "__lambda__", "config": {
            "code": _payload_code(marker), "defaults": None, "closure": None}},
            "arguments": {}}})
    write_config("lambda_payload.json", lambda_config, OK)
    k2_lambda = {"class_name": "Sequential", "config": [{"class_name": "Lambda", "config": {
        "name": "payload", "function": [_payload_code(marker), None, None],
        "function_type": "lambda", "output_shape": None, "output_shape_type": "raw",
        "arguments": {}, "batch_input_shape": [None, 3]}}], "keras_version": "2.1.5"}
    write_config("lambda_payload_k2.json", k2_lambda, OK)
    add("python_object.yaml").write_text(
        "class_name: Sequential\nconfig: !!python/object/apply:os.system "
        f"['touch {marker}']\n")
    add("python_name.yaml").write_text(
        "class_name: !!python/name:os.system\nconfig: {}\n")
    folder_case = add("folder_not_savedmodel")
    folder_case.mkdir()
    loop = add("loop.h5")
    os.symlink(loop, loop)
    return cases


def judge(case: Case, exit_code: int, stderr: str, output: str, outputs: list[Path],
          uses_model: bool) -> list[str]:
    """What is wrong with how a command treated ``case`` (empty when nothing is)."""
    lines = [line for line in stderr.splitlines()
             if line.strip() and not line.startswith("warning:")]
    if exit_code == 3 or "Traceback" in output:
        return [f"{case.name}: internal error: {stderr.strip()}"]
    if exit_code not in (0, 1, 2):
        return [f"{case.name}: exit {exit_code}"]
    if exit_code == 0 and (case.level == FILE or case.level == MODEL and uses_model):
        return [f"{case.name}: accepted"]
    problems = []
    if exit_code == 2:
        if len(lines) != 1 or case.name not in lines[0]:
            problems.append(f"{case.name}: stderr is not one line naming the file: {lines}")
        if any(path.exists() for path in outputs):
            problems.append(f"{case.name}: output left behind after failure")
    return problems
