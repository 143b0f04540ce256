"""The ``kbp`` command.

Every command builds its settings the same way the server does (defaults → ``KBP_CONFIG`` file →
``KBP_*`` environment → options), so ``kbp plugins disable X`` and the running server agree on
the data folder. Output is translated (``KBP_LOCALE`` or ``LANG``); errors go to stderr with a
non-zero exit status.
"""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager

import click

from core.i18n import gettext as _
from core.i18n import ngettext


from core.cli_common import _config, main, make_app  # noqa: F401 - the group every command joins


# ----------------------------------------------------------------------------- serve


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64), help="Worker processes.")
@click.option("--dev", is_flag=True, help="Flask's development server with the reloader (not for production).")
@click.option("--preload/--no-preload", default=True, show_default=True,
              help="Load the data and build the search index once, before the workers fork (they share it).")
@click.option("--demo", is_flag=True, help="Demo mode: its own data folder, seeded with sample data.")
@click.option("--with-scheduler", "scheduler_minutes", type=click.IntRange(1, 1440), default=None, is_flag=False,
              flag_value=15, help="Also send reminders every N minutes (default 15) from this server, instead of cron.")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, workers: int, dev: bool, preload: bool, demo: bool,
          scheduler_minutes: int | None = None) -> None:
    """Start the web server (gunicorn; --dev for Flask's reloader)."""
    config = _config(ctx)
    if demo:
        config["DEMO"] = True
    preload = preload and not dev
    from contextlib import nullcontext

    from core.warmup import collector_off, freeze, warm_up

    with collector_off() if preload else nullcontext():  # until freeze(), before the fork
        app = make_app(ctx, **config)  # fail early, in the foreground, with a readable message
        if app.config.get("DEMO"):
            from core.demo import seed_demo

            for line in seed_demo(app):
                click.echo(line)
        if preload:
            timings = warm_up(app)
            click.echo(_("Loaded in advance for the workers: %(steps)s",
                         steps=", ".join(f"{name} {secs:.1f} s" for name, secs in timings.items())))
    if scheduler_minutes:
        from core.reminders import scheduler_command, start_scheduler

        start_scheduler(scheduler_command(config), scheduler_minutes * 60)
    url = f"http://{host}:{port}/"
    click.echo(_("KBP is running at %(url)s (press Ctrl+C to stop)", url=url), err=False)
    sys.stdout.flush()
    if dev:
        app.run(host=host, port=port, debug=True, use_reloader=True)
        return
    from core.wsgi import AccessLogger, GunicornApp

    options = {"bind": f"{host}:{port}", "workers": workers, "accesslog": "-", "logger_class": AccessLogger}
    if preload:  # the workers fork with the loaded data and share it copy-on-write
        from core.warmup import warm_worker

        freeze()

        def post_fork(_server, _worker) -> None:  # each worker's first touch before its first request
            warm_worker(app)

        GunicornApp(config, {**options, "preload_app": True, "post_fork": post_fork}, app=app).run()
        return
    app.extensions["kbp"].storage.close()  # each worker opens its own (no sockets shared across fork)
    GunicornApp(config, options).run()


# ----------------------------------------------------------------------------- plugins


@main.group()
def plugins() -> None:
    """List, enable and disable plugins."""


