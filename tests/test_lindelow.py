"""The Lindelöw framework plugin: the model, its content in sv/en, the licence gate, demo mode, content packs."""
from __future__ import annotations

import json
import shutil
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

import frameworks.malin_lindelow as lindelow
from core import create_app
from core.cli import main
from core.licensing import generate_keypair, issue_licence
from tests.helpers import signed_in_client

# The model as the issue states it (facts: names and grouping), Swedish / English.
MODEL = {
    ("Personliga förmågor", "Personal abilities"): [
        ("Personlig mognad", "Personal maturity"), ("Integritet", "Integrity"), ("Självständighet", "Independence"),
        ("Initiativtagande", "Initiative"), ("Självgående", "Self-directed"), ("Flexibel", "Flexible"),
        ("Stabil", "Stable"), ("Prestationsorienterad", "Achievement-oriented"), ("Energisk", "Energetic"),
        ("Uthållig", "Persistent"), ("Mål- och resultatorienterad", "Goal- and results-oriented"),
    ],
    ("Sociala förmågor", "Social abilities"): [
        ("Samarbetsförmåga", "Cooperation"), ("Relationsskapande", "Relationship building"),
        ("Empatisk förmåga", "Empathy"), ("Muntlig kommunikation", "Oral communication"), ("Lojal", "Loyal"),
        ("Serviceinriktad", "Service-minded"), ("Övertygande", "Persuasive"),
        ("Kulturell medvetenhet", "Cultural awareness"), ("Pedagogisk insikt", "Pedagogical insight"),
    ],
    ("Ledarskapsförmågor", "Leadership abilities"): [
        ("Ledarskap", "Leadership"), ("Tydlig", "Clear"), ("Affärsmässig", "Business-minded"),
        ("Strategisk", "Strategic"), ("Omdöme", "Judgement"), ("Beslutsam", "Decisive"), ("Helhetssyn", "Holistic view"),
    ],
    ("Intellektuella förmågor", "Intellectual abilities"): [
        ("Strukturerad", "Structured"), ("Kvalitetsmedveten", "Quality-conscious"), ("Kreativ", "Creative"),
        ("Specialistkunskap", "Specialist knowledge"),
        ("Problemlösande analysförmåga", "Problem-solving analytical ability"),
        ("Numerisk analytisk förmåga", "Numerical analytical ability"),
        ("Språklig analytisk förmåga", "Verbal analytical ability"),
    ],
}
FW = "malin-lindelow"


@pytest.fixture
def licensor(tmp_path, monkeypatch):
    """A test licensor: its key is trusted (with the real demo key) instead of the shipped production key."""
    private, public = generate_keypair()
    shipped = json.loads(lindelow.TRUSTED_KEYS_FILE.read_text())
    demo_keys = [k for k in shipped["keys"] if k.get("demo")]
    keys_file = tmp_path / "trusted_keys.json"
    keys_file.write_text(json.dumps({"keys": [{"key_id": "test-1", "public_key": public}, *demo_keys]}))
    monkeypatch.setattr(lindelow, "TRUSTED_KEYS_FILE", keys_file)

    def issue(**overrides):
        args = dict(key_id="test-1", licensee="Testkommunen", product="malin_lindelow",
                    expires=date.today() + timedelta(days=365), issued=date.today() - timedelta(days=1))
        args.update(overrides)
        return issue_licence(private, **args)

    return issue


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "data"


def make(data_dir, **config):
    return create_app({"TESTING": True, "DATA_DIR": str(data_dir), **config})


@pytest.fixture
def licensed_client(licensor, data_dir):
    app = make(data_dir)
    fw = app.extensions["kbp"].registry.frameworks[FW]
    assert app.extensions["kbp"].registry.entitlements.install(fw, licensor()).ok
    return signed_in_client(app)


# ----------------------------------------------------------------------------- the model and its content


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_groups_and_competency_names_exactly_as_the_model(licensed_client, lang):
    data = licensed_client.get(f"/api/v1/frameworks/{FW}?lang={lang}").get_json()
    i = 0 if lang == "sv" else 1
    got = [(g["name"], [c["name"] for c in g["competencies"]]) for g in data["groups"]]
    want = [(group[i], [c[i] for c in comps]) for group, comps in MODEL.items()]
    assert got == want
    assert data["competency_count"] == 34 and data["licensed"] is True


