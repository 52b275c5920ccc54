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
from collections.abc import Callable
from typing import Any

import click

from ..errors import ModelToolError
from . import _console

INTERNAL_ERROR = 3

#: The flags every command accepts, before or after its name (state in ``_console.STATE``).
SHARED_HELP = {
    "debug": "Show tracebacks (also MODELTOOL_DEBUG=1).",
    "quiet": "Print only data and errors: no progress or notes; a command that writes a "
             "file prints only its path.",
    "json": "Print the report as one JSON document (with a \"schema\" field).",
    "wide": "Show every table column whatever the terminal width (as a pipe does).",
}


def _set_flag(name: str) -> Callable[[click.Context, click.Parameter, bool], None]:
    def callback(ctx: click.Context, param: click.Parameter, value: bool) -> None:
        if value:
            setattr(_console.STATE, name, True)
            _console.QUIET[0] = _console.STATE.quiet
    return callback


def _own_json(command: click.Command) -> bool:
    """Whether ``command`` declares --json itself (not the shared flag)."""
    return any("--json" in p.opts and not getattr(p, "shared", False) for p in command.params)


def adopt_shared_options(command: click.Command) -> None:
    """Give ``command`` the shared flags it does not declare itself: ``--debug``, ``-q``,
    ``--json`` and ``--wide`` after the command name mean what they mean before it. Applied
    by the group to every command it loads, so a new command gets them for free."""
    if getattr(command, "_modeltool_shared", False):
        return
    taken = {opt for param in command.params for opt in param.opts}
    for name, opts in (("debug", ["--debug"]), ("quiet", ["-q", "--quiet"]),
                       ("json", ["--json"]), ("wide", ["--wide"])):
        free = [opt for opt in opts if opt not in taken]
        if not free:
            continue
        option = click.Option(free, is_flag=True, expose_value=False, help=SHARED_HELP[name],
                              callback=_set_flag(name))
        option.shared = True  # type: ignore[attr-defined]
        command.params.append(option)
    command._modeltool_shared = True  # type: ignore[attr-defined]


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
        command = self.commands.get(cmd_name)
        if command is not None:
            adopt_shared_options(command)
        return command

    def resolve_command(self, ctx: click.Context, args: list[str]
                        ) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        # ``modeltool --json CMD``: a command with its own --json option gets it on its line.
        if ctx.params.get("as_json") and command is not None and _own_json(command):
            rest = ["--json", *rest]
        return name, command, rest

    def invoke(self, ctx: click.Context) -> Any:
        _console.reset(debug=bool(ctx.params.get("debug")), quiet=bool(ctx.params.get("quiet")),
                       json=bool(ctx.params.get("as_json")), wide=bool(ctx.params.get("wide")))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                return super().invoke(ctx)
            except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
                raise
            except ModelToolError as error:
                if _console.debugging():
                    raise
                _console.err.print(f"error: {error.render()}")
                ctx.exit(error.exit_code)
            except KeyboardInterrupt:
                _console.err.print("interrupted")
                ctx.exit(130)
            except Exception as error:  # noqa: BLE001 - the boundary for bugs
                if _console.debugging():
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
@click.option("--debug", is_flag=True, help=SHARED_HELP["debug"])
@click.option("-q", "--quiet", is_flag=True, help=SHARED_HELP["quiet"])
@click.option("--json", "as_json", is_flag=True, help=SHARED_HELP["json"])
@click.option("--wide", is_flag=True, help=SHARED_HELP["wide"])
@click.pass_context
def main(ctx: click.Context, debug: bool, quiet: bool, as_json: bool, wide: bool) -> None:
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

    \b
    --debug, -q, --json and --wide work before or after the command name.
    """
    ctx.obj = {"debug": debug, "quiet": quiet}



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