@plugins.command("list")
@click.pass_context
def plugins_list(ctx: click.Context) -> None:
    """Show every plugin: name, version, enabled, state and the reason when it failed."""
    from core.context import KBP

    app = make_app(ctx)
    state: KBP = app.extensions["kbp"]
    rows = [(_("NAME"), _("VERSION"), _("ENABLED"), _("STATE"), _("REASON"))]
    for rec in state.plugin_listing():
        rows.append(
            (rec["name"], rec["version"] or "-", _("yes") if rec["enabled"] else _("no"), rec["state"], rec["reason"] or "")
        )
    problems = {rec["name"]: rec.get("problems") or [] for rec in state.plugin_listing()}
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:  # the reason in full, never cut: it says what to fix
        click.echo(("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4]).rstrip())
        for problem in problems.get(row[0], []):
            click.echo("    " + _("problem: %(problem)s", problem=problem))


def _set_enabled(ctx: click.Context, name: str, enabled: bool) -> None:
    from core.app import open_store
    from core.cli_ops import _settings
    from core.plugins import discover, set_enabled

    config = _settings(ctx)
    known = {c.name for c in discover(config["PLUGINS"])}
    if name not in known:
        raise click.ClickException(
            _("There is no plugin '%(name)s'. Known plugins: %(known)s.", name=name, known=", ".join(sorted(known)))
        )
    set_enabled(open_store(config), name, enabled)
    where = (_("the PostgreSQL database (KBP_DATABASE_URL)") if config.get("DATABASE_URL")
             else _("the data folder %(folder)s", folder=config["DATA_DIR"]))
    if enabled:
        click.echo(_("Plugin '%(name)s' enabled in %(where)s. Every running server loads it at its next request.", name=name, where=where))
    else:
        click.echo(_("Plugin '%(name)s' disabled in %(where)s. Every running server unloads it at its next request.", name=name, where=where))
    demo_folder = os.path.join(config["DATA_DIR"], "demo")
    if not config.get("DATABASE_URL") and not config.get("DEMO") and os.path.isdir(demo_folder):
        click.echo(_("The demo (kbp serve --demo) keeps its own data folder: add --demo to change it there too, "
                     "e.g. kbp --demo plugins disable %(name)s.", name=name))


@plugins.command("enable")
@click.argument("name")
@click.pass_context
def plugins_enable(ctx: click.Context, name: str) -> None:
    """Enable plugin NAME (every running server loads it at its next request)."""
    _set_enabled(ctx, name, True)


@plugins.command("disable")
@click.argument("name")
@click.pass_context
def plugins_disable(ctx: click.Context, name: str) -> None:
    """Disable plugin NAME: every running server drops it at its next request; it is not even imported at a start."""
    _set_enabled(ctx, name, False)


@plugins.command("new")
@click.argument("name")
@click.option("--source-language", default="en", show_default=True, metavar="LOCALE",
              help="The language you write the plugin's text in (e.g. sv).")
@click.option("--output-dir", "output_dir", type=click.Path(file_okay=False), default=".", show_default=True,
              help="Where to create the package folder kbp-NAME.")
def plugins_new(name: str, source_language: str, output_dir: str) -> None:
    """Create a pip-installable plugin package kbp-NAME: one example of each hook, locales, README, tests."""
    from core import scaffold

    try:
        folder = scaffold.new_plugin(name, output_dir, source_language)
    except scaffold.ScaffoldError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(_("Created %(folder)s. Next: pip install -e %(folder)s && pytest %(folder)s/tests", folder=folder))


# ----------------------------------------------------------------------------- i18n


@main.group("i18n")
def i18n_group() -> None:
    """Translation catalogs: extract, update, compile, stats, init LOCALE (core and every plugin)."""


plugin_option = click.option(
    "--plugin", "plugin", metavar="NAME", default=None, help="Only this plugin's domain ('core' for the UI); default: all."
)


output_dir_option = click.option(
    "--output-dir", "output_dir", type=click.Path(file_okay=False), default=None,
    help="Keep the catalogs in this folder instead of the plugin's locales/ (for a plugin installed from a wheel).")


def _domains(ctx: click.Context, plugin: str | None, output_dir: str | None = None, writes: bool = False, app=None):
    import dataclasses
    import shutil
    from pathlib import Path

    from core import translations
    from core.registry import ContentError

    app = app or make_app(ctx)
    try:
        domains = translations.all_domains(app, plugin)
    except (LookupError, ContentError) as exc:
        raise click.ClickException(str(exc)) from None
    if output_dir:
        if len(domains) != 1:
            raise click.ClickException(_("--output-dir needs --plugin NAME: one domain's catalogs per folder."))
        target = Path(output_dir)
        source = domains[0].folder if domains[0].folder.is_dir() else (domains[0].seed_folder or domains[0].folder)
        for po in source.glob(f"*/LC_MESSAGES/{domains[0].domain}.po"):
            copy = target / po.relative_to(source)
            if not copy.exists():  # start from the installed catalogs, never overwrite the author's work
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(po, copy)
        return [dataclasses.replace(domains[0], folder=target)]
    if writes:
        for dom in domains:
            installed = any(part in ("site-packages", "dist-packages") for part in dom.folder.parts)
            existing = dom.folder if dom.folder.exists() else dom.folder.parent  # a pack's locales/ comes with its first update
            if installed or not os.access(existing, os.W_OK):
                raise click.ClickException(_(
                    "The catalogs of '%(name)s' are in %(folder)s, inside an installed package: changes there are lost "
                    "on the next install. Work on an editable install of the plugin's source (pip install -e), or pass "
                    "--output-dir DIR.", name=dom.name, folder=dom.folder))
    return domains


@i18n_group.command("extract")
@plugin_option
@output_dir_option
@click.pass_context
def i18n_extract(ctx: click.Context, plugin: str | None, output_dir: str | None) -> None:
    """Extract translatable text into each domain's .pot template."""
    from core import translations

    for dom in _domains(ctx, plugin, output_dir, writes=True):
        catalog = translations.extract(dom)
        click.echo(
            ngettext("%(domain)s: %(num)d message -> %(path)s", "%(domain)s: %(num)d messages -> %(path)s",
                     len(catalog), domain=dom.domain, path=dom.pot)
        )


@i18n_group.command("update")
@plugin_option
@output_dir_option
@click.pass_context
def i18n_update(ctx: click.Context, plugin: str | None, output_dir: str | None) -> None:
    """Extract, then merge new and changed text into every .po catalog (changed entries become fuzzy)."""
    from core import translations

    for dom in _domains(ctx, plugin, output_dir, writes=True):
        translations.extract(dom)
        for path in translations.update(dom):
            click.echo(_("updated %(path)s", path=path))


@i18n_group.command("init")
@click.argument("locale")
@plugin_option
@output_dir_option
@click.pass_context
def i18n_init(ctx: click.Context, locale: str, plugin: str | None, output_dir: str | None) -> None:
    """Start catalogs for a new language LOCALE (e.g. nb) in every domain."""
    import re

    from core import translations

    if not re.fullmatch(r"[a-z]{2,3}(_[A-Z]{2})?", locale):
        raise click.BadParameter(_("Use a locale code such as 'nb', 'fi' or 'pt_BR'."), param_hint="LOCALE")
    for dom in _domains(ctx, plugin, output_dir, writes=True):
        path = translations.init(dom, locale)
        if path is None:
            click.echo(_("%(domain)s: %(locale)s exists already or is the source language; skipped", domain=dom.domain, locale=locale))
        else:
            click.echo(_("created %(path)s", path=path))


@i18n_group.command("compile")
@plugin_option
@output_dir_option
@click.pass_context
def i18n_compile(ctx: click.Context, plugin: str | None, output_dir: str | None) -> None:
    """Compile every .po catalog into the .mo file the server reads."""
    from core import translations

    count = 0
    for dom in _domains(ctx, plugin, output_dir):
        count += len(translations.compile_all(dom))
    click.echo(ngettext("compiled %(num)d catalog", "compiled %(num)d catalogs", count))


@i18n_group.command("stats")
@plugin_option
@click.option("--check", is_flag=True,
              help="Exit with status 1 unless the required languages (I18N_REQUIRED_LANGUAGES) are complete and have no fuzzy entries.")
@click.pass_context
def i18n_stats(ctx: click.Context, plugin: str | None, check: bool) -> None:
    """Translated / fuzzy / untranslated counts per domain and language, against the current sources."""
    from core import i18n as core_i18n
    from core import translations

    app = make_app(ctx)
    required = core_i18n.required_languages(app.config)
    header = (_("DOMAIN"), _("LANGUAGE"), _("TRANSLATED"), _("FUZZY"), _("UNTRANSLATED"), _("DONE"), _("REQUIRED"))
    rows = [header]
    incomplete = []
    for dom in _domains(ctx, plugin, app=app):
        for st in translations.stats(dom):
            is_required = st.locale in required
            rows.append((st.domain, st.locale, str(st.translated), str(st.fuzzy), str(st.untranslated), st.done(),
                         _("yes") if is_required else _("no")))
            if is_required and not st.complete:
                incomplete.append(f"{st.domain}/{st.locale}")
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for row in rows:
        click.echo("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    if check and incomplete:
        raise click.ClickException(_("Required catalogs are incomplete or have fuzzy entries: %(names)s.",
                                     names=", ".join(incomplete)))


# ----------------------------------------------------------------------------- people and accounts


@main.group("users")
def users_group() -> None:
    """Accounts: create the first administrator and others."""


@contextmanager
def _service_errors():
    """A service's domain error as a CLI error: the message on stderr, exit status 1."""
    from core.services.errors import ServiceError

    try:
        yield
    except ServiceError as exc:
        raise click.ClickException(exc.message) from None


def _storage(ctx: click.Context):
    return make_app(ctx).extensions["kbp"].storage


@users_group.command("create")
@click.option("--username", required=True, help="Sign-in name, usually an e-mail address.")
@click.option("--role", required=True, type=click.Choice(["admin", "coach", "employee"]), help="The account's role.")
@click.option("--person-email", default=None, help="Link the account to the person with this e-mail address.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input instead of generating one.")
@click.pass_context
def users_create(ctx: click.Context, username: str, role: str, person_email: str | None, password_stdin: bool) -> None:
    """Create an account. Without --password-stdin a strong password is generated and printed once."""
    import secrets

    from core.schemas import text_problem
    from core.services import accounts

    problem = text_problem(username)
    if problem:  # the text rule of the API and the pages (core.schemas)
        raise click.ClickException(f"--username: {problem}")
    storage = _storage(ctx)
    with _service_errors():
        person_id = accounts.person_account(storage, accounts.CLI, person_email) if person_email else None
        password = sys.stdin.readline().rstrip("\n") if password_stdin else secrets.token_urlsafe(12)
        record = accounts.create_account(storage, accounts.CLI, username=username, password=password, role=role,
                                         person_id=person_id)
    click.echo(_("Account %(name)s created with the role %(role)s.", name=record["username"], role=role))
    if not password_stdin:
        click.echo(_("Password (shown once, change it after signing in): %(password)s", password=password))


@main.group("tokens")
def tokens_group() -> None:
    """API tokens for scripts (also on /me)."""


@tokens_group.command("create")
@click.option("--user", "username", required=True, help="The account the token acts for (its sign-in name).")
@click.option("--name", "token_name", default="cli", show_default=True, help="A label to recognise the token by on /me.")
@click.option("--role", default=None, type=click.Choice(["admin", "coach", "employee"]),
              help="A lower role than the account's, to limit what the script may do.")
@click.pass_context
def tokens_create(ctx: click.Context, username: str, token_name: str, role: str | None) -> None:
    """Create an API token and print it (once) on standard output, for `Authorization: Bearer …`."""
    from core.services import accounts

    storage = _storage(ctx)
    with _service_errors():
        _record, token = accounts.issue_token_for(storage, accounts.CLI, username, token_name, role)
    click.echo(_("Token '%(name)s' created for %(user)s; it is shown only now.", name=token_name,
                 user=username.strip().lower()), err=True)
    click.echo(token)


@users_group.command("set-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input instead of generating one.")
@click.pass_context
def users_set_password(ctx: click.Context, username: str, password_stdin: bool) -> None:
    """Reset an account's password: its sessions end and all its API tokens are revoked."""
    import secrets

    from core.services import accounts

    storage = _storage(ctx)
    password = sys.stdin.readline().rstrip("\n") if password_stdin else secrets.token_urlsafe(12)
    with _service_errors():
        record = accounts.reset_password(storage, accounts.CLI, username, password)
    click.echo(_("The password of %(name)s was reset; its sessions ended and its API tokens were revoked.",
                 name=record["username"]))
    if not password_stdin:
        click.echo(_("Password (shown once, change it after signing in): %(password)s", password=password))


@users_group.command("sign-out")
@click.argument("username")
@click.pass_context
def users_sign_out(ctx: click.Context, username: str) -> None:
    """End every session of an account (sign out everywhere), e.g. after a lost laptop."""
    from core.services import accounts

    storage = _storage(ctx)
    with _service_errors():
        ended = accounts.end_sessions_of(storage, accounts.CLI, username)
    click.echo(ngettext("%(num)d session of %(name)s ended.", "%(num)d sessions of %(name)s ended.", ended,
                        name=username.strip().lower()))


@main.group("people")
def people_group() -> None:
    """People: import from CSV."""


@people_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Only check the file; import nothing.")
@click.pass_context
def people_import(ctx: click.Context, file: str, dry_run: bool) -> None:
    """Import people from a CSV file: every row is checked first; all rows are imported or none."""
    from core.services import accounts, people

    storage = _storage(ctx)
    with open(file, "rb") as fh, _service_errors():
        report = people.import_csv(storage, accounts.CLI, fh.read(), dry_run=dry_run)
    if not report.ok:
        for row, column, reason in report.problems:
            click.echo(_("row %(row)s, column %(column)s: %(reason)s", row=row, column=column or "-", reason=reason), err=True)
        raise click.ClickException(
            ngettext("%(num)d problem; nothing was imported.", "%(num)d problems; nothing was imported.", len(report.problems))
        )
    if dry_run:
        click.echo(_("The file is correct: %(created)d new, %(updated)d updated. Nothing was imported (dry run).",
                     created=report.created, updated=report.updated))
    else:
        click.echo(_("Imported: %(created)d new, %(updated)d updated.", created=report.created, updated=report.updated))


# ----------------------------------------------------------------------------- frameworks


@main.group("frameworks")
def frameworks_group() -> None:
    """Frameworks from other systems' files (CASE packages, Moodle competency CSV)."""


@frameworks_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Only check the file; import nothing.")
@click.pass_context
def frameworks_import(ctx: click.Context, file: str, dry_run: bool) -> None:
    """Import a CASE package (.json) or Moodle competency CSV (.csv) into the store: every running
    server uses it from its next request, without a restart. Refused with every problem when the file
    has any (invalid, an id clash, licensed content)."""
    from pathlib import Path as _Path

    from core.services import accounts, framework_imports

    state = make_app(ctx).extensions["kbp"]
    data = _Path(file).read_bytes()
    with _service_errors():
        if dry_run:
            report = framework_imports.preview(state, accounts.CLI, _Path(file).name, data, keep=False)
        else:
            report = framework_imports.confirm(state, accounts.CLI, filename=_Path(file).name, data=data)
    for notice in report["notices"]:
        click.echo(notice)
    if not report["ok"]:
        for problem in report["problems"]:
            click.echo(problem, err=True)
        raise click.ClickException(_("'%(name)s' cannot be imported.", name=_Path(file).name))
    fw = report["framework"]
    done = _("Checked, nothing imported (dry run)") if dry_run else _("Imported")
    # Translators: %(groups)s is "2 groups", %(competencies)s "14 competencies", %(depth)s "3 levels"
    click.echo(_("%(done)s: %(name)s (id %(id)s), %(groups)s, %(competencies)s, %(depth)s.", done=done, name=fw["name"],
                 id=fw["id"], groups=ngettext("%(num)d group", "%(num)d groups", fw["groups"]),
                 competencies=ngettext("%(num)d competency", "%(num)d competencies", fw["competencies"]),
                 depth=ngettext("%(num)d level", "%(num)d levels", fw["depth"])))


@frameworks_group.command("remove")
@click.argument("framework_id")
@click.option("--yes", is_flag=True, help="Do not ask: remove it even when plans, recruitment records or in-house activities use it.")
@click.pass_context
def frameworks_remove(ctx: click.Context, framework_id: str, yes: bool) -> None:
    """Remove a framework imported in KBP (page, API or `kbp frameworks import`): every running server
    drops it at its next request. Says how many plans, recruitment records and in-house activities use
    it and asks first (unless --yes); plans and recruitment records keep their copies of its names. A
    plugin's framework is refused."""
    from core.services import accounts, framework_imports

    state = make_app(ctx).extensions["kbp"]
    with _service_errors():
        found = framework_imports.removal(state, accounts.CLI, framework_id)
    click.echo(_("%(name)s (id %(id)s), imported from %(file)s: %(uses)s", name=found["name"], id=found["id"],
                 file=found["filename"], uses=framework_imports.usage_sentence(found)))
    if not yes and not click.confirm(_("Remove it from KBP on every server?"), default=False):
        raise click.ClickException(_("Nothing was removed."))
    with _service_errors():
        framework_imports.remove(state, accounts.CLI, framework_id, confirmed=True)
    click.echo(_("Removed: %(name)s (id %(id)s).", name=found["name"], id=found["id"]))


# ----------------------------------------------------------------------------- activities


@main.group("activities")
def activities_group() -> None:
    """Editable activity sources (the organisation's in-house activities): list, import, export."""


def _writable_source(app, source_id: str | None):
    sources = [s for s in app.extensions["kbp"].registry.activity_sources.values() if s.writable]
    if not sources:
        raise click.ClickException(_("No editable activity source is installed."))
    if source_id is None:
        return sources[0]
    for s in sources:
        if s.id == source_id:
            return s
    raise click.ClickException(
        _("There is no editable activity source '%(id)s'. Editable: %(known)s.", id=source_id, known=", ".join(s.id for s in sources))
    )


source_option = click.option("--source", "source_id", default=None, help="Activity source id (default: the first editable one).")


@activities_group.command("list")
@source_option
@click.option("--archived", is_flag=True, help="Include archived activities.")
@click.pass_context
def activities_list(ctx: click.Context, source_id: str | None, archived: bool) -> None:
    """List the activities of an editable source: id, kind, status and title."""
    from core.services import accounts, activities

    app = make_app(ctx)
    source = _writable_source(app, source_id)
    with _service_errors():
        found = activities.records(app.extensions["kbp"].registry, accounts.CLI, source.id, include_archived=archived)
    for r in found:
        title = r["title"].get(r.get("source_language", "sv")) or r["id"]
        state = _("archived") if r.get("archived") else _("active")
        click.echo(f"{r['id']}\t{r['kind']}\t{state}\t{title}")


@activities_group.command("export")
@source_option
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), default="-", help="Output file (default: stdout).")
@click.pass_context
def activities_export(ctx: click.Context, source_id: str | None, fmt: str, out: str) -> None:
    """Export every activity, archived ones included; the file imports back unchanged."""
    from core.i18n import available_locales
    from core.services import accounts, activities

    app = make_app(ctx)
    source = _writable_source(app, source_id)
    state = app.extensions["kbp"]
    with app.app_context(), _service_errors():
        body, _media_type, count = activities.export(state.storage, state.registry, accounts.CLI, source.id, fmt,
                                                     available_locales())
    if out == "-":
        click.echo(body, nl=False)
    else:
        with open(out, "w", encoding="utf-8", newline="") as fh:
            fh.write(body)
        click.echo(ngettext("%(num)d activity written to %(file)s.", "%(num)d activities written to %(file)s.", count, file=out))


@activities_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@source_option
@click.option("--dry-run", is_flag=True, help="Only check the file; import nothing.")
@click.pass_context
def activities_import(ctx: click.Context, file: str, source_id: str | None, dry_run: bool) -> None:
    """Import activities from CSV or JSON: all rows are checked; all are imported, or none."""
    from core.services import accounts, activities

    app = make_app(ctx)
    source = _writable_source(app, source_id)
    fmt = "json" if file.lower().endswith(".json") else "csv"
    with open(file, "rb") as fh:
        data = fh.read()
    state = app.extensions["kbp"]
    with app.app_context(), _service_errors():
        result = activities.import_file(state.storage, state.registry, accounts.CLI, source.id, data, fmt, dry_run)
    if not result["ok"]:
        for p in result["problems"]:
            click.echo(_("row %(row)s, column %(column)s: %(reason)s", row=p["row"], column=p["column"] or "-", reason=p["reason"]), err=True)
        raise click.ClickException(
            ngettext("%(num)d problem; nothing was imported.", "%(num)d problems; nothing was imported.", len(result["problems"]))
        )
    if dry_run:
        click.echo(_("The file is correct: %(created)d new, %(updated)d updated. Nothing was imported (dry run).",
                     created=result["created"], updated=result["updated"]))
    else:
        click.echo(_("Imported: %(created)d new, %(updated)d updated.", created=result["created"], updated=result["updated"]))


# ----------------------------------------------------------------------------- content


@main.group("content")
def content_group() -> None:
    """Inspect framework content."""


@content_group.command("stats")
@click.argument("name")
@click.pass_context
def content_stats(ctx: click.Context, name: str) -> None:
    """Counts per competency and language for framework (or plugin) NAME, licensed or not."""
    from core import i18n as core_i18n
    from core.content import framework_stats
    from core.translations import all_domains

    app = make_app(ctx)
    registry = app.extensions["kbp"].registry
    frameworks = [fw for fw in registry.frameworks.values() if name in (fw.id, fw.plugin)]
    if not frameworks:
        known = ", ".join(sorted(registry.frameworks))
        raise click.ClickException(_("There is no framework '%(name)s'. Installed: %(known)s.", name=name, known=known))
    for fw in frameworks:
        domain = next((d for d in all_domains(app) if d.domain == fw.text.domain), None)
        languages = [fw.text.source_language] + [
            loc for loc in (domain.locales() if domain else []) if loc != fw.text.source_language
        ]
        header = (_("COMPETENCY"), _("LANGUAGE"), _("DEFINITION"), _("COACHING"), _("SELF-REFLECTION"), _("ACTIVITIES"), _("KINDS"))
        rows = [header]
        for comp in fw.competencies():
            questions = [q for qs in registry.question_sets.values() for q in qs.questions if q.competency == comp.global_id]
            sets = {q.id: qs for qs in registry.question_sets.values() for q in qs.questions}
            activities = [
                a for src in registry.activity_sources.values() if not src.writable
                for a in src.loaded() if comp.global_id in a.competencies
            ]
            for lang in languages:
                def has(text: str, domain) -> bool:
                    if lang == domain.source_language:
                        return bool(text)
                    folder = registry.locale_dirs.get(domain.domain)
                    return bool(folder) and core_i18n._translations(domain.domain, folder, lang).gettext(text) != text

                coaching = sum(1 for q in questions if q.kind == "coaching" and has(q.text, sets[q.id].text))
                reflective = sum(1 for q in questions if q.kind == "self_reflection" and has(q.text, sets[q.id].text))
                acts = [a for a in activities if has(a.title, a.text) and has(a.description, a.text)]
                rows.append((
                    comp.id, lang, "1" if has(comp.definition, fw.text) else "0", str(coaching), str(reflective),
                    str(len(acts)), str(len({a.kind for a in acts})),
                ))
        click.echo(f"{fw.id} ({fw.plugin})")
        _echo_table(rows)
        _echo_quality(framework_stats(registry, fw))


def _echo_table(rows) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())


