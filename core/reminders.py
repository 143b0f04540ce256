"""Reminders people actually get: which are due, in-app notifications, and e-mail, sent once.

What is due (:func:`due_events`), computed from the plans and their history with the rules of
:mod:`core.plans`; each event has a stable *key*, so the same fact is never announced twice:

``agreement_waiting``   a coaching plan that one side confirmed waits for the other (per version)
``plan_changed``        the other person changed the plan (one per plan and day; private notes never count)
``plan_agreed``         the other person's confirmation made the plan agreed
``follow_up_soon``      a follow-up date within ``REMINDERS_FOLLOW_UP_DAYS`` (7) days, once per date
``follow_up_today``     the follow-up is today
``activity_due``        an activity you own is due within that many days (once per due date)
``activity_overdue``    an activity you own is past its due date and not done (once per due date;
                        dates older than ``REMINDERS_OVERDUE_DAYS``, 30, are not announced any more)
``note_shared``         a self-reflection note was shared with you (the coach)

Who gets it: the employee whose plan it is and their coach, only people with an active account
(the link needs a sign-in) and an e-mail address. The owner of an activity is the employee,
unless the activity's owner field names the coach (name or e-mail).

**Records.** Every event becomes a *notification* (collection ``notifications``, id derived
from recipient + key, so it is created once): the in-app list. A mail is a record in
``reminder_mails`` (id derived from recipient + mail key: the event key, or ``digest:<day>`` /
``digest:<iso week>``) with ``state`` ``sending`` → ``sent``.

**Sending: at most once.** A batch of mails is *claimed* (mail records written as ``sending``,
their notifications marked, one unit of work) before the SMTP conversation starts, and marked
``sent`` after. A run that dies between the two leaves ``sending`` records: the next run does
not send those again, marks them ``uncertain`` and reports them (once). We chose at-most-once
because a reminder is a nudge: a lost one is cheap (the in-app list and the plan still show it),
a duplicate trains people to ignore the mails. At most one batch (``REMINDERS_BATCH``, 20) can be lost by a crash.

**One run at a time.** A lease (collection ``reminder_runs``) lets one run proceed across
processes and servers; a lease whose process is gone (same host) or expired is taken over.

Mails carry no note, goal or activity text: only what kind of thing happened, a date, and the
link to the page, which shows the rest to the signed-in recipient.
"""
from __future__ import annotations

import hashlib
import os
import secrets
import smtplib
import socket
import ssl
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any, Callable, Iterable

from core import plans as plan_rules
from core.i18n import gettext as _

NOTIFICATIONS = "notifications"
MAILS = "reminder_mails"
PREFS = "reminder_prefs"
RUNS = "reminder_runs"
FEEDS = "calendar_feeds"

#: event kind -> the category a person can opt out of on /me
KINDS = {
    "agreement_waiting": "agreement",
    "plan_agreed": "agreement",
    "plan_changed": "changes",
    "follow_up_soon": "follow_up",
    "follow_up_today": "follow_up",
    "activity_due": "activities",
    "activity_overdue": "activities",
    "note_shared": "shared_notes",
}
CATEGORIES = ("agreement", "changes", "follow_up", "activities", "shared_notes")
DIGESTS = ("off", "daily", "weekly")
CHANGE_ACTIONS = ("update", "activity_status", "follow_up")

DEFAULTS = {
    "REMINDERS_FOLLOW_UP_DAYS": 7,
    "REMINDERS_OVERDUE_DAYS": 30,
    "REMINDERS_LOOKBACK_DAYS": 7,
    "REMINDERS_BATCH": 20,
    "REMINDERS_LEASE_SECONDS": 15 * 60,
    "SMTP_HOST": None,
    "SMTP_PORT": 25,
    "SMTP_USER": None,
    "SMTP_PASSWORD": None,
    "SMTP_STARTTLS": False,
    "MAIL_FROM": "kbp@localhost",
    "BASE_URL": "http://localhost:5000",
}


