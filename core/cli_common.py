"""What every ``kbp`` command module shares: the main group, the settings and the app factory.

:mod:`core.cli` and :mod:`core.cli_ops` both register their commands on :func:`main`; neither
imports the other's commands back (``core.cli`` imports ``core.cli_ops`` once, to register them).
"""
from __future__ import annotations

from typing import Any

import click

from core.version import __version__


def _config(ctx: click.Context) -> dict[str, Any]:
    return dict(ctx.obj or {})


def make_app(ctx: click.Context, **extra):
    from core.app import create_app
    from core.storage import StorageError

    try:
        return create_app({**_config(ctx), **extra})
    except StorageError as exc:  # e.g. the database cannot be reached: a message, exit status 1
        raise click.ClickException(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="kbp", message="%(prog)s %(version)s")
@click.option("--data-dir", type=click.Path(file_okay=False), envvar="KBP_DATA_DIR", help="Data folder (KBP_DATA_DIR).")
@click.option("--demo", is_flag=True, help="Use the demo data folder and demo licence.")
@click.pass_context
def main(ctx: click.Context, data_dir: str | None, demo: bool) -> None:
    """KBP — competency-based people development."""
    ctx.obj = {}
    if data_dir:
        ctx.obj["DATA_DIR"] = data_dir
    if demo:
        ctx.obj["DEMO"] = True