def _echo_quality(stats: dict) -> None:
    """The review figures of ``kbp content stats``: situations, kind mix, longest/shortest items."""
    click.echo("")
    click.echo(_("Tagged per situation (total, and the fewest any competency has):"))
    rows = [(_("SITUATION"), _("COACHING"), _("MIN"), _("SELF-REFLECTION"), _("MIN"), _("ACTIVITIES"), _("MIN"))]
    for situation, row in stats["situations"].items():
        rows.append((situation, str(row["coaching"]), str(row["coaching_min"]), str(row["self_reflection"]),
                     str(row["self_reflection_min"]), str(row["activities"]), str(row["activities_min"])))
    _echo_table(rows)
    click.echo("")
    total = stats["activities"] or 1
    click.echo(_("Activities by kind:"))
    _echo_table([(_("KIND"), _("COUNT"), _("SHARE"))] + [
        (kind, str(n), f"{100 * n / total:.0f}%") for kind, n in stats["kinds"].items()
    ])
    click.echo("")
    click.echo(_("Longest and shortest items (characters):"))
    rows = [(_("ITEM"), _("WHICH"), _("LENGTH"), _("COMPETENCY"), _("TEXT"))]
    which_label = {"longest": _("longest"), "shortest": _("shortest")}
    for item, found in stats["extremes"].items():
        for which in ("longest", "shortest"):
            length, comp, text = found[which]
            rows.append((item, which_label[which], str(length), comp, text if len(text) <= 70 else text[:67] + "..."))
    _echo_table(rows)


