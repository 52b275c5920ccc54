"""Replace the model config inside a ``.keras`` archive or a legacy ``.h5`` file.

Every weight byte stays as it is. A ``.keras`` archive is rewritten member by member:
``config.json`` is replaced and every other member is copied as raw bytes (``_zip``). A legacy
``.h5`` file is copied and only attributes are rewritten in the copy: ``model_config``, and the
``weight_names`` order of a layer holding a model (Keras lists its trainable weights first).
Both go through a temporary file beside the output, so a failure leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..artifact import ModelArtifact
from ..errors import CorruptFileError, IntegrityError, ModelToolError
from ..io import atomic_path, wrote
from . import _h5, _zip
from .dialects import canonical_model_config, inner_model, layer_configs, layer_name
from .weight_layout import legacy_order

#: The archive member holding the architecture.
CONFIG_MEMBER = "config.json"


def replace_keras_config(source: Path, out: Path, config: dict[str, Any]) -> None:
    """A copy of the archive with a new config.json; every other member's bytes unchanged.

    Unchanged members are copied as raw byte ranges of the archive (local header and stored
    data, no decompressing or CRC pass), so a 1 GB archive costs about what ``cp`` costs.
    """
    text = json.dumps(config)
    archive = _zip.open_zip(source)
    try:
        with atomic_path(out, suffix=".keras") as tmp, open(source, "rb") as raw, \
                ThreadPoolExecutor(max_workers=1) as checker:
            checks = []
            with zipfile.ZipFile(tmp, "w") as new:
                for info in archive.infolist():
                    if info.filename == CONFIG_MEMBER:
                        fresh = zipfile.ZipInfo(info.filename, date_time=info.date_time)
                        fresh.compress_type = info.compress_type
                        fresh.external_attr = info.external_attr
                        new.writestr(fresh, text)
                    else:
                        # The copy runs in the kernel; the CRC-32 of the same bytes is computed
                        # beside it (the CRC releases the GIL), so damage is never copied.
                        checks.append(checker.submit(_member_crc_problem, archive, info, source))
                        _zip.append_raw_member(new, raw, info, source)
            for check in checks:
                problem = check.result()
                if problem is not None:
                    raise IntegrityError(problem, path=source,
                                         hint="the file is damaged; Keras refuses it too")
            shutil.copymode(source, tmp)  # as cp does (the temporary file is private)
    except (zipfile.BadZipFile, EOFError, OSError, struct.error) as err:
        raise ModelToolError(f"cannot rewrite the archive ({err})", path=source) from err
    finally:
        archive.close()


def _member_crc_problem(archive: zipfile.ZipFile, info: zipfile.ZipInfo,
                        source: Path) -> str | None:
    """None when ``info``'s bytes match the CRC-32 the archive records, else the problem."""
    if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & _zip.DATA_DESCRIPTOR_FLAG:
        try:
            with archive.open(info) as member:  # zipfile checks the CRC at the end
                while member.read(_zip.COPY_CHUNK):
                    pass
        except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as err:
            return f"archive member {info.filename} is damaged ({err})"
        return None
    crc = 0
    buffer = memoryview(bytearray(min(info.compress_size, _zip.CRC_CHUNK)))  # one, reused
    with open(source, "rb") as raw:
        offset = _zip.stored_data_offset(raw, info, source)
        left = info.compress_size
        while left > 0:
            done = os.preadv(raw.fileno(), [buffer[:min(left, len(buffer))]], offset)
            if not done:
                return f"archive member {info.filename} is cut short"
            crc = _zip.crc32(buffer[:done], crc)
            offset, left = offset + done, left - done
    if crc != info.CRC:
        if info.filename == "model.weights.h5":
            from .keras_archive import locate_damage

            return locate_damage(source, info.CRC, crc, info.compress_size)
        return _zip.crc_problem(info.filename, info.compress_size, info.CRC, crc)
    return None


def verify_h5_checksums(path: Path) -> None:
    """Read every dataset that carries a Fletcher32 checksum (HDF5 verifies it on read), so
    the byte copy of the file never carries damage HDF5 can see. Files without checksums (what Keras
    writes) cost nothing here."""
    display = os.fspath(path)
    with _h5.open_h5(path, display) as handle:
        checksummed: list[h5py.Dataset] = []
        try:
            handle.visititems(lambda _name, obj: checksummed.append(obj)
                              if isinstance(obj, h5py.Dataset) and obj.fletcher32 else None)
        except _h5.READ_ERRORS as err:
            raise CorruptFileError(f"damaged HDF5 structure ({_h5.short(err)})", path=display,
                                   hint="the file may be truncated or damaged") from err
        for ds in checksummed:
            layer = ds.parent.name.rsplit("/", 1)[-1] if ds.parent is not None else None
            _h5.read_array(ds, display, layer)


def legacy_weight_orders(artifact: ModelArtifact, raw: dict[str, Any]) -> dict[str, list[str]]:
    """Dataset paths, per layer holding a model, in the order Keras will expect on load.

    A legacy file lists a nested model's weights as its trainable weights, then the others
    (``_legacy_weights``), so changing flags inside it changes the order Keras expects: the
    layer's ``weight_names`` list is rewritten to match (the datasets stay as they are).
    """
    config, _, _ = canonical_model_config(raw, keras_version=artifact.keras_version,
                                          path=os.fspath(artifact.path or ""))
    configs = {layer_name(c): c for c in layer_configs(config)}
    orders = {}
    for name, entries in artifact.weights.layers.items():
        cfg = configs.get(name)
        if cfg is not None and inner_model(cfg) is not None and entries:
            orders[name] = [e.location for e in legacy_order(cfg, entries)]
    return orders


def _rewrite_weight_names(handle: h5py.File, orders: dict[str, list[str]],
                          display: str) -> None:
    root = _h5.group(handle, "model_weights", display) if "model_weights" in handle else handle
    for name, locations in orders.items():
        group = _h5.group(root, name, display)
        stored = _h5.read_str_list(group, "weight_names", display) or []
        prefix = group.name.rstrip("/") + "/"
        wanted = [loc[len(prefix):] for loc in locations if loc.startswith(prefix)]
        if sorted(wanted) != sorted(stored) or wanted == stored:
            continue  # not a plain listing of this group's datasets: leave it as it is
        for key in [k for k in group.attrs if re.fullmatch(r"weight_names\d*", k)]:
            del group.attrs[key]
        _h5.write_str_list(group, "weight_names", wanted)


def replace_h5_config(source: Path, out: Path, config: dict[str, Any],
                orders: dict[str, list[str]]) -> None:
    """A byte copy of the file whose ``model_config`` attribute (and, for nested models, the
    ``weight_names`` order) alone is rewritten."""
    text = json.dumps(config)
    with atomic_path(out) as tmp:
        shutil.copyfile(source, tmp)
        wrote(tmp.stat().st_size)
        shutil.copymode(source, tmp)
        try:
            with h5py.File(tmp, "r+", locking=False) as handle:
                _rewrite_weight_names(handle, orders, os.fspath(source))
                old = handle.attrs.get("model_config")
                del handle.attrs["model_config"]
                if isinstance(old, (bytes, np.bytes_)):
                    try:
                        handle.attrs["model_config"] = text.encode("utf-8")
                        return
                    except (OSError, ValueError):
                        pass  # too long for a fixed-length attribute: store it as Keras 3 does
                handle.attrs["model_config"] = text
        except (OSError, ValueError, KeyError) as err:
            raise ModelToolError(f"cannot rewrite model_config ({err})", path=source) from err
