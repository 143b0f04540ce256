"""``kbp reminders send [--dry-run]`` and ``kbp overview grant|revoke``: registered on the main group (see the end of core/cli.py).

Run it from cron or a systemd timer (README, "Reminders"); it is safe to run as often as you
like: each mail is sent at most once (see :mod:`core.reminders`).
"""
from __future__ import annotations

from datetime import date

import click

from core.cli_common import main, make_app
from core.i18n import gettext as _


@main.group("reminders")
def reminders_group() -> None:
    """Reminders by e-mail and in the app."""


@reminders_group.command("send")
@click.option("--dry-run", is_flag=True, help="Only list the mails that are due; send and store nothing.")
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Compute as if it were this day (YYYY-MM-DD); for checking a schedule.")
@click.pass_context
def reminders_send(ctx: click.Context, dry_run: bool, today) -> None:
    """Store new in-app notifications and e-mail the reminders that are due, each at most once."""
    from core import reminders

    app = make_app(ctx)
    storage = app.extensions["kbp"].storage
    day = today.date() if today else date.today()
    try:
        result = reminders.run(storage, app.config, reminders.renderer(app), dry_run=dry_run, today=day,
                               say=lambda line: click.echo(line))
    except reminders.ReminderError as exc:
        raise click.ClickException(str(exc)) from None
    if dry_run:
        for mail in result.planned:
            click.echo(_("would send to %(person)s: reminders %(num)d (%(key)s)", person=mail.person["id"],
                         num=len(mail.notifications), key=mail.key))
        click.echo(_("Reminders due: %(events)d; mails that would be sent: %(num)d (dry run: nothing was sent or stored).",
                     events=result.events, num=len(result.planned)))
        return
    click.echo(_("Reminders due: %(events)d; new in-app notifications: %(new)d; mails sent: %(sent)d.",
                 events=result.events, new=result.new_notifications, sent=result.sent))
    if result.refused:
        click.echo(_("The mail server refused %(num)d reminders (unknown or blocked addresses); they are not tried "
                     "again.", num=result.refused), err=True)
    if result.uncertain:
        click.echo(_("Reminders being sent when an earlier run stopped: %(num)d. They are not sent again (at most "
                     "once); they are in the recipients' notification lists.", num=result.uncertain), err=True)


@main.group("overview")
def overview_group() -> None:
    """The HR overview: who besides administrators may see it."""


@overview_group.command("grant")
@click.argument("username")
@click.pass_context
def overview_grant(ctx: click.Context, username: str) -> None:
    """Let the account USERNAME (e.g. someone in HR) see the overview."""
    _grant(ctx, username, True)
    click.echo(_("%(name)s may now see the overview.", name=username))


@overview_group.command("revoke")
@click.argument("username")
@click.pass_context
def overview_revoke(ctx: click.Context, username: str) -> None:
    """Take the overview away from USERNAME again."""
    _grant(ctx, username, False)
    click.echo(_("%(name)s may no longer see the overview.", name=username))


def _grant(ctx: click.Context, username: str, granted: bool) -> None:
    from core.services import accounts
    from core.services.errors import ServiceError

    app = make_app(ctx)
    try:
        accounts.set_overview_grant(app.extensions["kbp"].storage, accounts.CLI, username, granted)
    except ServiceError as exc:
        raise click.ClickException(exc.message) from None
