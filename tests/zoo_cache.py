"""keras.applications models (weights=None, seeded) built on demand into ``.cache/zoo`` (ignored
by git), so the layout and browser tests run on the real ResNet50 without a download."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("MODELTOOL_ZOO_CACHE", ROOT / ".cache" / "zoo"))


def zoo_model(name: str, *, weights: bool = True) -> Path:
    """The ``.keras`` file (``weights``) or the JSON config of ``keras.applications.<name>``."""
    CACHE.mkdir(parents=True, exist_ok=True)
    target = CACHE / (f"{name}.keras" if weights else f"{name}.json")
    if target.exists():
        return target
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    keras.utils.set_random_seed(0)
    model = getattr(keras.applications, name)(weights=None)
    # Both forms at once: building the model is the slow part.
    for path in (CACHE / f"{name}.json", CACHE / f"{name}.keras"):
        if path.exists():
            continue
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp{path.suffix}")
        if path.suffix == ".keras":
            model.save(tmp)
        else:
            tmp.write_text(model.to_json())
        os.replace(tmp, path)
    return target
