"""What a person typed on the plan page, so that nothing typed is lost.

The plan page is one form: goals, the activities' owner, due date and status, the next follow-up
date and a follow-up note. Every field carries the value the page was rendered with (``was_<name>``),
so when someone else saved in between (a version conflict) the page can be shown again with

* the person's own text in every field they changed,
* the other person's saved text in every field only the other person changed, and
* both, side by side, in a field both changed — the person chooses per field whether their text
  goes on top of the saved one (the default) or the saved text stays (``keep_saved_<name>``).

The version check itself stays in :func:`core.plans.change`: a conflict page carries the newest
version, so saving it is an ordinary save on top of what is stored now.
"""
from __future__ import annotations

from typing import Any, Mapping


#: the follow-up note is not stored as a field (a save appends it); it is kept, never merged
NOTE = "note"


def plan_fields(plan: dict) -> dict[str, str]:
    """The plan page's fields and their stored values (as the form shows them)."""
    fields = {f"goal_{f['competency']}": f.get("goal", "") for f in plan["focus"]}
    for a in plan["activities"]:
        fields[f"owner_{a['id']}"] = a.get("owner", "")
        fields[f"due_{a['id']}"] = a.get("due") or ""
        fields[f"status_{a['id']}"] = a["status"]
    fields["follow_up_date"] = plan.get("follow_up_date") or ""
    return fields


def typed_fields(plan: dict, form: Mapping[str, Any]) -> dict[str, str]:
    """The values the person sent for ``plan``'s fields (a field not sent keeps its stored value;
    a ``keep_saved_<name>`` choice takes the stored value)."""
    stored = plan_fields(plan)
    return {name: (value if form.get(f"keep_saved_{name}") else form.get(name, value)) for name, value in stored.items()}


def unsaved(plan: dict, form: Mapping[str, Any]) -> list[str]:
    """Fields the person changed on the page and has not saved (the value sent differs from the one
    the page showed, ``was_<name>``, or without it from the stored one), plus a typed follow-up note."""
    stored = plan_fields(plan)
    changed = [name for name, value in stored.items() if name in form
               and (form.get(name) or "").strip() != (form.get(f"was_{name}", value) or "").strip()]
    if (form.get(NOTE) or "").strip():
        changed.append(NOTE)
    return changed


def merge(plan: dict, form: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """After a version conflict: the values to show (``values``) and the fields both people
    changed (``conflicts``: field -> the other person's saved value)."""
    theirs = plan_fields(plan)
    values, conflicts = {}, {}
    for name, saved in theirs.items():
        mine = form.get(name)
        base = form.get(f"was_{name}")
        if mine is None:  # not on the page the person had (a new activity, a new focus competency)
            values[name] = saved
        elif base is None or mine == base:  # the person did not change it: the saved value
            values[name] = saved if base is not None else mine
            if base is None and mine != saved:
                conflicts[name] = saved
        elif saved == base or saved == mine:  # only the person changed it
            values[name] = mine
        else:  # both changed it: keep the person's text, show the saved one next to it
            values[name] = mine
            conflicts[name] = saved
    values[NOTE] = form.get(NOTE, "")
    return values, conflicts


def owner_choices(storage, plan: dict) -> list[str]:
    """Names an activity's owner is usually picked from: the employee and their coach."""
    people = storage.collection("people")
    names = []
    for pid in (plan["person_id"], plan.get("coach_id")):
        person = people.get(pid) if pid else None
        if person and person["name"] not in names:
            names.append(person["name"])
    return names


def focus_choice(form: Mapping[str, Any]) -> list[str]:
    """The focus competencies ticked, in the order sent, without repeats."""
    return list(dict.fromkeys(form.getlist("focus") if hasattr(form, "getlist") else form.get("focus", [])))


def chosen_questions(form: Mapping[str, Any]) -> list[str]:
    """The questions ticked, and every question a note was written for (writing a note chooses it)."""
    ticked = list(form.getlist("question"))
    noted = [key[len("note_"):] for key, value in form.items() if key.startswith("note_") and (value or "").strip()
             and not key[len("note_"):].startswith("own-")]
    return list(dict.fromkeys(ticked + noted))