# ----------------------------------------------------------------------------- licences


@main.group("license")
def license_group() -> None:
    """Licences for licensed frameworks: install and status (keygen and issue are licensor tools)."""


def _licensed_frameworks(app):
    registry = app.extensions["kbp"].registry
    return [fw for fw in registry.frameworks.values() if fw.licence is not None]


@license_group.command("install")
@click.argument("file", type=click.Path(dir_okay=False))
@click.pass_context
def license_install(ctx: click.Context, file: str) -> None:
    """Verify licence FILE and install it for the product it names."""
    from core.licensing import verify_licence

    try:
        with open(file, "rb") as fh:
            data = fh.read(1024 * 1024)
    except OSError as exc:
        raise click.ClickException(_("Cannot read %(file)s: %(reason)s", file=file, reason=exc.strerror or str(exc)))
    app = make_app(ctx)
    frameworks = _licensed_frameworks(app)
    if not frameworks:
        raise click.ClickException(_("No installed framework needs a licence."))
    # the product named in the file decides which framework it is for; verification follows
    probe = verify_licence(data, product="", trusted_keys={}, today=__import__("datetime").date.today())
    product = (probe.licence or {}).get("product") if isinstance(probe.licence, dict) else None
    target = next((fw for fw in frameworks if fw.licence.product == product), None)
    if target is None and len(frameworks) == 1:
        target = frameworks[0]  # let verification explain what is wrong with the file
    if target is None:
        products = ", ".join(sorted(fw.licence.product for fw in frameworks))
        raise click.ClickException(
            _("This file is not a licence for any installed framework (products: %(products)s).", products=products)
        )
    result = app.extensions["kbp"].registry.entitlements.install(target, data)
    if not result.ok:
        raise click.ClickException(result.message)
    click.echo(result.message)