def competencies(client, lang):
    fw = client.get(f"/api/v1/frameworks/{FW}?lang={lang}").get_json()
    for group in fw["groups"]:
        for comp in group["competencies"]:
            yield client.get(f"/api/v1/frameworks/{FW}/competencies/{comp['id']}?lang={lang}").get_json()


def test_every_competency_has_full_content_in_both_languages(licensed_client):
    sv = {c["id"]: c for c in competencies(licensed_client, "sv")}
    en = {c["id"]: c for c in competencies(licensed_client, "en")}
    assert len(sv) == len(en) == 34
    for cid, s in sv.items():
        e = en[cid]
        for c in (s, e):
            sentences = [x for x in c["definition"].replace("!", ".").replace("?", ".").split(". ") if x.strip()]
            assert 2 <= len(sentences) <= 4, (cid, c["definition"])
            coaching = [q for q in c["questions"] if q["kind"] == "coaching"]
            reflective = [q for q in c["questions"] if q["kind"] == "self_reflection"]
            assert len(coaching) >= 6, cid
            assert len(reflective) >= 4, cid
            assert {q["direction"] for q in coaching} == {"back", "now", "ahead"}, cid
            acts = [a for a in c["activities"] if a["source"] == "malin-lindelow"]
            assert len(acts) >= 6 and len({a["kind"] for a in acts}) >= 3, cid
            assert all(a["title"] and a["description"] and a["effort"] for a in acts)
        # every English string differs from its Swedish source
        pairs = [(s["name"], e["name"]), (s["definition"], e["definition"])]
        pairs += list(zip((q["text"] for q in s["questions"]), (q["text"] for q in e["questions"])))
        pairs += [(a["title"], b["title"]) for a, b in zip(s["activities"], e["activities"])]
        pairs += [(a["description"], b["description"]) for a, b in zip(s["activities"], e["activities"])]
        same = [a for a, b in pairs if a == b]
        assert not same, f"{cid}: untranslated {same}"
        # the situations are used as tags somewhere in each competency
        tags = {t for q in s["questions"] for t in q["situations"]} | {t for a in s["activities"] for t in a["situations"]}
        assert tags == {"role_changes", "new_role", "recruited_need", "grow_further"}, cid


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_no_question_or_activity_title_repeats_across_competencies(licensed_client, lang):
    questions, titles = Counter(), Counter()
    for c in competencies(licensed_client, lang):
        questions.update(q["text"].strip().lower() for q in c["questions"])
        titles.update(a["title"].strip().lower() for a in c["activities"])
    assert [q for q, n in questions.items() if n > 1] == []
    assert [t for t, n in titles.items() if n > 1] == []


def test_web_shows_the_framework_in_both_languages(licensed_client):
    sv = licensed_client.get(f"/frameworks/{FW}?lang=sv").get_data(as_text=True)
    en = licensed_client.get(f"/frameworks/{FW}?lang=en").get_data(as_text=True)
    assert "Självständighet" in sv and "Mål- och resultatorienterad" in sv and "Språklig analytisk förmåga" in sv
    assert "Independence" in en and "Goal- and results-oriented" in en and "Verbal analytical ability" in en
    page = licensed_client.get(f"/frameworks/{FW}/sjalvstandighet?lang=sv").get_data(as_text=True)
    assert "Coachande frågor" in page and "Utvecklingsaktiviteter" in page


