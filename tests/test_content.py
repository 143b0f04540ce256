"""Framework content packages (core.content): the sample package loads, and every kind of broken file
is reported with its path and the right line — directly, and through a plugin that ships the package.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from core import schemas
from core.content import load_package
from core.registry import ContentError
from tests.conftest import SAMPLE_CONTENT, plugin_record, plugin_spec


@pytest.fixture
def package_copy(tmp_path) -> Path:
    """A writable copy of the sample content package."""
    target = tmp_path / "content"
    shutil.copytree(SAMPLE_CONTENT, target)
    return target


def edit(path: Path, old: str, new: str) -> int:
    """Replace the first ``old`` in ``path`` by ``new``; return the 1-based line where ``new`` starts."""
    text = path.read_text(encoding="utf-8")
    index = text.find(old)
    assert index >= 0, f"{old!r} not in {path}"
    path.write_text(text[:index] + new + text[index + len(old):], encoding="utf-8")
    return text.count("\n", 0, index) + 1


def first_group_file(package: Path) -> Path:
    framework = yaml.safe_load((package / "framework.yaml").read_text(encoding="utf-8"))
    return package / "groups" / f"{framework['groups'][0]}.yaml"


def content_error(package: Path, *overlay) -> str:
    with pytest.raises(ContentError) as info:
        load_package(package, *overlay)
    return str(info.value)


# --------------------------------------------------------------------------- the sample package


def test_sample_package_loads(sample):
    package = load_package(SAMPLE_CONTENT)
    fw = package.framework
    meta = sample["framework"]
    for key in ("id", "name", "source_language", "domain"):
        assert fw[key] == meta[key]
    assert [g["id"] for g in fw["groups"]] == meta["groups"]
    got = [(c["id"], c["name"], c["definition"]) for g in fw["groups"] for c in g["competencies"]]
    assert got == [(c["id"], c["name"], c["definition"]) for c in sample["competencies"]]
    assert package.files == [SAMPLE_CONTENT / "framework.yaml"] + [
        SAMPLE_CONTENT / "groups" / f"{gid}.yaml" for gid in meta["groups"]
    ]


def test_sample_package_questions_and_activities(sample):
    package = load_package(SAMPLE_CONTENT)
    fid = sample["id"]
    for qs, field in ((package.coaching, "coaching_questions"), (package.self_reflection, "self_reflection_questions")):
        expected = [(f"{fid}:{c['id']}", q["text"]) for c in sample["competencies"] for q in c.get(field, [])]
        assert [(q["competency"], q["text"]) for q in qs["questions"]] == expected
        ids = [q["id"] for q in qs["questions"]]
        assert len(set(ids)) == len(ids)
    assert package.coaching["kind"] == "coaching"
    assert package.self_reflection["kind"] == "self_reflection"
    expected = [(f"{fid}:{c['id']}", a["title"], a["kind"]) for c in sample["competencies"] for a in c.get("activities", [])]
    assert [(a["competencies"][0], a["title"], a["kind"]) for a in package.activities] == expected
    ids = [a["id"] for a in package.activities]
    assert len(set(ids)) == len(ids)


def test_sample_package_passes_the_core_schemas():
    package = load_package(SAMPLE_CONTENT)
    framework = schemas.FrameworkSchema().load(package.framework)
    assert framework.id == package.framework["id"]
    for qs in (package.coaching, package.self_reflection):
        loaded = schemas.QuestionSetSchema().load(qs)
        assert len(loaded.questions) == len(qs["questions"])
    for activity in package.activities:
        schemas.ActivitySchema().load(activity)


def test_question_ids_are_stable(package_copy):
    """Ids derive from the text, so reordering questions does not change them."""
    before = {q["text"]: q["id"] for q in load_package(package_copy).coaching["questions"]}
    group = first_group_file(package_copy)
    data = yaml.safe_load(group.read_text(encoding="utf-8"))
    data["competencies"][0]["coaching_questions"].reverse()
    group.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    after = {q["text"]: q["id"] for q in load_package(package_copy).coaching["questions"]}
    assert after == before


# --------------------------------------------------------------------------- broken files


def test_invalid_field_value_names_file_and_line(package_copy):
    group = first_group_file(package_copy)
    text = group.read_text(encoding="utf-8")
    old = next(line for line in text.splitlines() if line.strip().startswith("kind: "))
    line = edit(group, old, old.split("kind:")[0] + "kind: nonsense")
    message = content_error(package_copy)
    assert message.startswith(f"{group}:{line}:"), message
    assert "kind" in message


def test_second_error_in_a_later_competency_points_at_its_line(package_copy):
    group = first_group_file(package_copy)
    text = group.read_text(encoding="utf-8")
    lines = text.splitlines()
    # the last "effort:" line in the file (a later competency's activity)
    index = max(i for i, line in enumerate(lines) if line.strip().startswith("effort: "))
    indent = lines[index].split("effort:")[0]
    lines[index] = f"{indent}effort: forever"
    group.write_text("\n".join(lines) + "\n", encoding="utf-8")
    message = content_error(package_copy)
    assert message.startswith(f"{group}:{index + 1}:"), message
    assert "effort" in message


def test_invalid_yaml_names_file_and_line(package_copy):
    group = first_group_file(package_copy)
    text = group.read_text(encoding="utf-8")
    old = next(line for line in text.splitlines() if line.strip().startswith("name: "))
    line = edit(group, old, old.split("name:")[0] + "name: Broken: mapping value")
    message = content_error(package_copy)
    assert message.startswith(f"{group}:{line}:"), message
    assert "YAML" in message


def test_unknown_key_points_at_the_key(package_copy):
    group = first_group_file(package_copy)
    text = group.read_text(encoding="utf-8")
    old = next(line for line in text.splitlines() if line.strip().startswith("definition: "))
    indent = old.split("definition:")[0]
    line = edit(group, old, f"{old}\n{indent}colour: blue") + 1
    message = content_error(package_copy)
    assert message.startswith(f"{group}:{line}:"), message
    assert "colour" in message


def test_misspelt_key_is_reported(package_copy):
    group = first_group_file(package_copy)
    text = group.read_text(encoding="utf-8")
    old = next(line for line in text.splitlines() if line.strip().startswith("definition: "))
    edit(group, old, old.replace("definition:", "defintion:", 1))
    message = content_error(package_copy)
    assert message.startswith(f"{group}:"), message
    assert "definition" in message  # the required field it lacks
    assert "defintion" in message  # and every other problem, each with its file and line (issue 15 item 7)
    assert message.count(f"{group}:") == 2, message
    assert "more problem" not in message


def test_missing_required_field_in_framework_file(package_copy):
    fw = package_copy / "framework.yaml"
    text = fw.read_text(encoding="utf-8")
    source_line = next(line for line in text.splitlines() if line.startswith("source_language:"))
    edit(fw, source_line + "\n", "")
    message = content_error(package_copy)
    assert message.startswith(f"{fw}:"), message
    assert "source_language" in message


def test_bad_slug_in_framework_file(package_copy):
    fw = package_copy / "framework.yaml"
    old = next(line for line in fw.read_text(encoding="utf-8").splitlines() if line.startswith("id:"))
    line = edit(fw, old, "id: Not A Slug")
    message = content_error(package_copy)
    assert message.startswith(f"{fw}:{line}:"), message
    assert "id" in message and "slug" in message


def test_missing_group_file(package_copy):
    group = first_group_file(package_copy)
    group.unlink()
    message = content_error(package_copy)
    assert str(group) in message
    assert "missing" in message


def test_group_id_must_match_its_file_name(package_copy):
    group = first_group_file(package_copy)
    gid = group.stem
    line = edit(group, f"id: {gid}", "id: some-other-group")
    message = content_error(package_copy)
    assert message.startswith(f"{group}:{line}:"), message
    assert gid in message and "some-other-group" in message


def test_competency_id_defined_in_two_files(package_copy, sample):
    framework = yaml.safe_load((package_copy / "framework.yaml").read_text(encoding="utf-8"))
    first, second = (package_copy / "groups" / f"{g}.yaml" for g in framework["groups"][:2])
    taken = yaml.safe_load(first.read_text(encoding="utf-8"))["competencies"][0]["id"]
    victim = yaml.safe_load(second.read_text(encoding="utf-8"))["competencies"][0]["id"]
    line = edit(second, f"id: {victim}", f"id: {taken}")
    message = content_error(package_copy)
    assert message.startswith(f"{second}:{line}:"), message
    assert taken in message and str(first) in message


def test_not_a_mapping(package_copy):
    group = first_group_file(package_copy)
    group.write_text("- just\n- a list\n", encoding="utf-8")
    message = content_error(package_copy)
    assert message.startswith(f"{group}:1:"), message


def test_not_utf8(package_copy):
    group = first_group_file(package_copy)
    group.write_bytes("group:\n  name: \"Bl\u00e5\"\n".encode("latin-1"))
    message = content_error(package_copy)
    assert str(group) in message and "UTF-8" in message


def test_overlay_replaces_a_group_file(package_copy, tmp_path, sample):
    overlay = tmp_path / "overlay"
    (overlay / "groups").mkdir(parents=True)
    group = first_group_file(package_copy)
    replacement = overlay / "groups" / group.name
    shutil.copy(group, replacement)
    comp = yaml.safe_load(group.read_text(encoding="utf-8"))["competencies"][0]
    edit(replacement, comp["definition"], "An official definition from the licensee's content pack.")
    package = load_package(package_copy, overlay)
    assert replacement in package.files and group not in package.files
    defs = {c["id"]: c["definition"] for g in package.framework["groups"] for c in g["competencies"]}
    assert defs[comp["id"]] == "An official definition from the licensee's content pack."
    # errors in the overlay name the overlay file
    line = edit(replacement, "kind: ", "kind: nonsense\n        x_kind: ")
    assert content_error(package_copy, overlay).startswith(f"{replacement}:{line}:")


# --------------------------------------------------------------------------- through a plugin


def rename_framework(package: Path, new_id: str) -> None:
    fw = package / "framework.yaml"
    old = next(line for line in fw.read_text(encoding="utf-8").splitlines() if line.startswith("id:"))
    edit(fw, old, f"id: {new_id}")


def test_plugin_shipping_a_valid_package(make_app, package_copy, sample):
    rename_framework(package_copy, "copied-sample")
    client = make_app(PLUGINS=[plugin_spec("content_from_config")], TEST_CONTENT_DIR=str(package_copy)).test_client()
    assert plugin_record(client, "content_from_config")["state"] == "active"
    comp = sample["competencies"][0]
    body = client.get(f"/api/v1/frameworks/copied-sample/competencies/{comp['id']}?lang=en").get_json()
    assert body["definition"] == comp["definition"]
    assert {q["text"] for q in body["questions"]} >= {q["text"] for q in comp.get("coaching_questions", [])}
    assert {a["source"] for a in body["activities"]} == {"content-from-config"}


def test_plugin_with_broken_content_is_reported_with_file_and_line(make_app, package_copy, app_works):
    rename_framework(package_copy, "copied-sample")
    group = first_group_file(package_copy)
    text = group.read_text(encoding="utf-8")
    old = next(line for line in text.splitlines() if line.strip().startswith("kind: "))
    line = edit(group, old, old.split("kind:")[0] + "kind: nonsense")
    client = make_app(PLUGINS=[plugin_spec("content_from_config")], TEST_CONTENT_DIR=str(package_copy)).test_client()
    record = plugin_record(client, "content_from_config")
    assert record["state"] == "failed"
    assert f"{group}:{line}:" in record["reason"]
    assert "kind" in record["reason"]
    assert "copied-sample" not in {fw["id"] for fw in client.get("/api/v1/frameworks").get_json()}
    app_works(client)