@license_group.command("status")
@click.pass_context
def license_status(ctx: click.Context) -> None:
    """Show the licence state of every framework that needs one (exit status 3 if one is not valid)."""
    app = make_app(ctx)
    entitlements = app.extensions["kbp"].registry.entitlements
    frameworks = _licensed_frameworks(app)
    if not frameworks:
        click.echo(_("No installed framework needs a licence."))
        return
    failed = False
    for fw in frameworks:
        check = entitlements.check(fw)
        state = _("valid") if check.ok else _("not valid")
        click.echo(f"{fw.licence.product}: {state} ({check.code})")
        click.echo(f"  {check.message}")
        waiting = entitlements.pending(fw)
        if waiting is not None:
            click.echo("  " + _("Renewal installed: it takes over on %(issued)s and is valid through %(expires)s.",
                                issued=waiting.issued.isoformat(), expires=waiting.expires.isoformat()))
        warning = entitlements.expiry_warning(fw)
        if warning:
            click.echo("  " + _("Warning: %(message)s", message=warning))
        failed |= not check.ok
    ctx.exit(0 if not failed else 3)


def _read_passphrase(passphrase_file: str | None, confirm: bool) -> bytes:
    if passphrase_file:
        try:
            with open(passphrase_file, "rb") as fh:
                value = fh.read().rstrip(b"\r\n")
        except OSError as exc:
            raise click.ClickException(_("Cannot read %(file)s: %(reason)s", file=passphrase_file,
                                         reason=exc.strerror or str(exc))) from None
    else:
        value = click.prompt(_("Passphrase for the private key"), hide_input=True,
                             confirmation_prompt=confirm, err=True).encode("utf-8")
    if len(value) < 12:
        raise click.ClickException(_("Use a passphrase of at least 12 characters."))
    return value


