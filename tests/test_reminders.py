"""Reminders by e-mail through a real SMTP server (aiosmtpd, started here), in-app notifications,
opt-out, digests, idempotency and a sender killed mid-run."""
from __future__ import annotations

import email
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import date, timedelta
from email import policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner

from core import create_app, reminders
from core.cli import main
from tests.helpers import csrf_token, make_account, make_person, sign_in

ROOT = Path(__file__).resolve().parent.parent
TODAY = date.today()
GOAL = "Hemligt mål som aldrig får stå i ett mejl"
NOTE = "Privat anteckning om min chef"


class Inbox:
    """An aiosmtpd handler keeping every message it receives (optionally slowly)."""

    def __init__(self, delay: float = 0.0):
        self.messages: list[email.message.EmailMessage] = []
        self.delay = delay
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            time.sleep(self.delay)
        msg = email.message_from_bytes(envelope.original_content, policy=policy.default)
        with self.lock:
            self.messages.append(msg)
        return "250 OK"

    def to(self, address: str) -> list:
        return [m for m in self.messages if m["To"] == address]


@pytest.fixture
def smtp():
    def start(delay: float = 0.0):
        inbox = Inbox(delay)
        with socket.socket() as probe:  # a free port (aiosmtpd's Controller cannot use port 0)
            probe.bind(("127.0.0.1", 0))
            inbox.port = probe.getsockname()[1]
        controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port)
        controller.start()
        started.append(controller)
        return inbox

    started: list = []
    yield start
    for c in started:
        c.stop()


def text_of(msg) -> str:
    return msg.get_body(("plain",)).get_content()


def html_of(msg) -> str:
    return msg.get_body(("html",)).get_content()


@pytest.fixture
def world(tmp_path):
    data = str(tmp_path / "data")
    app = create_app({"TESTING": True, "DATA_DIR": data, "DEFAULT_LOCALE": "en"})
    coach_p = make_person(app, "Karin Coach", locale="sv")
    emp_p = make_person(app, "Erik Medarbetare", coach_id=coach_p["id"], locale="en")
    coach = sign_in(app.test_client(), make_account(app, "coach", coach_p))
    employee = sign_in(app.test_client(), make_account(app, "employee", emp_p))
    for c in (coach, employee):
        c.environ_base["HTTP_X_CSRFTOKEN"] = csrf_token(c)
    return {"app": app, "data": data, "coach": coach, "employee": employee, "coach_p": coach_p, "emp_p": emp_p}


def make_plan(client, person_id, due_in=3, follow_up_in=7) -> dict:
    plan = client.post("/api/v1/plans", json={"person_id": person_id, "situation": "new_role"}).get_json()
    plan = client.patch(f"/api/v1/plans/{plan['id']}", json={"version": plan["version"],
                                                            "focus": ["kbp-sample:active-listening"]}).get_json()
    body = {"version": plan["version"],
            "activities": [{"title": "Skugga en kollega", "due": (TODAY + timedelta(days=due_in)).isoformat()}],
            "goals": {"kbp-sample:active-listening": GOAL},
            "follow_up_date": (TODAY + timedelta(days=follow_up_in)).isoformat()}
    r = client.patch(f"/api/v1/plans/{plan['id']}", json=body)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def send(world, inbox, *extra, **env) -> str:
    runner = CliRunner()
    environ = {"KBP_SMTP_HOST": "127.0.0.1", "KBP_SMTP_PORT": str(inbox.port), "KBP_MAIL_FROM": "kbp@example.test",
               "KBP_BASE_URL": "https://kbp.example.test", "KBP_DEFAULT_LOCALE": "en", **env}
    result = runner.invoke(main, ["--data-dir", world["data"], "reminders", "send", *extra], env=environ)
    assert result.exit_code == 0, result.output
    return result.output


