"""The HR overview page and its CSV download: parse, call :mod:`core.overview`, render."""
from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, abort, render_template, request
from flask_babel import get_locale

from core import auth, overview
from core.context import kbp
from core.charts import bar_chart
from core.i18n import gettext as _
from core.web.labels import KIND_LABELS, SITUATION_LABELS, label

bp = Blueprint("overview_web", __name__)


@bp.app_context_processor
def overview_context():
    def can_view_overview() -> bool:
        return overview.may_view(kbp().storage, auth.current_account())

    return {"can_view_overview": can_view_overview}


def _load():
    try:
        return overview.overview(kbp().storage, kbp().config, auth.current_account(), unit=request.args.get("unit"),
                                 period=request.args.get("period"), locale=str(get_locale()))
    except overview.OverviewError as exc:
        if exc.status in (403, 404):
            abort(exc.status)
        return exc


def unit_label(unit: str | None) -> str:
    if unit is None:
        return _("The whole organisation")
    return unit or _("No unit")


def _charts(data) -> list[dict]:
    f = data["figures"]
    charts = []
    rows = [(label(SITUATION_LABELS, s), n) for s, n in f["situations"].items()]
    charts.append({"id": "chart-situations", "title": _("Situations of the dialogues"), "rows": rows, "suffix": ""})
    rows = [(label(KIND_LABELS, k), v["percent"]) for k, v in f["mix"].items()]
    charts.append({"id": "chart-mix", "title": _("Mix of chosen activities (70-20-10)"), "rows": rows, "suffix": " %"})
    rows = [(item["name"], item["count"]) for item in f["focus_top"]]
    charts.append({"id": "chart-focus", "title": _("Most common focus competencies"), "rows": rows, "suffix": ""})
    rows = [(item["title"], item["count"]) for item in f["inhouse_top"]]
    charts.append({"id": "chart-inhouse", "title": _("In-house activities chosen most often"), "rows": rows, "suffix": ""})
    for chart in charts:
        if chart["rows"]:
            top = max(chart["rows"], key=lambda r: r[1])
            chart["summary"] = _("%(count)d rows; the largest is %(label)s with %(value)s%(suffix)s.",
                                 count=len(chart["rows"]), label=top[0], value=top[1], suffix=chart["suffix"])
        else:
            chart["summary"] = _("Nothing to show for this period.")
        chart["svg"] = bar_chart(chart["id"], chart["title"], chart["summary"], chart["rows"], chart["suffix"])
    return charts


@bp.route("/overview")
def overview_page():
    data = _load()
    if isinstance(data, overview.OverviewError):
        return render_template("overview.html", error=str(data), data=None, periods=overview.period_choices(),
                               unit_label=unit_label, charts=[]), 422
    charts = _charts(data) if data["figures"] else []
    return render_template("overview.html", data=data, error=None, periods=overview.period_choices(),
                           unit_label=unit_label, charts=charts, none_param=overview.NONE_PARAM)


def csv_labels() -> dict[str, str]:
    labels = {
        "period": _("Period"), "unit": _("Unit"), "all": _("The whole organisation"),
        "suppressed": _("Hidden: fewer people than the minimum group size"),
        "dialogues": _("Development dialogues held"), "coaching": _("of which coaching"),
        "self_reflection": _("of which self-reflection"), "agreed": _("Plans agreed"),
        "follow_up_share": _("Agreed plans with a follow-up done (%)"), "activities_done": _("Activities done"),
        "activities_overdue": _("Activities overdue"), "situations": _("Situations"),
        "focus_top": _("Most common focus competencies"), "mix": _("Mix of chosen activities (70-20-10)"),
        "inhouse_top": _("In-house activities chosen most often"),
    }
    labels.update({"situation:" + s: label(SITUATION_LABELS, s) for s in SITUATION_LABELS})
    labels.update({"kind:" + k: label(KIND_LABELS, k) for k in KIND_LABELS})
    return labels


def _safe_cell(value: str) -> str:
    """Spreadsheets run cells that start with = + - @ as formulas: a unit name must not."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


@bp.route("/overview.csv")
def overview_csv():
    data = _load()
    if isinstance(data, overview.OverviewError):
        abort(400)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([_("Section"), _("Item"), _("Value")])
    for row in overview.export_rows(kbp().storage, auth.current_account(), data, csv_labels()):
        writer.writerow([_safe_cell(str(c)) for c in row])
    name = f"kbp-overview-{data['period']}.csv"
    return Response("\ufeff" + out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "private, no-store"})
