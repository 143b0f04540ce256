"""The ``kbp`` command.

Every command builds its settings the same way the server does (defaults → ``KBP_CONFIG`` file →
``KBP_*`` environment → options), so ``kbp plugins disable X`` and the running server agree on
the data folder. Output is translated (``KBP_LOCALE`` or ``LANG``); errors go to stderr with a
non-zero exit status.
"""
from __future__ import annotations

import os
import sys
from typing import Any

import click

from core import __version__
from core.i18n import gettext as _


def _config(ctx: click.Context) -> dict[str, Any]:
    return dict(ctx.obj or {})


def make_app(ctx: click.Context, **extra):
    from core.app import create_app

    return create_app({**_config(ctx), **extra})


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


# ----------------------------------------------------------------------------- serve


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64), help="Worker processes.")
@click.option("--dev", is_flag=True, help="Flask's development server with the reloader (not for production).")
@click.option("--demo", is_flag=True, help="Demo mode: its own data folder, seeded with sample data.")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, workers: int, dev: bool, demo: bool) -> None:
    """Start the web server (gunicorn; --dev for Flask's reloader)."""
    config = _config(ctx)
    if demo:
        config["DEMO"] = True
    app = make_app(ctx, **config)  # fail early, in the foreground, with a readable message
    if app.config.get("DEMO"):
        from core.demo import seed_demo

        for line in seed_demo(app):
            click.echo(line)
    url = f"http://{host}:{port}/"
    click.echo(_("KBP is running at %(url)s (press Ctrl+C to stop)", url=url), err=False)
    sys.stdout.flush()
    if dev:
        app.run(host=host, port=port, debug=True, use_reloader=True)
        return
    from core.wsgi import GunicornApp

    GunicornApp(config, {"bind": f"{host}:{port}", "workers": workers, "accesslog": "-"}).run()


# ----------------------------------------------------------------------------- plugins


@main.group()
def plugins() -> None:
    """List, enable and disable plugins."""


@plugins.command("list")
@click.pass_context
def plugins_list(ctx: click.Context) -> None:
    """Show every plugin: name, version, enabled, state and the reason when it failed."""
    from core.app import KBP

    app = make_app(ctx)
    state: KBP = app.extensions["kbp"]
    rows = [(_("NAME"), _("VERSION"), _("ENABLED"), _("STATE"), _("REASON"))]
    for rec in state.plugins.listing():
        rows.append((rec.name, rec.version or "-", _("yes") if rec.enabled else _("no"), rec.state, rec.reason or ""))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        click.echo("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4])


def _set_enabled(ctx: click.Context, name: str, enabled: bool) -> None:
    from core.app import configure
    from core.plugins import discover, set_enabled
    from core.storage import Storage
    from flask import Flask

    app = Flask("core")
    configure(app, _config(ctx))
    known = {c.name for c in discover(app.config["PLUGINS"])}
    if name not in known:
        raise click.ClickException(
            _("There is no plugin '%(name)s'. Known plugins: %(known)s.", name=name, known=", ".join(sorted(known)))
        )
    set_enabled(Storage(app.config["DATA_DIR"]), name, enabled)
    if enabled:
        click.echo(_("Plugin '%(name)s' enabled. Restart the server to load it.", name=name))
    else:
        click.echo(_("Plugin '%(name)s' disabled. Restart the server to unload it.", name=name))


@plugins.command("enable")
@click.argument("name")
@click.pass_context
def plugins_enable(ctx: click.Context, name: str) -> None:
    """Enable plugin NAME (takes effect at the next start)."""
    _set_enabled(ctx, name, True)


@plugins.command("disable")
@click.argument("name")
@click.pass_context
def plugins_disable(ctx: click.Context, name: str) -> None:
    """Disable plugin NAME: it is not even imported at the next start."""
    _set_enabled(ctx, name, False)


def run() -> None:  # pragma: no cover - console entry for `python -m core.cli`
    main(prog_name="kbp")


if __name__ == "__main__":  # pragma: no cover
    run()