class ReminderError(Exception):
    """A problem the operator can fix (the message says how)."""

    def __init__(self, message: str, status: int = 422, errors: dict | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.errors = errors or {}
        self.code = code


def setting(config, key: str):
    value = config.get(key, DEFAULTS.get(key))
    return DEFAULTS.get(key) if value is None and key in DEFAULTS else value


def _flag(value) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on") if not isinstance(value, bool) else value


def _id(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


# ----------------------------------------------------------------------------- events


@dataclass(frozen=True)
class Event:
    person_id: str
    kind: str
    key: str
    plan_id: str
    date: str | None = None

    @property
    def id(self) -> str:
        return _id(self.person_id, self.key)

    @property
    def link(self) -> str:
        return f"/plans/{self.plan_id}"


def _recipients(storage) -> tuple[dict[str, dict], dict[str, str]]:
    """People who can receive reminders (active, with an e-mail and an active account), and
    account id -> person id for reading the history."""
    accounts = storage.collection("accounts").all()
    account_person = {a["id"]: a.get("person_id") for a in accounts if a.get("person_id")}
    with_account = {a["person_id"] for a in accounts if a.get("person_id") and a.get("active", True)}
    people = {p["id"]: p for p in storage.collection("people").all()
              if p["id"] in with_account and p.get("status", "active") == "active" and p.get("email")}
    return people, account_person


def due_events(storage, config, today: date | None = None, now: float | None = None,
               people: dict | None = None) -> list[Event]:
    """Every event due ``today`` (see the module docstring), for people who can receive it."""
    today = today or date.today()
    now = now or time.time()
    soon = int(setting(config, "REMINDERS_FOLLOW_UP_DAYS"))
    overdue_window = int(setting(config, "REMINDERS_OVERDUE_DAYS"))
    since = now - int(setting(config, "REMINDERS_LOOKBACK_DAYS")) * 86400
    recipients, account_person = _recipients(storage) if people is None else people
    all_people = storage.collection("people")
    events: list[Event] = []

    def add(person_id, kind, key, plan_id, day=None):
        if person_id and person_id in recipients:
            events.append(Event(person_id, kind, key, plan_id, day))

    coach_of = dict(all_people.map_readonly(lambda p: (p["id"], p.get("coach_id"))))
    plans: dict[str, tuple[str, str | None, str, str]] = {}  # id -> (employee, coach, mode, status)

    def visit(plan: dict) -> None:  # reads the stored record in place: copies only what it keeps
        employee = plan["person_id"]
        coach = coach_of.get(employee) or plan.get("coach_id")
        coaching = plan["mode"] == "coaching"
        pid = plan["id"]
        plans[pid] = (employee, coach, plan["mode"], plan["status"])
        parties = [employee, coach] if coaching else [employee]
        # a confirmation waits for the other side
        agreed = plan.get("agreed") or {}
        if coaching and plan["status"] == "draft" and bool(agreed.get("employee")) != bool(agreed.get("coach")):
            waiting = coach if agreed.get("employee") else employee
            add(waiting, "agreement_waiting", f"agree:{pid}:{plan['version']}", pid)
        # follow-ups
        fd = plan.get("follow_up_date")
        if fd:
            days = (date.fromisoformat(fd) - today).days
            for person in parties:
                if days == 0:
                    add(person, "follow_up_today", f"follow_up:{pid}:{fd}:today", pid, fd)
                elif 0 < days <= soon:
                    add(person, "follow_up_soon", f"follow_up:{pid}:{fd}:soon", pid, fd)
        # activities one owns
        late_ids = {a["id"] for a in plan_rules.overdue(plan, today)}
        for activity in plan["activities"]:
            due = activity.get("due")
            if not due or activity["status"] not in ("planned", "in_progress"):
                continue
            owner = employee
            if coach and coaching and _owner_is(activity.get("owner", ""), recipients.get(coach)):
                owner = coach
            days = (date.fromisoformat(due) - today).days
            if activity["id"] in late_ids:
                if -days <= overdue_window:
                    add(owner, "activity_overdue", f"activity:{pid}:{activity['id']}:{due}:overdue", pid, due)
            elif days <= soon:
                add(owner, "activity_due", f"activity:{pid}:{activity['id']}:{due}:due", pid, due)
        # shared self-reflection notes reach the coach
        if not coaching and coach and plan.get("updated_at", 0) >= since:
            for q in plan["questions"]:
                if q.get("shared") and (q.get("note") or "").strip():
                    add(coach, "note_shared", f"shared:{pid}:{q['id']}", pid)

    storage.collection(plan_rules.PLANS).map_readonly(visit)
    # what the other person did
    wanted = CHANGE_ACTIONS + ("agree",)
    recent = [e for e in storage.collection(plan_rules.HISTORY).map_readonly(
        lambda e: (e["id"], e["plan_id"], e.get("at", 0), e.get("action"), e.get("by"))
        if e.get("at", 0) >= since and e.get("action") in wanted else None) if e is not None]
    recent = [{"id": i, "plan_id": p, "at": at, "action": action, "by": by} for i, p, at, action, by in recent]
    last_agree: dict[str, str] = {}  # the confirmation that completed an agreement is the plan's last one
    for entry in sorted(recent, key=lambda e: e["at"]):
        if entry["action"] == "agree":
            last_agree[entry["plan_id"]] = entry["id"]
    for entry in recent:
        if entry["plan_id"] not in plans:
            continue
        employee, coach, mode, status = plans[entry["plan_id"]]
        if mode != "coaching":
            continue
        actor = account_person.get(entry.get("by"))
        other = coach if actor == employee else employee if actor == coach else None
        if other is None:
            continue
        pid = entry["plan_id"]
        if entry["action"] == "agree":
            if status == "agreed" and last_agree.get(pid) == entry["id"]:
                add(other, "plan_agreed", f"agreed:{pid}:{entry['id']}", pid)
        else:
            day = datetime.fromtimestamp(entry["at"], timezone.utc).date().isoformat()
            add(other, "plan_changed", f"changed:{pid}:{day}", pid, None)
    unique: dict[str, Event] = {}
    for event in events:
        unique.setdefault(event.id, event)
    return list(unique.values())


def _owner_is(owner: str, person: dict | None) -> bool:
    owner = (owner or "").strip().lower()
    return bool(owner and person and owner in ((person.get("name") or "").lower(), (person.get("email") or "").lower()))


# ----------------------------------------------------------------------------- preferences


def preferences(storage, person_id: str) -> dict:
    rec = storage.collection(PREFS).get(person_id) or {}
    return {"digest": rec.get("digest", "off"), "opt_out": list(rec.get("opt_out", []))}


def set_preferences(storage, account, digest: str, opt_out: Iterable[str]) -> dict:
    """Your own reminder settings: digest (off/daily/weekly) and the categories you do not want by e-mail."""
    if account is None or not account.person_id:
        raise ReminderError(_("Only an account linked to a person has reminders."), 403)
    if digest not in DIGESTS:
        raise ReminderError(_("Choose how often reminders are collected: off, daily or weekly."), errors={"digest": [digest]})
    opt_out = list(dict.fromkeys(opt_out))
    unknown = [c for c in opt_out if c not in CATEGORIES]
    if unknown:
        raise ReminderError(_("Unknown kind of reminder: %(id)s", id=", ".join(unknown)), errors={"opt_out": unknown})
    rec = {"id": account.person_id, "person_id": account.person_id, "digest": digest, "opt_out": opt_out,
           "updated_at": time.time()}
    storage.collection(PREFS).upsert(rec)
    return preferences(storage, account.person_id)


# ----------------------------------------------------------------------------- in-app list


def notifications_for(storage, person_id: str, limit: int = 100) -> list[dict]:
    found = storage.collection(NOTIFICATIONS).find(person_id=person_id)
    found.sort(key=lambda n: n["created_at"], reverse=True)
    return found[:limit]


def unread_count(storage, person_id: str) -> int:
    return sum(1 for n in storage.collection(NOTIFICATIONS).find(person_id=person_id) if not n.get("read_at"))


def mark_read(storage, account, ids: Iterable[str] | None = None) -> int:
    """Mark your notifications read (all of them when ``ids`` is None); returns how many changed."""
    if account is None or not account.person_id:
        return 0
    wanted = set(ids) if ids is not None else None
    changed = 0
    with storage.collection(NOTIFICATIONS).transaction() as tx:
        for n in tx.find(person_id=account.person_id):
            if not n.get("read_at") and (wanted is None or n["id"] in wanted):
                tx.update(n["id"], {"read_at": time.time()})
                changed += 1
    return changed


# ----------------------------------------------------------------------------- the run


@dataclass
class Mail:
    id: str
    person: dict
    key: str
    notifications: list[dict]


@dataclass
class RunResult:
    events: int = 0
    new_notifications: int = 0
    sent: int = 0
    refused: int = 0
    uncertain: int = 0
    planned: list[Mail] = field(default_factory=list)


def _digest_key(digest: str, today: date) -> str | None:
    if digest == "daily":
        return f"digest:{today.isoformat()}"
    if digest == "weekly":
        year, week, _weekday = today.isocalendar()
        return f"digest:{year}-W{week:02d}"
    return None


def _acquire_lease(storage, seconds: int) -> str:
    me = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    now = time.time()
    with storage.collection(RUNS).transaction() as tx:
        lease = tx.get("lease")
        if lease and lease["expires"] > now and lease["holder"] != me and _alive(lease["holder"]):
            raise ReminderError(_("Another reminders run is in progress (started %(when)s); try again later.",
                                  when=datetime.fromtimestamp(lease["at"], timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
                                409, code="run_in_progress")
        tx.upsert({"id": "lease", "holder": me, "at": now, "expires": now + seconds})
    return me


def _alive(holder: str) -> bool:
    host, pid, _token = (holder.split(":") + ["", "", ""])[:3]
    if host != socket.gethostname():
        return True  # another server: trust the expiry
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, ValueError):
        return False
    except PermissionError:
        return True
    return True


def _release_lease(storage, me: str) -> None:
    with storage.collection(RUNS).transaction() as tx:
        lease = tx.get("lease")
        if lease and lease["holder"] == me:
            tx.delete("lease")


def plan_run(storage, config, today: date | None = None, now: float | None = None, *, write: bool = True) -> RunResult:
    """Compute events, store new notifications (unless ``write`` is False) and decide the mails
    to send now. Pure bookkeeping: nothing is sent here."""
    today = today or date.today()
    now = now or time.time()
    recipients = _recipients(storage)
    events = due_events(storage, config, today, now, people=recipients)
    result = RunResult(events=len(events))
    notes = storage.collection(NOTIFICATIONS)
    known = set(notes.map_readonly(lambda n: n["id"]))
    open_ones = notes.find_any("mail", ["pending", "sending"])  # indexed: the notifications still to mail
    prefs = {p["id"]: p for p in storage.collection(PREFS).all()}
    fresh = []
    for event in events:
        if event.id in known:
            continue
        pref = prefs.get(event.person_id) or {}
        wanted = KINDS[event.kind] not in pref.get("opt_out", [])
        fresh.append({"id": event.id, "person_id": event.person_id, "kind": event.kind, "key": event.key,
                      "plan_id": event.plan_id, "date": event.date, "link": event.link, "created_at": now,
                      "read_at": None, "mail": "pending" if wanted else "off"})
    result.new_notifications = len(fresh)
    if write and fresh:
        with notes.transaction() as tx:
            for rec in fresh:
                if tx.get(rec["id"]) is None:
                    tx.insert(rec)
    pending_by_person: dict[str, list[dict]] = {}
    for rec in open_ones + fresh:
        if rec.get("mail") == "pending":
            pending_by_person.setdefault(rec["person_id"], []).append(rec)
        elif rec.get("mail") == "sending":
            result.uncertain += 1
    people, _accounts = recipients
    sent_keys = set(storage.collection(MAILS).map_readonly(lambda m: m["id"]))
    for person_id, pending in pending_by_person.items():
        person = people.get(person_id)
        if person is None:
            continue
        pending.sort(key=lambda n: (n["created_at"], n["key"]))
        digest = (prefs.get(person_id) or {}).get("digest", "off")
        key = _digest_key(digest, today)
        if key is None:
            for n in pending:
                mail_id = _id(person_id, n["key"])
                if mail_id not in sent_keys:
                    result.planned.append(Mail(mail_id, person, n["key"], [n]))
        else:
            mail_id = _id(person_id, key)
            if mail_id not in sent_keys:
                result.planned.append(Mail(mail_id, person, key, pending))
    return result


def run(storage, config, render: Callable[[Mail], EmailMessage], *, dry_run: bool = False,
        today: date | None = None, now: float | None = None, connect: Callable[[], Any] | None = None,
        say: Callable[[str], None] = lambda line: None) -> RunResult:
    """``kbp reminders send``: store new notifications and e-mail what is due, each mail at most once."""
    if dry_run:
        return plan_run(storage, config, today, now, write=False)
    if not setting(config, "SMTP_HOST") and connect is None:
        raise ReminderError(_("No mail server is configured: set KBP_SMTP_HOST (and KBP_SMTP_PORT, KBP_MAIL_FROM)."),
                            code="smtp_not_configured")
    lease = _acquire_lease(storage, int(setting(config, "REMINDERS_LEASE_SECONDS")))
    try:
        interrupted = _settle_interrupted(storage)
        result = plan_run(storage, config, today, now)
        result.uncertain = interrupted
        batch = max(1, int(setting(config, "REMINDERS_BATCH")))
        mails = result.planned
        if not mails:
            return result
        smtp = (connect or (lambda: smtp_connect(config)))()  # before anything is claimed
        try:
            for start in range(0, len(mails), batch):
                chunk = _claim(storage, mails[start:start + batch])
                done: list[Mail] = []
                refused: list[Mail] = []
                try:
                    for i, mail in enumerate(chunk):
                        try:
                            smtp.send_message(render(mail))
                        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPResponseException) as exc:
                            if _permanent(exc):
                                refused.append(mail)  # the server said no for good: not delivered, not retried
                                continue
                            # a temporary refusal: this mail and the rest were not delivered; the next run sends them
                            _unclaim(storage, chunk[i:] + mails[start + batch:])
                            raise _stopped(exc, result.sent + len(done)) from None
                        except (smtplib.SMTPException, OSError) as exc:
                            # the connection broke: the mail in flight is uncertain, the rest were never handed over
                            _unclaim(storage, chunk[i + 1:] + mails[start + batch:])
                            raise _stopped(exc, result.sent + len(done)) from None
                        done.append(mail)
                finally:
                    _mark_sent(storage, done)
                    _mark_sent(storage, refused, state="refused")
                    result.sent += len(done)
                    result.refused += len(refused)
        finally:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                pass
        return result
    finally:
        _release_lease(storage, lease)


def _settle_interrupted(storage) -> int:
    """Mails left ``sending`` by a run that died (we hold the lease, so no run is alive) become
    ``uncertain``: never sent again, reported once. Returns how many notifications that concerns."""
    stuck = storage.collection(NOTIFICATIONS).find_any("mail", ["sending"])
    if not stuck:
        return 0
    with storage.unit_of_work(MAILS, NOTIFICATIONS) as uow:
        for n in stuck:
            uow[NOTIFICATIONS].update(n["id"], {"mail": "uncertain"})
        for m in uow[MAILS].find(state="sending"):
            uow[MAILS].update(m["id"], {"state": "uncertain"})
    return len(stuck)


def _claim(storage, mails: list[Mail]) -> list[Mail]:
    """Write the batch's mail records as ``sending`` before anything is sent (at most once)."""
    claimed = []
    now = time.time()
    with storage.unit_of_work(MAILS, NOTIFICATIONS) as uow:
        for mail in mails:
            if uow[MAILS].get(mail.id) is not None:
                continue
            uow[MAILS].insert({"id": mail.id, "person_id": mail.person["id"], "key": mail.key, "state": "sending",
                               "notifications": [n["id"] for n in mail.notifications], "claimed_at": now, "sent_at": None})
            for n in mail.notifications:
                uow[NOTIFICATIONS].update(n["id"], {"mail": "sending"})
            claimed.append(mail)
    return claimed


def _mark_sent(storage, mails: list[Mail], state: str = "sent") -> None:
    if not mails:
        return
    now = time.time()
    with storage.unit_of_work(MAILS, NOTIFICATIONS) as uow:
        for mail in mails:
            uow[MAILS].update(mail.id, {"state": state, "sent_at": now})
            for n in mail.notifications:
                uow[NOTIFICATIONS].update(n["id"], {"mail": state})


def _permanent(exc: Exception) -> bool:
    """A 5xx answer (unknown mailbox, rejected message): trying again would not help."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _msg in exc.recipients.values())
    return getattr(exc, "smtp_code", 0) >= 500


def _stopped(exc: Exception, sent: int) -> ReminderError:
    return ReminderError(_("The mail server stopped accepting mail (%(reason)s) after %(num)d mails. The others are "
                           "sent by the next run.", reason=exc.__class__.__name__, num=sent), code="smtp_failed")


def _unclaim(storage, mails: list[Mail]) -> None:
    """Mails claimed but certainly never handed to the server go back to waiting for the next run."""
    with storage.unit_of_work(MAILS, NOTIFICATIONS) as uow:
        for mail in mails:
            rec = uow[MAILS].get(mail.id)
            if rec is None or rec["state"] != "sending":
                continue
            uow[MAILS].delete(mail.id)
            for n in mail.notifications:
                uow[NOTIFICATIONS].update(n["id"], {"mail": "pending"})


def smtp_connect(config):
    host = setting(config, "SMTP_HOST")
    port = int(setting(config, "SMTP_PORT"))
    try:
        smtp = smtplib.SMTP(host, port, timeout=30)
        if _flag(setting(config, "SMTP_STARTTLS")):
            smtp.starttls(context=ssl.create_default_context())
        if setting(config, "SMTP_USER"):
            smtp.login(setting(config, "SMTP_USER"), setting(config, "SMTP_PASSWORD") or "")
    except (OSError, smtplib.SMTPException) as exc:
        raise ReminderError(_("Could not connect to the mail server %(host)s:%(port)s (%(reason)s). Check KBP_SMTP_HOST, "
                              "KBP_SMTP_PORT and the credentials.", host=host, port=port, reason=exc.__class__.__name__),
                            code="smtp_failed") from None
    return smtp


def build_message(config, mail: Mail, subject: str, text: str, html: str) -> EmailMessage:
    sender = setting(config, "MAIL_FROM")
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = sender
    msg["To"] = mail.person["email"]
    msg["Date"] = formatdate(localtime=False)
    domain = sender.rpartition("@")[2] or "kbp.invalid"
    msg["Message-ID"] = f"<{mail.id}@{domain}>"  # stable: a resend would be recognisable
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg


# ----------------------------------------------------------------------------- in-process scheduler


def scheduler_command(cli_options: dict) -> list[str]:
    """``kbp [--data-dir D] [--demo] reminders send`` for this Python, from the server's CLI options."""
    import sys

    argv = [sys.executable, "-c", "from core.cli import run; run()"]
    if cli_options.get("DATA_DIR"):
        argv += ["--data-dir", str(cli_options["DATA_DIR"])]
    if cli_options.get("DEMO"):
        argv.append("--demo")
    return argv + ["reminders", "send"]


def start_scheduler(command: list[str], every_seconds: float, stop=None, env: dict | None = None):
    """``kbp serve --with-scheduler``: run ``kbp reminders send`` every ``every_seconds``, for small
    installations without cron. A thread in the server's main process starts the command as a
    child process each time, so the server shares no connection or file state with it (workers
    fork from the main process) and a failing run cannot harm the server; the lease keeps it to
    one run at a time across processes and servers."""
    import logging
    import subprocess
    import threading

    log = logging.getLogger(__name__)
    stop = stop or threading.Event()

    def loop() -> None:
        while True:
            try:
                done = subprocess.run(command, env=env, capture_output=True, text=True,
                                      timeout=int(DEFAULTS["REMINDERS_LEASE_SECONDS"]))
                if done.returncode:
                    log.warning("reminders: %s", (done.stderr or done.stdout).strip()[-500:])
            except (OSError, subprocess.TimeoutExpired) as exc:
                log.warning("reminders: the run could not finish (%s)", exc.__class__.__name__)
            if stop.wait(every_seconds):
                return

    thread = threading.Thread(target=loop, name="kbp-reminders", daemon=True)
    thread.start()
    return thread


# ----------------------------------------------------------------------------- the mails' text


def describe(kind: str, day: str | None) -> str:
    """One line saying what happened, in the current locale; never any content of the plan."""
    from flask_babel import format_date

    when = format_date(date.fromisoformat(day), "long") if day else ""
    texts = {
        "agreement_waiting": lambda: _("A development plan is waiting for your confirmation."),
        "plan_agreed": lambda: _("A development plan you take part in is now agreed by both of you."),
        "plan_changed": lambda: _("The other person changed a development plan you take part in."),
        "follow_up_soon": lambda: _("A follow-up of a development plan is planned for %(date)s.", date=when),
        "follow_up_today": lambda: _("A follow-up of a development plan is planned for today."),
        "activity_due": lambda: _("An activity you own in a development plan is due on %(date)s.", date=when),
        "activity_overdue": lambda: _("An activity you own in a development plan was due on %(date)s and is not done yet.",
                                      date=when),
        "note_shared": lambda: _("An employee shared a self-reflection note with you."),
    }
    return texts[kind]()


def category_labels() -> dict[str, str]:
    return {
        "agreement": _("Plans waiting for my confirmation, and plans agreed"),
        "changes": _("Changes the other person made to a plan"),
        "follow_up": _("Follow-ups coming up"),
        "activities": _("My activities that are due or overdue"),
        "shared_notes": _("Self-reflection notes shared with me"),
    }


def renderer(app) -> Callable[[Mail], EmailMessage]:
    """Render a mail in its recipient's language (their locale, else the default), text + HTML."""
    from flask import render_template
    from flask_babel import force_locale

    config = app.config
    base = str(setting(config, "BASE_URL")).rstrip("/")

    def render(mail: Mail) -> EmailMessage:
        locale = mail.person.get("locale") or config.get("DEFAULT_LOCALE") or "sv"
        # a request context, so that core.i18n translates with the recipient's locale (not the CLI's)
        with app.test_request_context("/"), force_locale(locale):
            items = [{"text": describe(n["kind"], n.get("date")), "url": base + n["link"]} for n in mail.notifications]
            digest = mail.key.startswith("digest:")
            subject = (_("KBP: your reminders (%(num)d)", num=len(items)) if digest
                       else "KBP: " + items[0]["text"])
            context = {"items": items, "digest": digest, "settings_url": base + "/me/reminders",
                       "list_url": base + "/notifications", "lang": locale,
                       # the plain-text template's words (only .html templates are extracted for translation)
                       "t": {"intro": _("Your reminders from KBP:"), "open": _("Open it here:"),
                             "all": _("All your notifications:"),
                             "settings": _("Choose which reminders you get, or collect them in a digest:")}}
            text = render_template("mail/reminder.txt", **context)
            html = render_template("mail/reminder.html", **context)
        return build_message(config, mail, subject, text, html)

    return render


__all__ = ["Event", "Mail", "RunResult", "ReminderError", "due_events", "plan_run", "run", "preferences",
           "set_preferences", "notifications_for", "unread_count", "mark_read", "build_message", "renderer", "start_scheduler"]
