"""``GET /api/v1/overview``: the HR overview as JSON (aggregates only; see :mod:`core.overview`)."""
from __future__ import annotations

from flask_smorest import Blueprint, abort
from marshmallow import EXCLUDE, Schema, fields

from core import auth, overview
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


class OverviewOut(Schema):
    period = fields.String()
    unit = fields.String(allow_none=True)
    min_group = fields.Integer()
    suppressed = fields.Boolean(metadata={"description": "True when the group is too small: no figures."})
    people = fields.Integer(allow_none=True)
    units = fields.List(fields.Dict())
    figures = fields.Dict(allow_none=True)


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
