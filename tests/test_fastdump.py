"""The API's fast response dump gives exactly what marshmallow's Schema.dump gives."""
from __future__ import annotations

import pytest
from marshmallow import Schema, fields, post_dump

from core.api import fastdump


class Inner(Schema):
    code = fields.String()
    weight = fields.Float()


class Outer(Schema):
    id = fields.String()
    count = fields.Integer()
    ratio = fields.Float()
    flag = fields.Boolean()
    title = fields.Dict(keys=fields.String(), values=fields.String())
    raw = fields.Raw()
    tags = fields.List(fields.String())
    inner = fields.Nested(Inner)
    inners = fields.List(fields.Nested(Inner))
    many_inner = fields.Nested(Inner, many=True)
    renamed = fields.String(data_key="other-name")
    source = fields.String(attribute="origin")
    secret = fields.String(load_only=True)
    defaulted = fields.String(dump_default="x")
    when = fields.DateTime()


RECORDS = [
    {"id": "a", "count": 3, "ratio": 2, "flag": True, "title": {"sv": "T", "en": "T"}, "raw": {"k": [1, 2]},
     "tags": ["x", "y"], "inner": {"code": "c", "weight": 1, "extra": "dropped"},
     "inners": [{"code": "d", "weight": 0.5}], "many_inner": [{"code": "e"}], "renamed": "r", "origin": "o",
     "secret": "never shown", "internal": "never shown", "_v": 1},
    {"id": None, "count": None, "inner": None, "tags": None, "title": None},
    {},
    {"id": 5, "count": "7", "flag": 1, "ratio": "1.5"},  # values that marshmallow converts
]


@pytest.mark.parametrize("record", RECORDS)
def test_the_fast_dump_equals_marshmallows(record):
    expected = Outer().dump(record)
    fast = fastdump.install(Outer())
    assert fast.dump(record) == expected
    assert fastdump._types(fast.dump(record)) == fastdump._types(expected)  # 2 stays int, 2.0 float
    assert "secret" not in fast.dump(record) and "internal" not in fast.dump(record)


def test_many_and_objects_that_are_not_dicts():
    class Obj:
        id = "o1"
        count = 2

    fast = fastdump.install(Outer(many=True))
    assert fast.dump([RECORDS[0], Obj()]) == Outer(many=True).dump([RECORDS[0], Obj()])


def test_schemas_with_hooks_keep_marshmallows_dump():
    class Hooked(Schema):
        id = fields.String()

        @post_dump
        def shout(self, data, **kwargs):
            return {k: v.upper() for k, v in data.items()}

    schema = Hooked()
    assert fastdump.install(schema).dump({"id": "a"}) == {"id": "A"}


def test_verify_catches_a_difference(monkeypatch):
    fast = fastdump.install(Outer())
    real = Outer._declared_fields["count"]._serialize
    monkeypatch.setattr(fastdump, "VERIFY", True)
    # a converter that differs from marshmallow's: the check must notice
    monkeypatch.setattr(fields.Integer, "_serialize", lambda self, value, attr, obj, **kw: real(value, attr, obj) + 1)
    with pytest.raises(fastdump.DumpMismatch):
        fast.dump({"count": "7"})
