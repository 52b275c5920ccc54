"""``modeltool config``: the architecture of any file that has one."""

from __future__ import annotations

import json

import click

from .. import api
from ..formats import write_artifact
from ..formats.config_yaml import dump_config_yaml
from . import _console


@click.command("config")
@click.argument("file", type=click.Path(path_type=str))
@click.option("-o", "--output", type=click.Path(path_type=str), help="Write to this file.")
@click.option("--format", "fmt", type=click.Choice(["json", "yaml"]), default=None,
              help="Output format (default: from -o's extension, else json).")
@click.option("--force", is_flag=True, help="Replace an existing output file.")
def config_command(file: str, output: str | None, fmt: str | None, force: bool) -> None:
    """Print or write the architecture (canonical Keras 3 dialect) of FILE.

    \b
    Examples:
      modeltool config model.h5
      modeltool config old_model.h5 --format yaml -o model.yaml
    """
    if output is not None:
        with api.open(file) as artifact:
            if fmt is None:
                fmt = "yaml" if output.lower().endswith((".yaml", ".yml")) else "json"
            if artifact.config is None:
                api.config(file)  # raises the one-line explanation
            written = write_artifact(artifact, output, fmt, force=force)
            notes = list(artifact.notes)
        if _console.STATE.json:
            _console.print_json({"path": file, "output": str(written), "format": fmt,
                                 "changes": notes})
        else:
            for note in notes:  # the changes made to read it as Keras 3, on stderr
                _console.info(f"changed: {note}")
            _console.out.print(str(written), crop=False, soft_wrap=True)
        return
    data = api.config(file)
    with api.open(file) as artifact:
        notes = list(artifact.notes)
    if _console.STATE.json:
        # The config itself is JSON already; --json wraps it so it carries the schema field.
        _console.print_json({"path": file, "config": data, "changes": notes})
        return
    for note in notes:
        _console.info(f"changed: {note}")
    if fmt == "yaml":
        _console.out.file.write(dump_config_yaml(data))
    else:
        _console.out.file.write(json.dumps(data, indent=2) + "\n")