def test_each_event_is_mailed_once_in_the_recipients_language_without_content(world, smtp):
    inbox = smtp()
    plan = make_plan(world["coach"], world["emp_p"]["id"])
    r = world["coach"].post(f"/api/v1/plans/{plan['id']}/agree", json={"version": plan["version"]})
    assert r.status_code == 200
    send(world, inbox)
    emp, coach = world["emp_p"]["email"], world["coach_p"]["email"]
    emp_texts = sorted(text_of(m).splitlines()[0] for m in inbox.to(emp))
    in_days = lambda n: (TODAY + timedelta(days=n)).strftime("%B %-d, %Y")  # noqa: E731 - English long date
    assert emp_texts == sorted([
        "A development plan is waiting for your confirmation.",
        "The other person changed a development plan you take part in.",
        f"A follow-up of a development plan is planned for {in_days(7)}.",
        f"An activity you own in a development plan is due on {in_days(3)}.",
    ])
    # the coach reads Swedish, and gets only the follow-up (they made the changes themselves)
    coach_mails = inbox.to(coach)
    assert len(coach_mails) == 1
    assert "uppföljning" in text_of(coach_mails[0]).lower() and "uppföljning" in coach_mails[0]["Subject"].lower()
    for m in inbox.messages:
        body = text_of(m) + html_of(m)
        assert f"https://kbp.example.test/plans/{plan['id']}" in body
        assert GOAL not in body and "Skugga" not in body and "Erik" not in body
        assert m["From"] == "kbp@example.test" and m["Message-ID"]
    # running again sends nothing more
    count = len(inbox.messages)
    out = send(world, inbox)
    assert len(inbox.messages) == count and "mails sent: 0." in out
    # the employee agrees: the coach learns the plan is agreed (once)
    plan = world["employee"].get(f"/api/v1/plans/{plan['id']}").get_json()
    assert world["employee"].post(f"/api/v1/plans/{plan['id']}/agree", json={"version": plan["version"]}).status_code == 200
    send(world, inbox)
    send(world, inbox)
    new = inbox.messages[count:]
    assert [(m["To"], text_of(m).splitlines()[0]) for m in new] == [
        (coach, "En utvecklingsplan som du deltar i är nu överenskommen av er båda.")]


def test_dry_run_sends_and_stores_nothing(world, smtp):
    inbox = smtp()
    make_plan(world["coach"], world["emp_p"]["id"])
    out = send(world, inbox, "--dry-run")
    assert "would be sent" in out.lower() and not inbox.messages
    storage = world["app"].extensions["kbp"].storage
    assert storage.collection(reminders.NOTIFICATIONS).count() == 0


def test_opt_out_keeps_the_in_app_notification_but_sends_no_mail(world, smtp):
    inbox = smtp()
    emp = world["employee"]
    page = emp.get("/me/reminders")
    assert page.status_code == 200
    r = emp.post("/me/reminders", data={"csrf_token": csrf_token(emp, "/me/reminders"), "action": "preferences",
                                         "digest": "off", "wanted": ["agreement", "changes", "shared_notes"]})
    assert r.status_code == 302
    make_plan(world["coach"], world["emp_p"]["id"])
    send(world, inbox)
    texts = [text_of(m) for m in inbox.to(world["emp_p"]["email"])]
    assert len(texts) == 1 and texts[0].startswith("The other person changed")
    listing = emp.get("/notifications").get_data(as_text=True)
    assert "is due on" in listing and "planned for" in listing  # still in the app
    # the unread count shows in the header, and reading the list clears it
    assert 'class="unread-count"' in emp.get("/").get_data(as_text=True)
    emp.post("/notifications", data={"csrf_token": csrf_token(emp, "/notifications"), "action": "read_all"})
    assert 'class="unread-count"' not in emp.get("/").get_data(as_text=True)


def test_a_daily_digest_collects_the_reminders_into_one_mail(world, smtp):
    inbox = smtp()
    storage = world["app"].extensions["kbp"].storage
    with world["app"].test_request_context():
        from core.auth import Account
        acct = Account("x", "x", "employee", world["emp_p"]["id"])
        reminders.set_preferences(storage, acct, "daily", [])
    plan = make_plan(world["coach"], world["emp_p"]["id"])
    send(world, inbox)
    mails = inbox.to(world["emp_p"]["email"])
    assert len(mails) == 1 and mails[0]["Subject"] == "KBP: your reminders (3)"
    assert text_of(mails[0]).count(f"/plans/{plan['id']}") == 3
    send(world, inbox)  # same day: nothing
    assert len(inbox.to(world["emp_p"]["email"])) == 1
    # the next day brings the follow-up "today"... not yet: a day later the activity is 1 day closer, no new
    # event; the day of the follow-up brings one more, in the next day's digest
    send(world, inbox, "--today", (TODAY + timedelta(days=7)).isoformat())
    mails = inbox.to(world["emp_p"]["email"])
    assert len(mails) == 2 and "planned for today" in text_of(mails[1])
    with pytest.raises(reminders.ReminderError):
        reminders.set_preferences(storage, acct, "hourly", [])