passphrase_option = click.option(
    "--passphrase-file", type=click.Path(dir_okay=False), default=None,
    help="Read the private key's passphrase from this file instead of asking for it.")


@license_group.command("keygen")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="Where to write the PRIVATE key (PEM).")
@click.option("--key-id", required=True, help="Id of the key, e.g. 'acme-2027-1'; goes into every licence it signs.")
@passphrase_option
def license_keygen(out: str, key_id: str, passphrase_file: str | None) -> None:
    """Licensor tool: create an Ed25519 key pair; the private key is encrypted with a passphrase.
    Keep it offline; publish the printed public key in your trusted keys file."""
    import json

    from core.licensing import generate_keypair

    passphrase = _read_passphrase(passphrase_file, confirm=True)
    private_pem, public_b64 = generate_keypair(passphrase)
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise click.ClickException(_("%(file)s exists already; refusing to overwrite a key.", file=out)) from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(private_pem)
    click.echo(_("Encrypted private key written to %(file)s (mode 600). Never share it or commit it.", file=out))
    click.echo(_("Add this entry to your keys file and sign it for licensees with `kbp license sign-keys`:"))
    click.echo(json.dumps({"key_id": key_id, "public_key": public_b64, "demo": False}, indent=2))


@license_group.command("sign-keys")
@click.option("--key", "key_file", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Private key (PEM) of a key the product's built-in list trusts.")
@click.option("--key-id", required=True, help="Id of that key in the built-in list.")
@click.option("--keys", "keys_file", required=True, type=click.Path(exists=True, dir_okay=False),
              help='Your keys file {"keys": [...]}: new keys, and old ones marked "revoked": true.')
@click.option("--product", required=True, help="Product id the keys are for (a licensed framework names it: kbp license status lists them).")
@passphrase_option
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="Where to write the signed key bundle.")
@click.pass_context
def license_sign_keys(ctx, key_file, key_id, keys_file, product, passphrase_file, out) -> None:
    """Licensor tool: sign your keys file into the key bundle licensees name with KBP_<PRODUCT>_TRUSTED_KEYS."""
    import json

    from core.licensing import load_trusted_keys, private_key_is_encrypted, sign_key_bundle

    app = make_app(ctx)
    fw = next((f for f in _licensed_frameworks(app) if f.licence.product == product), None)
    if fw is None:
        raise click.ClickException(_("No installed framework uses the product '%(product)s'.", product=product))
    key_pem = open(key_file, "rb").read()
    passphrase = _read_passphrase(passphrase_file, confirm=False) if private_key_is_encrypted(key_pem) else None
    try:
        entries = json.loads(open(keys_file, "rb").read().decode("utf-8")).get("keys")
        load_trusted_keys(keys_file)  # every entry valid
        data = sign_key_bundle(key_pem, key_id=key_id, keys=entries, passphrase=passphrase,
                               trusted_keys=load_trusted_keys(fw.licence.keys_file))
    except (ValueError, AttributeError) as exc:
        raise click.ClickException(str(exc)) from None
    with open(out, "wb") as fh:
        fh.write(data)
    click.echo(_("Signed key bundle written to %(file)s.", file=out))


