"""``GET /api/v1/overview``: the HR overview as JSON (aggregates only; see :mod:`core.overview`)."""
from __future__ import annotations

from flask_smorest import abort

from core.api.fastdump import Blueprint
from marshmallow import EXCLUDE, Schema, fields

from core import auth, model, overview
from core.api.catalogue import reader_locale
from core.context import kbp

blp = Blueprint("overview", __name__, description="The HR overview: aggregate figures per unit and period.")


class OverviewQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    unit = fields.String(load_default=None, metadata={"description": "A unit's name; '__none__' for people without "
                                                                     "a unit; empty or absent for the whole organisation."})
    period = fields.String(load_default=None, metadata={"description": "A year (2026) or a quarter (2026-Q3); "
                                                                       "default: this year."})
    lang = fields.String(load_default=None)


class UnitSizeOut(Schema):
    unit = fields.String(metadata={"description": "The unit's name ('' for people without a unit)."})
    suppressed = fields.Boolean(metadata={"description": "True when the unit is too small to show: no size."})
    people = fields.Integer(allow_none=True)


class FocusCountOut(Schema):
    competency = fields.String()
    name = fields.String()
    count = fields.Integer()


class InhouseCountOut(Schema):
    id = fields.String()
    title = fields.String()
    count = fields.Integer()


class ShareOut(Schema):
    count = fields.Integer()
    percent = fields.Integer()


SituationCountsOut = Schema.from_dict({s: fields.Integer() for s in model.SITUATIONS}, name="SituationCountsOut")
MixOut = Schema.from_dict({k: fields.Nested(ShareOut) for k in overview.MIX_KINDS}, name="MixOut")


class FiguresOut(Schema):
    dialogues = fields.Integer()
    coaching = fields.Integer()
    self_reflection = fields.Integer()
    agreed = fields.Integer()
    follow_up_share = fields.Integer(allow_none=True, metadata={"description": "Per cent of agreed plans followed up; "
                                                                              "null without agreed plans."})
    activities_done = fields.Integer()
    activities_overdue = fields.Integer()
    situations = fields.Nested(SituationCountsOut)
    focus_top = fields.List(fields.Nested(FocusCountOut))
    mix = fields.Nested(MixOut)
    inhouse_top = fields.List(fields.Nested(InhouseCountOut))


class OverviewOut(Schema):
    period = fields.String()
    unit = fields.String(allow_none=True)
    min_group = fields.Integer()
    suppressed = fields.Boolean(metadata={"description": "True when the group is too small: no figures."})
    people = fields.Integer(allow_none=True)
    units = fields.List(fields.Nested(UnitSizeOut))
    figures = fields.Nested(FiguresOut, allow_none=True)


@blp.route("/overview")
@blp.arguments(OverviewQuery, location="query", as_kwargs=True)
@blp.response(200, OverviewOut)
def get_overview(unit=None, period=None, lang=None):
    """Figures for a unit and period; figures of groups below the minimum size are left out (``suppressed``)."""
    try:
        return overview.overview(kbp().storage, kbp().config, auth.current_account(), unit=unit, period=period,
                                 locale=reader_locale())
    except overview.OverviewError as exc:
        abort(exc.status, message=str(exc), code=exc.code, errors=exc.errors or None)
