"""``modeltool convert``: between Keras file kinds."""

from __future__ import annotations

import click
from rich.text import Text

from .. import api
from ..formats import FORMATS
from ..render.files import convert_dict, convert_lines
from . import _console
from ._options import custom_objects_option


@click.command("convert")
@click.argument("source", type=click.Path(path_type=str))
@click.option("-o", "--output", required=True, type=click.Path(path_type=str),
              help="Output path; its name gives the kind unless --to is given.")
@click.option("--to", "kind", type=click.Choice([str(kind) for kind in FORMATS]), default=None,
              help="Output kind.")
@click.option("--weights", type=click.Path(path_type=str), default=None,
              help="Weights file to pair with an architecture-only SOURCE.")
@click.option("--init", is_flag=True,
              help="For an architecture-only SOURCE: fresh weights built through Keras.")
@click.option("--allow-missing-layers", is_flag=True,
              help="Write even if some layer classes do not exist in Keras 3 (kept as data).")
@click.option("--unsafe-lambda", is_flag=True,
              help="Have Keras rebuild Lambda layers (runs code from the file: trusted files "
                   "only).")
@click.option("--dtype", type=click.Choice(["float16", "bfloat16", "float32"]), default=None,
              help="Cast float weights and set the matching Keras dtype policy "
                   "(BatchNormalization stays float32).")
@click.option("--no-verify", is_flag=True,
              help="Do not compare the output's predictions with the source (a Keras 1/2 "
                   "source against the library that wrote it; --dtype against the original).")
@click.option("--force", is_flag=True, help="Replace an existing output.")
@custom_objects_option
def convert_command(source: str, output: str, kind: str | None, weights: str | None,
                    init: bool, allow_missing_layers: bool, unsafe_lambda: bool,
                    dtype: str | None, no_verify: bool, force: bool,
                    custom_objects: str | None) -> None:
    """Convert SOURCE to another kind: .h5, .keras, .weights.h5, Keras 2 weights, JSON, YAML,
    SavedModel. Keras 1/2 configs are rewritten for Keras 3 and every change is listed.

    \b
    Examples:
      modeltool convert old.h5 -o new.keras
      modeltool convert model.keras -o model.h5
      modeltool convert model.keras -o w.h5 --to k2-weights
      modeltool convert arch.json --weights w.h5 -o model.keras
      modeltool convert model.keras -o half.keras --dtype float16
      modeltool convert model.keras -o model.safetensors
      modeltool convert custom.h5 -o exported --to savedmodel --custom-objects my_layers.py
    """
    with _console.progress(f"converting {source}"):
        report = api.convert(source, output, kind, force=force, init=init, weights=weights,
                             allow_missing_layers=allow_missing_layers,
                             unsafe_lambda=unsafe_lambda, dtype=dtype, verify=not no_verify,
                             custom_objects=custom_objects)
    _console.emit(lambda: convert_dict(report), lambda: Text("\n".join(convert_lines(report))),
                  written=report.output)
