"""The ``msa-bench`` application object, its error handling and the helpers every command shares.

Every command fails the same way on an expected error (:class:`msa_bench.util.errors.UserError`,
or an OS error the user can fix): one paragraph on stderr and exit status 2. Other exceptions are
bugs and keep their traceback.
"""

from __future__ import annotations

import json
from contextvars import ContextVar

import typer
from typer.core import TyperGroup

from msa_bench.util.errors import ConfigError, UserError, os_error_message, paragraph


#: ``--data-dir`` of the commands that read a dataset.
DATA_DIR_HELP = "Folder holding the dataset's source files, or an `msa-bench extract` output folder."


#: Exit status of every expected failure (click's own usage errors use it too).
USER_ERROR_EXIT = 2


def fail(message: str) -> None:
    """Print ``message`` as one paragraph on stderr and exit with status 2."""
    typer.echo(f"error: {paragraph(message)}", err=True)
    raise typer.Exit(USER_ERROR_EXIT)


#: Exit status after Ctrl-C (128 + SIGINT).
INTERRUPTED_EXIT = 130
NOTHING_SAVED = "nothing was saved"
#: The running command's Ctrl-C line (a context variable: typer runs commands on its own copy of
#: click, whose current context the ``click`` package cannot see).
_interrupt_hint: ContextVar[str] = ContextVar("msa_bench_interrupt_hint", default=NOTHING_SAVED)


def on_interrupt(message: str) -> None:
    """What the running command prints, as its one line, if the user presses Ctrl-C: what is
    saved and the command that resumes."""
    _interrupt_hint.set(message)


class _Commands(TyperGroup):
    """Turns expected failures of any command into :func:`fail`, and Ctrl-C into one line."""

    def invoke(self, ctx):
        _interrupt_hint.set(NOTHING_SAVED)
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            hint = _interrupt_hint.get()
            typer.echo(f"interrupted: {hint}", err=True)
            raise typer.Exit(INTERRUPTED_EXIT) from None
        except UserError as err:
            fail(str(err))
        except OSError as err:
            message = os_error_message(err)
            if message is None:
                raise
            fail(message)


app = typer.Typer(
    cls=_Commands, help="msa_bench: reproducible multimodal sentiment analysis benchmarks.", no_args_is_help=True
)


def key_values(pairs: list[str] | None, option: str) -> dict[str, object]:
    """``key=value`` pairs; values are JSON when they parse (numbers, true, null, lists), else strings."""
    options = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"{option}: expected key=value, got {pair!r}")
        try:
            options[key] = json.loads(value)
        except ValueError:
            options[key] = value
    return options
