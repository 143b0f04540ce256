"""The HR overview: is the development-dialogue process happening? Aggregates only.

``overview(storage, account, unit=..., period=...)`` answers, for one organisational unit (or
the whole organisation) and one period (a calendar year ``2026`` or quarter ``2026-Q3``):
dialogues held (plans started in the period), plans agreed, the share of agreed plans with a
follow-up done, activities done / overdue, the situations used, the most common focus
competencies, the 70-20-10 mix of the chosen activities (on the job / learning from others /
training, plus reflection) and the in-house activities chosen most often.

**Who may see it**: administrators and accounts an administrator granted the overview
(``kbp overview grant NAME``; the account record's ``grants``). Every view and download is
written to the audit log.

**Protecting individuals.** A group is the people of a unit (their current unit). Any figure
for a group of fewer than ``OVERVIEW_MIN_GROUP`` people (5; never below 3) is suppressed. Because
the whole organisation's figures minus the figures of the shown units would give the figures of
the hidden ones, the hidden units together must also reach the minimum: if they do not, the
smallest shown units are hidden too (complementary suppression), until they do. Periods are
fixed calendar years and quarters, so no pair of filters isolates a few days. Only counts leave
this module: never names, notes or goals.
"""
from __future__ import annotations

import re
from collections import Counter
from datetime import date, datetime, timezone
from typing import Any

from core import model
from core import plans as plan_rules
from core.i18n import gettext as _

MIN_GROUP_DEFAULT = 5
MIN_GROUP_FLOOR = 3
NO_UNIT = ""
NONE_PARAM = "__none__"  # how the people without a unit are asked for
MIX_KINDS = ("on_the_job", "learning_from_others", "training", "reflection")
TOP = 5
_PERIOD = re.compile(r"^(\d{4})(?:-Q([1-4]))?$")


