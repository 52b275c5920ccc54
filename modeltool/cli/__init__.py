"""The ``modeltool`` command line: a click group and the single error boundary.

Commands only parse arguments, call ``modeltool.api`` and render. Errors that are the user's
(ModelToolError) print one line on stderr and exit with their code (1 or 2); anything else is a
bug: one line and exit 3. ``--debug`` or ``MODELTOOL_DEBUG=1`` shows the traceback instead.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import warnings
from typing import Any

import click

from ..errors import ModelToolError
from . import _console

INTERNAL_ERROR = 3


# Each command lives in its own module, imported only when that command runs (or for --help), so
# ``modeltool freeze`` does not pay for importing the summary engine or the ONNX converter.
COMMANDS: dict[str, tuple[str, str]] = {
    "summary": ("summary", "summary"),
    "weights": ("weights", "weights_command"),
    "config": ("config", "config_command"),
    "convert": ("convert", "convert_command"),
    "load-weights": ("load_weights", "load_weights_command"),
    "freeze": ("freeze", "freeze_command"),
    "check": ("check", "check_command"),
    "to-onnx": ("to_onnx", "to_onnx_command"),
    "diff": ("diff", "diff_command"),
    "plot": ("plot", "plot_command"),
    "report": ("report", "report_command"),
}


class ModeltoolGroup(click.Group):
    """A click group that loads its commands on demand and whose ``invoke`` is the one place
    errors become exit codes."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            module, attr = COMMANDS[cmd_name]
            command = getattr(importlib.import_module(f".{module}", __name__), attr)
            self.add_command(command, cmd_name)
        return self.commands.get(cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        debug = bool(ctx.params.get("debug")) or os.environ.get("MODELTOOL_DEBUG") == "1"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                return super().invoke(ctx)
            except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
                raise
            except ModelToolError as error:
                if debug:
                    raise
                _console.err.print(f"error: {error.render()}")
                ctx.exit(error.exit_code)
            except KeyboardInterrupt:
                _console.err.print("interrupted")
                ctx.exit(130)
            except Exception as error:  # noqa: BLE001 - the boundary for bugs
                if debug:
                    raise
                text = " ".join(str(error).split())[:300]
                _console.err.print(f"internal error: {type(error).__name__}: {text} "
                                   "(re-run with --debug for the traceback)")
                ctx.exit(INTERNAL_ERROR)
            finally:
                for warning in caught:
                    if not issubclass(warning.category, (DeprecationWarning,
                                                         PendingDeprecationWarning)):
                        _console.err.print(f"warning: {warning.message}")


@click.group(cls=ModeltoolGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="modeltool", prog_name="modeltool")
@click.option("--debug", is_flag=True, help="Show tracebacks (also MODELTOOL_DEBUG=1).")
@click.option("-q", "--quiet", is_flag=True, help="Print only data and errors.")
@click.pass_context
def main(ctx: click.Context, debug: bool, quiet: bool) -> None:
    """Read, inspect, transfer, freeze and convert Keras model files.

    \b
    Examples:
      modeltool summary model.h5
      modeltool weights model.keras --stats
      modeltool convert old.h5 -o new.keras
      modeltool config model.h5 --format yaml
      modeltool load-weights new.keras pretrained.h5 --by-name --skip-mismatch -o out.keras
      modeltool freeze model.keras --all-but-last 2 -o frozen.keras
      modeltool check downloaded.h5
      modeltool to-onnx model.keras -o model.onnx
      modeltool diff epoch10.keras epoch11.keras
      modeltool plot model.h5 -o model.svg --shapes
      modeltool report model.h5 -o report.html
    """
    ctx.obj = {"debug": debug, "quiet": quiet}
    _console.QUIET[0] = quiet



def run() -> None:
    """Entry point of the ``modeltool`` script and ``python -m modeltool``."""
    try:
        main(prog_name="modeltool")
    except SystemExit as done:
        _exit_now_if_heavy(done.code)
        raise


def _exit_now_if_heavy(code: object) -> None:
    """Once TensorFlow is loaded, its interpreter teardown costs half a second after the work
    is done: flush what we printed and leave at once (every output is already renamed into
    place and every temporary removed, since those happen in ``finally`` blocks)."""
    if "tensorflow" not in sys.modules or os.environ.get("MODELTOOL_SLOW_EXIT") == "1":
        return
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code or 0)


if __name__ == "__main__":  # pragma: no cover
    run()