def test_competency_page_and_api_show_indicators_overdone_interview_and_follow_up(licensed_client):
    sv = licensed_client.get(f"/api/v1/frameworks/{FW}/competencies/strukturerad?lang=sv").get_json()
    en = licensed_client.get(f"/api/v1/frameworks/{FW}/competencies/strukturerad?lang=en").get_json()
    assert 3 <= len(sv["indicators"]) <= 5 and len(sv["overdone"]) == 2
    assert len(en["indicators"]) == len(sv["indicators"]) and not set(en["indicators"]) & set(sv["indicators"])
    interview = [q for q in sv["questions"] if q["kind"] == "interview"]
    assert len(interview) >= 3 and all(1 <= len(q["probes"]) <= 3 for q in interview)
    en_probes = [p for q in en["questions"] if q["kind"] == "interview" for p in q["probes"]]
    assert en_probes and not set(en_probes) & {p for q in interview for p in q["probes"]}
    assert 2 <= len([q for q in sv["questions"] if q["kind"] == "follow_up"]) <= 3
    page = licensed_client.get(f"/frameworks/{FW}/strukturerad?lang=sv").get_data(as_text=True)
    for text in ("Så märks det", "När det blir för mycket", "Intervjufrågor", "Frågor vid uppföljning",
                 sv["indicators"][0], sv["overdone"][1], interview[0]["probes"][0]):
        assert text in page, text
    # the question sets are named in the framework's language, translated like the rest
    assert "Coaching questions" not in page and "Källa: Coachande frågor" in page
    page = licensed_client.get(f"/frameworks/{FW}/strukturerad?lang=en").get_data(as_text=True)
    assert "So you notice it" in page and "When it becomes too much" in page and en["indicators"][0] in page
    assert "Source: Interview questions" in page and "Intervjufrågor" not in page


def test_content_stats_command(licensor, data_dir):
    result = CliRunner().invoke(main, ["--data-dir", str(data_dir), "content", "stats", "malin_lindelow"])
    assert result.exit_code == 0, result.output
    table = result.output.split("\n\n")[0]
    lines = [line.split() for line in table.splitlines()[2:]]
    assert len(lines) == 68  # 34 competencies × 2 languages (the table ends at the first blank line)
    for cid, lang, definition, coaching, reflective, activities, kinds in lines:
        assert lang in ("sv", "en") and definition == "1"
        assert int(coaching) >= 6 and int(reflective) >= 4 and int(activities) >= 6 and int(kinds) >= 3


# ----------------------------------------------------------------------------- licence gate


def test_licence_reason_in_the_readers_language(data_dir):
    """The reason a framework is refused is in the language of the whole message, whichever
    language asked first (the check is kept, and it used to be kept in the first asker's language)."""
    client = signed_in_client(make(data_dir))
    first = client.get(f"/api/v1/frameworks/{FW}?lang=en").get_json()["message"]
    assert "not licensed" in first and "No licence is installed" in first
    swedish = client.get(f"/api/v1/frameworks/{FW}?lang=sv").get_json()["message"]
    assert "saknar giltig licens" in swedish and "Det finns ingen licens installerad" in swedish
    assert "No licence" not in swedish and "kbp license install" in swedish
    assert client.get(f"/api/v1/frameworks/{FW}?lang=en").get_json()["message"] == first


def test_without_licence_installed_not_licensed_and_no_content(data_dir):
    client = signed_in_client(make(data_dir))
    plugins = {p["name"]: p for p in client.get("/api/v1/plugins").get_json()}
    assert plugins["malin_lindelow"]["state"] == "unlicensed"
    assert "kbp license install" in plugins["malin_lindelow"]["reason"]
    r = client.get(f"/api/v1/frameworks/{FW}")
    assert r.status_code == 403 and r.get_json()["code"] == "licence_required"
    assert "kbp license install" in r.get_json()["message"]
    r = client.get(f"/api/v1/frameworks/{FW}/competencies/ledarskap")
    assert r.status_code == 403
    listed = {f["id"]: f for f in client.get("/api/v1/frameworks").get_json()}
    assert listed[FW]["licensed"] is False
    page = client.get(f"/frameworks/{FW}?lang=en")
    assert page.status_code == 403 and b"kbp license install FILE" in page.data
    # none of its questions or activities leak through another route
    assert client.get(f"/frameworks/{FW}/ledarskap").status_code == 403
    reg = client.application.extensions["kbp"].registry
    assert reg.activities_for([f"{FW}:ledarskap"]) == [] and reg.questions_for(f"{FW}:ledarskap") == []


def test_valid_licence_enables_without_restart(licensor, data_dir, tmp_path):
    app = make(data_dir)
    client = signed_in_client(app)
    assert client.get(f"/api/v1/frameworks/{FW}").status_code == 403
    lic = tmp_path / "lic.json"
    lic.write_bytes(licensor())
    result = CliRunner().invoke(main, ["--data-dir", str(data_dir), "license", "install", str(lic)])
    assert result.exit_code == 0, result.output
    assert "Testkommunen" in result.output
    assert client.get(f"/api/v1/frameworks/{FW}").status_code == 200  # same running app
    plugins = {p["name"]: p for p in client.get("/api/v1/plugins").get_json()}
    assert plugins["malin_lindelow"]["state"] == "active"
    status = CliRunner().invoke(main, ["--data-dir", str(data_dir), "license", "status"])
    assert status.exit_code == 0 and "ok" in status.output