class OverviewError(Exception):
    def __init__(self, message: str, status: int = 422, errors: dict | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.errors = errors or {}
        self.code = code


def min_group(config) -> int:
    try:
        value = int(config.get("OVERVIEW_MIN_GROUP") or MIN_GROUP_DEFAULT)
    except (TypeError, ValueError):
        value = MIN_GROUP_DEFAULT
    return max(MIN_GROUP_FLOOR, value)


def may_view(storage, account) -> bool:
    if account is None:
        return False
    if account.role == "admin":
        return True
    record = storage.collection("accounts").get(account.id) or {}
    return "overview" in (record.get("grants") or [])


def set_grant(accounts, username: str, granted: bool) -> dict:
    """Give (or take back) the overview for a non-admin account: the "HR" permission. ``accounts``:
    the collection (or the caller's unit-of-work part) to write to."""
    from core.auth import normalise_username

    found = accounts.find(username=normalise_username(username))
    if not found:
        raise OverviewError(_("No account named '%(name)s'.", name=username), 404)
    record = found[0]
    grants = [g for g in (record.get("grants") or []) if g != "overview"] + (["overview"] if granted else [])
    return accounts.update(record["id"], {"grants": grants})


def parse_period(value: str | None, today: date | None = None) -> tuple[str, float, float]:
    """``2026`` or ``2026-Q3`` -> (label, start, end) as UTC timestamps; default: this year."""
    today = today or date.today()
    value = (value or str(today.year)).strip()
    m = _PERIOD.match(value)
    if not m or not 2000 <= int(m.group(1)) <= 2100:
        raise OverviewError(_("Choose a period as a year (2026) or a quarter (2026-Q3)."), errors={"period": [value]},
                            code="bad_period")
    year = int(m.group(1))
    if m.group(2):
        q = int(m.group(2))
        start = datetime(year, 3 * q - 2, 1, tzinfo=timezone.utc)
        end = datetime(year + (q == 4), 1 if q == 4 else 3 * q + 1, 1, tzinfo=timezone.utc)
    else:
        start = datetime(year, 1, 1, tzinfo=timezone.utc)
        end = datetime(year + 1, 1, 1, tzinfo=timezone.utc)
    return value, start.timestamp(), end.timestamp()


def period_choices(today: date | None = None) -> list[str]:
    today = today or date.today()
    out = []
    for year in range(today.year, today.year - 3, -1):
        out.append(str(year))
        out += [f"{year}-Q{q}" for q in range(4, 0, -1) if date(year, 3 * q - 2, 1) <= today]
    return out


def suppressed_units(sizes: dict[str, int], k: int) -> set[str]:
    """Units whose figures must not be shown: those under ``k`` people, plus the smallest others
    until the hidden ones together reach ``k`` (else subtraction from the total reveals them)."""
    hidden = {u for u, n in sizes.items() if n < k}
    shown = sorted((n, u) for u, n in sizes.items() if u not in hidden)
    while hidden and sum(sizes[u] for u in hidden) < k and shown:
        hidden.add(shown.pop(0)[1])
    return hidden


def _people_by_unit(storage) -> dict[str, list[str]]:
    units: dict[str, list[str]] = {}
    for pid, unit, active in storage.collection("people").map_readonly(
            lambda p: (p["id"], (p.get("unit") or NO_UNIT).strip(), p.get("status", "active") == "active")):
        if active:
            units.setdefault(unit, []).append(pid)
    return units


class _Acc:
    """Running totals for one group: one pass over the plans fills one per unit."""

    __slots__ = ("dialogues", "coaching", "self_reflection", "agreed", "followed", "done", "overdue", "mix", "focus",
                 "inhouse", "situations")

    def __init__(self):
        self.dialogues = self.coaching = self.self_reflection = self.agreed = self.followed = 0
        self.done = self.overdue = 0
        self.mix: Counter = Counter()
        self.focus: Counter = Counter()
        self.inhouse: Counter = Counter()
        self.situations: Counter = Counter()

    def add(self, other: "_Acc") -> None:
        for name in ("dialogues", "coaching", "self_reflection", "agreed", "followed", "done", "overdue"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in ("mix", "focus", "inhouse", "situations"):
            getattr(self, name).update(getattr(other, name))


#: (store, revisions, period, locale, day) -> (per-unit totals, names); the figures change only when
#: plans or people do, so repeated views cost nothing until the next change
_CACHE: dict[tuple, tuple[dict[str, _Acc], dict[str, str]]] = {}
_CACHE_SIZE = 16


def _aggregate(storage, unit_of: dict[str, str], start: float, end: float, locale: str,
               today: date) -> tuple[dict[str, _Acc], dict[str, str]]:
    plans = storage.collection(plan_rules.PLANS)
    key = (id(storage), plans.revision(), storage.collection("people").revision(), start, end, locale, today)
    if key in _CACHE:
        return _CACHE[key]
    accs: dict[str, _Acc] = {}
    names: dict[str, str] = {}  # competency gid / in-house id -> text in ``locale``

    def visit(p: dict) -> None:
        unit = unit_of.get(p["person_id"])
        if unit is None or not start <= p.get("created_at", 0) < end:
            return
        acc = accs.get(unit)
        if acc is None:
            acc = accs[unit] = _Acc()
        acc.dialogues += 1
        if p["mode"] == "coaching":
            acc.coaching += 1
        else:
            acc.self_reflection += 1
        if p["status"] == "agreed":
            acc.agreed += 1
            acc.followed += bool(p.get("follow_ups"))
        acc.situations[p["situation"]] += 1
        for f in p["focus"]:
            gid = f["competency"]
            acc.focus[gid] += 1
            if gid not in names:
                names[gid] = plan_rules.pick(f.get("name"), locale) or gid
        late = plan_rules.overdue(p, today)
        for a in p["activities"]:
            status = a["status"]
            if status == "dropped":
                continue
            if status == "done":
                acc.done += 1
            if a.get("kind") in MIX_KINDS:
                acc.mix[a["kind"]] += 1
            ref = a.get("ref")
            if ref and ref.get("source") == "inhouse":
                iid = "inhouse:" + ref["id"]
                acc.inhouse[iid] += 1
                if iid not in names:
                    names[iid] = plan_rules.pick(a.get("title"), locale)
        acc.overdue += len(late)

    plans.map_readonly(visit)
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = (accs, names)
    return accs, names


def _figures(acc: _Acc, names: dict[str, str]) -> dict[str, Any]:
    total_mix = sum(acc.mix.values())
    return {
        "dialogues": acc.dialogues,
        "coaching": acc.coaching,
        "self_reflection": acc.self_reflection,
        "agreed": acc.agreed,
        "follow_up_share": round(100 * acc.followed / acc.agreed) if acc.agreed else None,
        "activities_done": acc.done,
        "activities_overdue": acc.overdue,
        "situations": {s: acc.situations.get(s, 0) for s in model.SITUATIONS},
        "focus_top": [{"competency": g, "name": names[g], "count": n}
                      for g, n in sorted(acc.focus.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]],
        "mix": {k: {"count": acc.mix.get(k, 0), "percent": round(100 * acc.mix.get(k, 0) / total_mix) if total_mix else 0}
                for k in MIX_KINDS},
        "inhouse_top": [{"id": i.split(":", 1)[1], "title": names[i], "count": n}
                        for i, n in sorted(acc.inhouse.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]],
    }


def overview(storage, config, account, *, unit: str | None = None, period: str | None = None, locale: str = "sv",
             today: date | None = None, audit_it: bool = True) -> dict[str, Any]:
    """The overview ``account`` may see; raises :class:`OverviewError` (403/404/422)."""
    from core import audit

    if not may_view(storage, account):
        raise OverviewError(_("The overview is for administrators and HR."), 403, code="forbidden")
    today = today or date.today()
    label, start, end = parse_period(period, today)
    k = min_group(config)
    units = _people_by_unit(storage)
    sizes = {u: len(ids) for u, ids in units.items()}
    hidden = suppressed_units(sizes, k)
    total = sum(sizes.values())
    selected = None if unit in (None, "", "*") else (NO_UNIT if unit == NONE_PARAM else unit)
    if selected is not None and selected not in units:
        raise OverviewError(_("No such unit."), 404, errors={"unit": [unit]}, code="unknown_unit")
    suppressed = total < k if selected is None else selected in hidden
    result: dict[str, Any] = {
        "period": label,
        "unit": selected,
        "min_group": k,
        "suppressed": suppressed,
        "people": None if suppressed else (total if selected is None else sizes[selected]),
        "units": [{"unit": u, "suppressed": u in hidden, "people": None if u in hidden else sizes[u]}
                  for u in sorted(units, key=str.lower)],
        "figures": None,
    }
    if not suppressed:
        unit_of = {pid: u for u, ids in units.items() for pid in ids}
        accs, names = _aggregate(storage, unit_of, start, end, locale, today)
        if selected is None:
            acc = _Acc()
            for part in accs.values():
                acc.add(part)
        else:
            acc = accs.get(selected) or _Acc()
        result["figures"] = _figures(acc, names)
    if audit_it:
        audit.record(storage, "view", "overview", f"{selected if selected is not None else '*'}|{label}", actor=account.id)
    return result


def export_rows(storage, account, data: dict[str, Any], labels: dict[str, str]) -> list[list[str]]:
    """The rows of a CSV download, recorded in the audit log as an export (figures only)."""
    from core import audit

    audit.record(storage, "export", "overview", f"{data['unit'] if data['unit'] is not None else '*'}|{data['period']}",
                 actor=getattr(account, "id", None))
    return as_csv_rows(data, labels)


def as_csv_rows(data: dict[str, Any], labels: dict[str, str]) -> list[list[str]]:
    """The overview as rows (section, item, value) for the CSV download."""
    rows = [[labels["period"], "", data["period"]], [labels["unit"], "", data["unit"] or labels["all"]]]
    f = data["figures"]
    if f is None:
        rows.append([labels["suppressed"], "", ""])
        return rows
    for key in ("dialogues", "coaching", "self_reflection", "agreed", "follow_up_share", "activities_done",
                "activities_overdue"):
        rows.append([labels[key], "", "" if f[key] is None else str(f[key])])
    for s, n in f["situations"].items():
        rows.append([labels["situations"], labels["situation:" + s], str(n)])
    for item in f["focus_top"]:
        rows.append([labels["focus_top"], item["name"], str(item["count"])])
    for kind, v in f["mix"].items():
        rows.append([labels["mix"], labels["kind:" + kind], f"{v['count']} ({v['percent']} %)"])
    for item in f["inhouse_top"]:
        rows.append([labels["inhouse_top"], item["title"], str(item["count"])])
    return rows
