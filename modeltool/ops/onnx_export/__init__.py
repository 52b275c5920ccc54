"""``to_onnx``: a live Keras model -> tf.function with an input signature -> tf2onnx -> checks.

The route, and why each step is there:

* tf2onnx's ``from_keras`` fails on Keras 3 models and Keras' own ``export(format="onnx")`` fails
  on a model fresh from ``load_model``, so the model is traced here: a ``tf.function`` whose input
  signature is built from the Keras inputs (dtypes kept, so integer inputs stay integer) calls
  ``model(..., training=False)`` and returns the outputs as a *list* in Keras' output order (a
  dict would come out sorted by name).
* The weights are arguments of that function too (read through ``keras.StatelessScope``), so the
  traced graph holds no variables: freezing it is quick, and each weight is then either swapped
  in as a constant or, for the big tensors of Dense/Conv/Embedding-like layers, kept out of
  tf2onnx altogether and streamed into the file as an initializer afterwards (tf2onnx copies
  every constant some 25 to 50 times: VGG16 needed 14 to 24 GB that way).
* The graph is frozen here, not by ``tf2onnx.convert.from_function``: that one hands tf2onnx
  *every* non-resource placeholder as a graph input, so tensors a layer captured (EfficientNet's
  Normalization mean and variance) leaked in as extra inputs that onnx.checker does not notice.
  Here captures become constants, and the result is checked to have exactly the Keras inputs.
* tf2onnx names tensors after TF (``keras_tensor_3``, ``Identity:0``); inputs and outputs are
  renamed to the Keras input-layer and output-layer names, in Keras' order. Open dimensions get
  readable symbolic names (``batch``, ``tokens_dim1``).

A SavedModel is converted through its ``serving_default`` signature (names are the signature's).
Verification runs onnxruntime and the source on the same seeded inputs, at batch 1 and 3.

Where each step lives: ``export`` (the steps in order), ``load`` (the model to export),
``signature`` (batch, ``--input-shape``, opset), ``convert`` (tf2onnx and the ONNX graph after
it), ``fold`` (lifted weights as initializers), ``verify`` (checker, onnxruntime against the
source, latency), ``report`` (the report and its error). The live TensorFlow/Keras side is in
``keras_bridge.onnx_source`` and ``keras_bridge.onnx_trace``; the file writer is
``formats.onnx_writer``. TensorFlow, Keras, tf2onnx, onnx and onnxruntime are imported inside
functions only.
"""

from __future__ import annotations

from .export import to_onnx
from .report import (
    ConversionReport,
    OnnxVerificationError,
    OutputCheck,
    Reference,
    ReferenceRun,
)
from .signature import max_opset, parse_input_shape
from .verify import OPEN_DIM, SEED, VERIFY_BATCHES, median_ms

__all__ = [
    "OPEN_DIM",
    "SEED",
    "VERIFY_BATCHES",
    "ConversionReport",
    "OnnxVerificationError",
    "OutputCheck",
    "Reference",
    "ReferenceRun",
    "max_opset",
    "median_ms",
    "parse_input_shape",
    "to_onnx",
]
