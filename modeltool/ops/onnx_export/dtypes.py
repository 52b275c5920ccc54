"""What the ONNX export can do with a model's dtype policies, decided from its config alone.

bfloat16 compute and float8 quantization have no path through tf2onnx and onnxruntime's CPU
kernels, so such a model is refused in one line naming the layer before any work is done;
float16 compute is exported, and compared with Keras at a tolerance float16 can meet.
"""

from __future__ import annotations

from collections.abc import Iterable

#: The comparison tolerance for models computing in float16 (its epsilon is about 1e-3).
FLOAT16_ATOL = 1e-2
FLOAT16_RTOL = 1e-2


def unexportable(policies: Iterable[tuple[str, str]]) -> str | None:
    """The one-line reason a model cannot go to ONNX because of its dtype policies (given as
    ``(layer path, policy name)``), or None."""
    for path, policy in policies:
        if policy in ("bfloat16", "mixed_bfloat16"):
            return (f"layer {path!r} computes in bfloat16 (policy {policy}), which the ONNX "
                    "export cannot express (tf2onnx and onnxruntime's CPU kernels have no "
                    "bfloat16 MatMul/Conv)")
        if policy.startswith("float8"):
            return (f"layer {path!r} is float8-quantized (policy {policy}), which tf2onnx "
                    "cannot convert")
    return None


def computes_in_float16(policies: Iterable[tuple[str, str]]) -> bool:
    """True when some layer computes in float16 (``float16`` or ``mixed_float16``)."""
    return any(policy in ("float16", "mixed_float16") for _, policy in policies)
