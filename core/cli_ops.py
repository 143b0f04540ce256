"""Operations commands for ``kbp``: registered on the main group (see the end of core/cli.py).

``kbp migrate``, ``kbp backup FILE``, ``kbp restore FILE``, ``kbp compact`` and
``kbp dev seed``. See :mod:`core.migrations` for what migrations, backups and restores do.
"""
from __future__ import annotations

import time

import click

from core.cli_common import _config, main, make_app
from core.i18n import gettext as _


def _settings(ctx: click.Context):
    """The configuration exactly as the server resolves it, without building the whole app."""
    from flask import Flask

    from core.app import configure

    app = Flask("core")
    configure(app, _config(ctx))
    return app.config


def _data_dir(ctx: click.Context) -> str:
    return _settings(ctx)["DATA_DIR"]


def open_store(ctx: click.Context):
    """The store the server would use (PostgreSQL or the embedded data folder)."""
    from core.app import open_store as _open

    return _open(_settings(ctx))


def _storage_errors(fn):
    """Show storage problems (corrupt files, newer data, bad backups) as clean CLI errors."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from core.storage import StorageError

        try:
            return fn(*args, **kwargs)
        except StorageError as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper


# ----------------------------------------------------------------------------- migrate


@main.command("migrate")
@click.option("--check", is_flag=True, help="Only report what would be done; exit status 1 when a migration is needed.")
@click.option("--full", is_flag=True, help="Scan every record even when the data is marked as current.")
@click.pass_context
@_storage_errors
def migrate_cmd(ctx: click.Context, check: bool, full: bool) -> None:
    """Upgrade stored records to this version's schema (also run at every start)."""
    from core.migrations import migrate

    report = migrate(open_store(ctx), full=full or check, dry_run=check)
    for line in report.lines():
        click.echo(line)
    if check and not report.current:
        ctx.exit(1)


@main.command("compact")
@click.pass_context
@_storage_errors
def compact_cmd(ctx: click.Context) -> None:
    """Fold every collection's log into its snapshot now (normally automatic)."""
    storage = open_store(ctx)
    for name in storage.collection_names():
        done = storage.collection(name).compact()
        click.echo(_("%(name)s: compacted", name=name) if done else _("%(name)s: already compact", name=name))


# ----------------------------------------------------------------------------- backup / restore


def _refuse_on_postgres(ctx: click.Context, what: str) -> None:
    if _settings(ctx).get("DATABASE_URL"):
        tool = "pg_dump" if what == "backup" else "pg_restore"
        raise click.ClickException(_(
            "kbp %(command)s works on the embedded data folder. On PostgreSQL, back up and restore the database "
            "with PostgreSQL's own tools (%(tool)s; see the README, Running on PostgreSQL), or copy the data into a "
            "folder with `kbp db copy`.", command=what, tool=tool))


@main.command("backup")
@click.argument("file", type=click.Path(dir_okay=False))
@click.pass_context
@_storage_errors
def backup_cmd(ctx: click.Context, file: str) -> None:
    """Write a consistent backup of the data folder to FILE (.tar.gz); safe while the server runs."""
    from core.backup import backup

    _refuse_on_postgres(ctx, "backup")
    started = time.monotonic()
    manifest = backup(_data_dir(ctx), file)
    size = sum(f["size"] for f in manifest["files"])
    megabytes = "%.1f" % (size / 1e6)
    seconds = "%.1f" % (time.monotonic() - started)
    click.echo(_(
        "Backup written to %(file)s: %(collections)d collections, %(files)d files, %(size)s MB of data, "
        "schema version %(version)s (%(seconds)s s).",
        file=file, collections=len(manifest["collections"]), files=len(manifest["files"]), size=megabytes,
        version=manifest["schema_version"], seconds=seconds,
    ))
    click.echo(_("It contains personal data and the server's secret key: store it like the data folder itself."))