def refused_cases(licensor):
    good = json.loads(licensor())
    import base64

    payload = base64.b64decode(good["payload"])
    tampered_payload = dict(good, payload=base64.b64encode(payload.replace(b"Testkommunen", b"Testkommunem")).decode())
    sig = bytearray(base64.b64decode(good["signature"]))
    sig[0] ^= 1
    tampered_sig = dict(good, signature=base64.b64encode(bytes(sig)).decode())
    return {
        "expired": licensor(issued=date.today() - timedelta(days=30), expires=date.today() - timedelta(days=1)),
        # a licence starting later is a renewal installed in advance, not a refusal (test_licence_keys)
        "tampered_payload": json.dumps(tampered_payload).encode(),
        "bad_signature": json.dumps(tampered_sig).encode(),
        "wrong_product": licensor(product="something_else"),
        "unknown_key": json.dumps(dict(good, payload=base64.b64encode(payload.replace(b'"test-1"', b'"nope-9"')).decode(),
                                       payload_sha256=__import__("hashlib").sha256(
                                           payload.replace(b'"test-1"', b'"nope-9"')).hexdigest())).encode(),
        "malformed": b"\x00\x01garbage, not a licence",
        "demo_key": lindelow.DEMO_LICENCE_FILE.read_bytes(),
    }


def test_each_refusal_has_its_own_message_and_keeps_the_app_unlicensed(licensor, data_dir, tmp_path):
    messages = {}
    for code, data in refused_cases(licensor).items():
        path = tmp_path / f"{code}.json"
        path.write_bytes(data)
        result = CliRunner().invoke(main, ["--data-dir", str(data_dir), "license", "install", str(path)])
        assert result.exit_code != 0, (code, result.output)
        messages[code] = result.output.strip()
        app = make(data_dir)
        assert signed_in_client(app).get(f"/api/v1/frameworks/{FW}").status_code == 403, code
    missing = CliRunner().invoke(main, ["--data-dir", str(data_dir), "license", "install", str(tmp_path / "none.json")])
    assert missing.exit_code != 0 and "none.json" in missing.output
    messages["missing"] = missing.output.strip()
    assert len(set(messages.values())) == len(messages), messages
    assert "expired" in messages["expired"].lower()
    assert "demo" in messages["demo_key"].lower()
    status = CliRunner().invoke(main, ["--data-dir", str(data_dir), "license", "status"])
    assert status.exit_code == 3 and "missing" in status.output


def test_a_licence_that_expires_stops_serving(licensor, data_dir):
    today = [date.today()]
    app = make(data_dir)
    reg = app.extensions["kbp"].registry
    reg.entitlements.today = lambda: today[0]
    assert reg.entitlements.install(reg.frameworks[FW], licensor(expires=date.today() + timedelta(days=3))).ok
    client = signed_in_client(app)
    assert client.get(f"/api/v1/frameworks/{FW}").status_code == 200
    today[0] = date.today() + timedelta(days=4)
    r = client.get(f"/api/v1/frameworks/{FW}?lang=en")
    assert r.status_code == 403 and "expired" in r.get_json()["message"]


def test_demo_key_refused_outside_demo_mode_and_accepted_in_demo(data_dir):
    app = make(data_dir)
    reg = app.extensions["kbp"].registry
    result = reg.entitlements.install(reg.frameworks[FW], lindelow.DEMO_LICENCE_FILE.read_bytes())
    assert not result.ok and result.code == "demo_key"
    demo = make(data_dir, DEMO=True)
    assert Path(demo.config["DATA_DIR"]) != Path(app.config["DATA_DIR"])  # demo has its own data folder
    from core.demo import seed_demo

    lines = list(seed_demo(demo))
    assert any("malin" in line for line in lines)
    client = signed_in_client(demo)
    assert client.get(f"/api/v1/frameworks/{FW}").status_code == 200
    page = client.get("/?lang=en").get_data(as_text=True)
    assert "Demo licence" in page
    assert "Demolicens" in client.get("/?lang=sv").get_data(as_text=True)
    # the demo licence installed in the demo folder is not trusted by production mode on the same files
    prod = create_app({"TESTING": True, "DATA_DIR": demo.config["DATA_DIR"], "DEMO": False, "DEMO_DATA_DIR_IS_DATA_DIR": True})
    prod_client = signed_in_client(prod)
    assert prod_client.get(f"/api/v1/frameworks/{FW}").status_code == 403
    assert "Demo licence" not in prod_client.get("/?lang=en").get_data(as_text=True)