def test_a_sender_killed_mid_run_sends_no_duplicates_after_a_rerun(world, smtp):
    inbox = smtp(delay=0.15)
    coach_p = world["coach_p"]
    for i in range(12):
        person = make_person(world["app"], f"Medarbetare {i}", coach_id=coach_p["id"], locale="sv")
        make_account(world["app"], "employee", person)
        make_plan(world["coach"], person["id"], due_in=2, follow_up_in=30)
    env = {**os.environ, "KBP_SMTP_HOST": "127.0.0.1", "KBP_SMTP_PORT": str(inbox.port), "KBP_REMINDERS_BATCH": "1",
           "KBP_MAIL_FROM": "kbp@example.test", "PYTHONPATH": str(ROOT)}
    cmd = [str(Path(sys.executable).parent / "kbp"), "--data-dir", world["data"], "reminders", "send"]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while len(inbox.messages) < 4 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = len(inbox.messages)
    rerun = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    ids = [m["Message-ID"] for m in inbox.messages]
    assert len(ids) == len(set(ids)), "a mail was sent twice"
    keys = [(m["To"], text_of(m)) for m in inbox.messages]
    assert len(keys) == len(set(keys))
    # 12 employees x (changed + activity due) = 24 mails; at most one batch (1 mail) may be lost
    assert first < 24 and 23 <= len(ids) <= 24
    # the mail in the SMTP conversation when the run died is "uncertain": delivered or not, never repeated
    if len(ids) == 23:
        assert "being sent when an earlier run stopped: 1." in rerun.stderr
    third = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert third.returncode == 0 and "earlier run stopped" not in third.stderr  # reported once
    assert len(inbox.messages) == len(ids)


def test_shared_self_reflection_note_overdue_activity_and_the_employees_changes(world, smtp):
    inbox = smtp()
    emp, coach = world["employee"], world["coach"]
    # the employee's self-reflection: a private note reaches nobody, a shared one reaches the coach
    plan = emp.post("/api/v1/plans", json={"person_id": world["emp_p"]["id"], "situation": "grow_further",
                                           "mode": "self_reflection"}).get_json()
    plan = emp.patch(f"/api/v1/plans/{plan['id']}", json={"version": plan["version"],
                                                          "focus": ["kbp-sample:active-listening"]}).get_json()
    qid = emp.get(f"/api/v1/plans/{plan['id']}/suggestions").get_json()["questions"][0]["id"]
    plan = emp.patch(f"/api/v1/plans/{plan['id']}", json={"version": plan["version"], "questions": [qid]}).get_json()
    plan = emp.put(f"/api/v1/plans/{plan['id']}/questions/{qid}/note",
                   json={"version": plan["version"], "note": NOTE}).get_json()
    send(world, inbox)
    assert inbox.to(world["coach_p"]["email"]) == []
    emp.put(f"/api/v1/plans/{plan['id']}/questions/{qid}/note", json={"version": plan["version"], "note": NOTE, "shared": True})
    # a coaching plan with an activity two days late, changed by the employee
    cplan = make_plan(coach, world["emp_p"]["id"], due_in=-2, follow_up_in=40)
    r = emp.put(f"/api/v1/plans/{cplan['id']}/activities/{cplan['activities'][0]['id']}/status",
                json={"version": cplan["version"], "status": "in_progress"})
    assert r.status_code == 200
    send(world, inbox)
    to_coach = sorted(text_of(m).splitlines()[0] for m in inbox.to(world["coach_p"]["email"]))
    assert to_coach == ["Den andra personen har ändrat en utvecklingsplan som du deltar i.",
                        "En medarbetare har delat en anteckning från sin självreflektion med dig."]
    to_emp = [text_of(m).splitlines()[0] for m in inbox.to(world["emp_p"]["email"])]
    assert any(t.startswith("An activity you own in a development plan was due on") for t in to_emp)
    assert all(NOTE not in text_of(m) + html_of(m) for m in inbox.messages)


def test_a_weekly_digest_is_sent_once_a_week(world, smtp):
    inbox = smtp()
    storage = world["app"].extensions["kbp"].storage
    from core.auth import Account

    reminders.set_preferences(storage, Account("x", "x", "employee", world["emp_p"]["id"]), "weekly", ["changes"])
    make_plan(world["coach"], world["emp_p"]["id"], due_in=1, follow_up_in=3)
    send(world, inbox)
    send(world, inbox, "--today", (TODAY + timedelta(days=1)).isoformat() if TODAY.weekday() < 6 else TODAY.isoformat())
    mails = inbox.to(world["emp_p"]["email"])
    assert len(mails) == 1 and "changed" not in text_of(mails[0])  # opted out of changes; one digest this week
    assert text_of(mails[0]).count("/plans/") == 2  # activity due, follow-up soon


def test_the_server_scheduler_sends_and_stops(world, smtp):
    inbox = smtp()
    make_plan(world["coach"], world["emp_p"]["id"])
    env = {**os.environ, "KBP_SMTP_HOST": "127.0.0.1", "KBP_SMTP_PORT": str(inbox.port), "KBP_MAIL_FROM": "kbp@example.test",
           "PYTHONPATH": str(ROOT)}
    command = reminders.scheduler_command({"DATA_DIR": world["data"]})
    stop = threading.Event()
    thread = reminders.start_scheduler(command, 0.2, stop, env=env)
    deadline = time.time() + 60
    while len(inbox.messages) < 4 and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(3)  # more rounds: nothing new
    stop.set()
    thread.join(30)
    assert not thread.is_alive()
    assert len(inbox.messages) == 4  # employee: changed, activity due, follow-up; coach: follow-up; once each
    assert len({m["Message-ID"] for m in inbox.messages}) == 4