@main.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--verify-only", is_flag=True, help="Only check the backup (checksums, schema version, every collection loads).")
@click.pass_context
@_storage_errors
def restore_cmd(ctx: click.Context, file: str, yes: bool, verify_only: bool) -> None:
    """Replace the data folder's contents with the backup FILE, after verifying it completely.

    Stop the server first (a running server picks up the restored files, but caches such as
    the search index and signed sessions are only rebuilt at start). The current files are
    moved to replaced-<time>/ in the data folder.
    """
    from core.backup import read_manifest, restore, verify
    from core.migrations import migrate
    from core.storage import Storage

    _refuse_on_postgres(ctx, "restore")
    data_dir = _data_dir(ctx)
    manifest = read_manifest(file)  # refuses a newer schema before asking anything
    if verify_only:
        verify(file)
        click.echo(_("%(file)s is a complete, intact backup from %(created)s (schema version %(version)s, %(files)d files).",
                     file=file, created=manifest["created_at"], version=manifest["schema_version"], files=len(manifest["files"])))
        return
    if not yes:
        click.confirm(_("Replace the data in %(folder)s with the backup from %(created)s? Stop the server first.",
                        folder=data_dir, created=manifest["created_at"]), abort=True)
    report = restore(data_dir, file)
    click.echo(_("Restored %(num)d files from %(file)s into %(folder)s.", num=len(report.restored), file=file, folder=data_dir))
    if report.moved_aside:
        click.echo(_("The files it replaced are in %(folder)s (delete that folder when you no longer need it).",
                     folder=report.moved_aside))
    for line in migrate(Storage(data_dir)).lines():
        click.echo(line)
    click.echo(_("Start (or restart) the server now."))


# ----------------------------------------------------------------------------- dev


@main.group("dev")
def dev_group() -> None:
    """Developer tools: generate data sets for benchmarks and load tests."""


@dev_group.command("seed")
@click.option("--people", default=10000, show_default=True, type=click.IntRange(0, 10_000_000))
@click.option("--plans", default=20000, show_default=True, type=click.IntRange(0, 10_000_000))
@click.option("--activities", default=50000, show_default=True, type=click.IntRange(0, 10_000_000))
@click.option("--seed", "seed_value", default=1, show_default=True, type=int, help="Same seed, same data.")
@click.pass_context
@_storage_errors
def dev_seed(ctx: click.Context, people: int, plans: int, activities: int, seed_value: int) -> None:
    """Fill an empty data folder with a realistic organisation (people, accounts, plans, activities)."""
    from core.seed import SEED_PASSWORD, seed

    app = make_app(ctx)
    started = time.monotonic()
    try:
        counts = seed(app, people=people, plans=plans, activities=activities, seed=seed_value,
                      progress=lambda msg: click.echo(_("  writing %(what)s", what=msg)))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(", ".join(f"{name}: {n}" for name, n in counts.items()))
    seconds = "%.1f" % (time.monotonic() - started)
    click.echo(_("Seeded %(folder)s in %(seconds)s s. Every seeded account (admin@example.org, coaches, some employees) "
                 "has the password %(password)s.", folder=app.config["DATA_DIR"], seconds=seconds, password=repr(SEED_PASSWORD)))


# ----------------------------------------------------------------------------- db copy


def _store_at(where: str):
    """A store from ``--from``/``--to``: a postgresql:// URL or a data folder."""
    from core.app import open_store as _open

    if where.startswith(("postgresql://", "postgres://")):
        return _open({"DATABASE_URL": where})
    return _open({"DATA_DIR": where})


@main.group("db")
def db_group() -> None:
    """Move data between the embedded store and PostgreSQL."""


@db_group.command("copy")
@click.option("--from", "source", required=True, help="A data folder or a postgresql:// URL.")
@click.option("--to", "target", required=True, help="A data folder or a postgresql:// URL.")
@click.option("--force", is_flag=True, help="Replace the collections of a target that already holds data.")
@click.pass_context
@_storage_errors
def db_copy(ctx: click.Context, source: str, target: str, force: bool) -> None:
    """Copy every collection from one store to another, then verify counts and checksums.

    Stop the servers using the source first, so nothing changes while it is copied. The
    session key goes along (it is kept with the data).
    """
    from core.dbcopy import TargetNotEmpty, copy_store

    src, dst = _store_at(source), _store_at(target)
    try:
        copied = copy_store(src, dst, force=force, progress=click.echo)
    except TargetNotEmpty as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(_("Copied %(num)d collections from %(source)s to %(target)s.", num=copied,
                 source=src.location, target=dst.location))