def test_shipped_keys_hold_no_private_key():
    text = lindelow.TRUSTED_KEYS_FILE.read_text()
    assert "PRIVATE" not in text
    for path in Path(lindelow.HERE).rglob("*"):
        if path.is_file() and path.suffix in (".pem", ".key"):
            pytest.fail(f"key file in the plugin: {path}")


# ----------------------------------------------------------------------------- content packs


def test_official_content_pack_replaces_a_group(licensor, data_dir, tmp_path):
    pack = tmp_path / "pack"
    (pack / "groups").mkdir(parents=True)
    src = (lindelow.HERE / "content" / "groups" / "ledarskapsformagor.yaml").read_text(encoding="utf-8")
    old = src.split("definition: ", 1)[1].split("\n", 1)[0]
    (pack / "groups" / "ledarskapsformagor.yaml").write_text(
        src.replace(old, '"Officiell definition från licensgivaren. Den ersätter KBP:s egen text."', 1), encoding="utf-8"
    )
    app = make(data_dir, MALIN_LINDELOW_CONTENT_DIR=str(pack))
    reg = app.extensions["kbp"].registry
    assert reg.entitlements.install(reg.frameworks[FW], licensor()).ok
    client = signed_in_client(app)
    data = client.get(f"/api/v1/frameworks/{FW}/competencies/ledarskap?lang=sv").get_json()
    assert data["definition"].startswith("Officiell definition")
    # untranslated official text falls back to the Swedish source in English
    en = client.get(f"/api/v1/frameworks/{FW}/competencies/ledarskap?lang=en").get_json()
    assert en["definition"].startswith("Officiell definition") and en["name"] == "Leadership"


def test_broken_content_file_is_reported_with_file_and_line(data_dir, tmp_path):
    pack = tmp_path / "pack"
    (pack / "groups").mkdir(parents=True)
    src = (lindelow.HERE / "content" / "groups" / "sociala-formagor.yaml").read_text(encoding="utf-8")
    lines = src.splitlines()
    index = next(i for i, line in enumerate(lines) if line.strip().startswith("kind: on_the_job"))
    lines[index] = lines[index].replace("on_the_job", "daydreaming")
    broken = pack / "groups" / "sociala-formagor.yaml"
    broken.write_text("\n".join(lines) + "\n", encoding="utf-8")
    app = make(data_dir, MALIN_LINDELOW_CONTENT_DIR=str(pack))
    client = signed_in_client(app)
    plugins = {p["name"]: p for p in client.get("/api/v1/plugins").get_json()}
    assert plugins["malin_lindelow"]["state"] == "failed"
    reason = plugins["malin_lindelow"]["reason"]
    assert f"{broken}:{index + 1}:" in reason and "kind" in reason
    # the rest of the app still works
    assert client.get("/api/v1/frameworks/kbp-sample").status_code == 200


@pytest.mark.parametrize("mode", ["coaching", "self_reflection"])
def test_dialogues_offer_only_their_own_kind_never_interview_or_follow_up(licensor, data_dir, mode):
    from core import plans

    app = make(data_dir)
    registry = app.extensions["kbp"].registry
    assert registry.entitlements.install(registry.frameworks[FW], licensor()).ok
    plan = {"mode": mode, "situation": "recruited_need", "focus": [{"competency": f"{FW}:strukturerad"}]}
    questions, _acts = plans.suggestions(registry, plan)
    assert questions and {q.kind for _qs, q in questions} == {mode}
    interview = [q for _qs, q in registry.questions_for(f"{FW}:strukturerad", "interview")]
    assert len(interview) >= 3
    with app.app_context(), pytest.raises(plans.PlanError):
        plans.set_questions({**plan, "questions": []}, None, registry, [interview[0].id], [])