def test_the_api_lists_notifications_and_keeps_settings(world, smtp):
    inbox = smtp()
    emp = world["employee"]
    r = emp.put("/api/v1/me/reminder-settings", json={"digest": "hourly"})
    assert r.status_code == 422 and "digest" in r.get_json()["errors"]
    r = emp.put("/api/v1/me/reminder-settings", json={"digest": "daily", "opt_out": ["changes"]})
    assert r.status_code == 200 and r.get_json() == {"digest": "daily", "opt_out": ["changes"]}
    assert emp.get("/api/v1/me/reminder-settings").get_json()["opt_out"] == ["changes"]
    make_plan(world["coach"], world["emp_p"]["id"])
    send(world, inbox)
    body = emp.get("/api/v1/me/notifications").get_json()
    assert body["unread"] == 3 and {n["kind"] for n in body["items"]} == {"plan_changed", "activity_due", "follow_up_soon"}
    assert all(n["link"].startswith("/plans/") and n["text"] for n in body["items"])
    one = body["items"][0]["id"]
    assert emp.post("/api/v1/me/notifications/read", json={"ids": [one]}).get_json() == {"marked": 1}
    assert emp.get("/api/v1/me/notifications").get_json()["unread"] == 2
    assert emp.post("/api/v1/me/notifications/read", json={}).get_json() == {"marked": 2}
    # the coach cannot mark the employee's notifications
    assert world["coach"].post("/api/v1/me/notifications/read", json={"ids": [one]}).get_json() == {"marked": 0}


class PickyInbox(Inbox):
    """Refuses one mailbox for good, and answers "try later" to the n-th message once."""

    def __init__(self, refuse: str, busy_at: int):
        super().__init__()
        self.refuse, self.busy_at, self.seen = refuse, busy_at, 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address == self.refuse:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.seen += 1
        if self.seen == self.busy_at:
            return "421 4.3.2 Busy, try again later"
        return await super().handle_DATA(server, session, envelope)


def test_refused_and_temporarily_failed_mails(world, smtp):
    emails = []
    for i in range(4):
        person = make_person(world["app"], f"Medarbetare {i}", coach_id=world["coach_p"]["id"], locale="en")
        make_account(world["app"], "employee", person)
        make_plan(world["coach"], person["id"], due_in=2, follow_up_in=30)
        emails.append(person["email"])
    inbox = PickyInbox(refuse=emails[0], busy_at=3)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        inbox.port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port)
    controller.start()
    try:
        runner = CliRunner()
        env = {"KBP_SMTP_HOST": "127.0.0.1", "KBP_SMTP_PORT": str(inbox.port), "KBP_MAIL_FROM": "kbp@example.test"}
        first = runner.invoke(main, ["--data-dir", world["data"], "reminders", "send"], env=env)
        assert first.exit_code == 1 and "stopped accepting mail" in first.output
        delivered = len(inbox.messages)
        second = runner.invoke(main, ["--data-dir", world["data"], "reminders", "send"], env=env)
        assert second.exit_code == 0, second.output
        third = runner.invoke(main, ["--data-dir", world["data"], "reminders", "send"], env=env)
        assert third.exit_code == 0 and "mails sent: 0." in third.output and "refused" not in third.output
    finally:
        controller.stop()
    # 4 employees x 2 reminders, minus the refused mailbox's 2: each delivered exactly once
    keys = [(m["To"], text_of(m)) for m in inbox.messages]
    assert len(keys) == len(set(keys)) == 6 and delivered < 6
    assert not inbox.to(emails[0])
    storage = world["app"].extensions["kbp"].storage
    refused = storage.collection("reminder_mails").find(state="refused")  # not delivered, and not tried again
    assert len(refused) == 2 and {m["person_id"] for m in refused} == {storage.collection("people").find(email=emails[0])[0]["id"]}


def test_a_refused_mailbox_is_reported_and_not_retried(world, smtp):
    inbox = PickyInbox(refuse=world["emp_p"]["email"], busy_at=0)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        inbox.port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port)
    controller.start()
    try:
        make_plan(world["coach"], world["emp_p"]["id"])
        out = send(world, inbox)
        assert "mails sent: 1." in out  # the coach's follow-up reminder
        assert "refused 3 reminders" in out  # the employee's three
        out2 = send(world, inbox)
        assert "mails sent: 0." in out2 and "refused" not in out2
    finally:
        controller.stop()
    assert len(inbox.messages) == 1 and inbox.messages[0]["To"] == world["coach_p"]["email"]