@license_group.command("issue")
@click.option("--key", "key_file", required=True, type=click.Path(exists=True, dir_okay=False), help="Private key (PEM).")
@click.option("--key-id", required=True, help="Id of that key as listed in the product's trusted keys.")
@click.option("--licensee", required=True, help="Who the licence is granted to.")
@click.option("--expires", required=True, type=click.DateTime(formats=["%Y-%m-%d"]), help="Last valid day, YYYY-MM-DD.")
@click.option("--issued", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="First valid day (default today); a later day makes a renewal that can be installed in advance.")
@click.option("--product", required=True, help="Product id the licence is for (a licensed framework names it: kbp license status lists them).")
@click.option("--feature", "features", multiple=True, help="A licensed feature (repeatable).")
@click.option("--seats", type=click.IntRange(min=1), default=None, help="Number of seats, if limited.")
@click.option("--trusted-keys", "trusted_keys_file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Check --key-id against this keys file (default: the product's built-in keys plus the bundle in KBP_<PRODUCT>_TRUSTED_KEYS).")
@passphrase_option
@click.option("--out", "out", type=click.Path(dir_okay=False), default="-", help="Output file (default: stdout).")
@click.pass_context
def license_issue(ctx, key_file, key_id, licensee, expires, issued, product, features, seats, trusted_keys_file,
                  passphrase_file, out) -> None:
    """Licensor tool: sign a licence file. The key id must be the one published for this key."""
    from core.entitlements import product_trusted_keys
    from core.licensing import issue_licence, load_trusted_keys, private_key_is_encrypted

    key_pem = open(key_file, "rb").read()
    try:
        if trusted_keys_file:
            trusted = load_trusted_keys(trusted_keys_file)
        else:
            app = make_app(ctx)
            fw = next((f for f in _licensed_frameworks(app) if f.licence.product == product), None)
            if fw is None:
                raise click.ClickException(_(
                    "No installed framework uses the product '%(product)s'; name its keys file with --trusted-keys.",
                    product=product))
            trusted = product_trusted_keys(fw.licence.keys_file, product, app.config)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    passphrase = _read_passphrase(passphrase_file, confirm=False) if private_key_is_encrypted(key_pem) else None
    try:
        data = issue_licence(
            key_pem,
            key_id=key_id,
            licensee=licensee,
            product=product,
            expires=expires.date(),
            issued=issued.date() if issued else None,
            features=list(features),
            seats=seats,
            passphrase=passphrase,
            trusted_keys=trusted,
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if out == "-":
        click.echo(data.decode("utf-8"), nl=False)
    else:
        with open(out, "wb") as fh:
            fh.write(data)
        click.echo(_("Licence written to %(file)s.", file=out))


# operations commands (seed, backup, restore, migrate, compact) live in their own module
from core import cli_ops  # noqa: E402,F401
from core import cli_reminders  # noqa: E402,F401


def run() -> None:  # pragma: no cover - console entry for `python -m core.cli`
    main(prog_name="kbp")


if __name__ == "__main__":  # pragma: no cover
    run()

