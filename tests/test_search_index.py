"""core.search: the in-memory activity index (matching, filters, ranking, paging, incremental updates)."""
from __future__ import annotations

import random
import threading

import pytest

from core.search import ActivityIndex, Hit, SearchDoc, normalize, tokenize

COMP_LEAD = "malin-lindelow:ledarskap"
COMP_SELF = "malin-lindelow:sjalvstandighet"
COMP_TALK = "kbp-sample:communication"
COMP_PLAN = "kbp-sample:planning"


def doc(aid: str, sv=None, en=None, *, source: str = "inhouse", comps=(COMP_LEAD,), kind: str = "training",
        effort: str = "days", situations=(), fallback: str = "sv", archived: bool = False, texts=None) -> SearchDoc:
    if texts is None:
        texts = {}
        if sv is not None:
            texts["sv"] = sv
        if en is not None:
            texts["en"] = en
    return SearchDoc(key=(source, aid), competencies=tuple(comps), kind=kind, effort=effort,
                     situations=tuple(situations), texts=texts, fallback_locale=fallback, archived=archived)


def keys(result) -> list[str]:
    return [hit.key[1] for hit in result.hits]


def found(index: ActivityIndex, text: str, **kw) -> set[str]:
    kw.setdefault("limit", 1000)
    return set(keys(index.search(text, **kw)))


@pytest.fixture
def index() -> ActivityIndex:
    return ActivityIndex([
        doc("sjalv", ("Självständighet i vardagen", "Ta eget ansvar för ett mindre projekt."),
            ("Independence every day", "Take ownership of a small project."), comps=(COMP_SELF,)),
        doc("overtyga", ("Övertygande presentationer", "Öva på att presentera för ledningsgruppen."),
            ("Persuasive presentations", "Practise presenting to the management team."), comps=(COMP_TALK,),
            kind="on_the_job", effort="hours"),
        doc("ledkurs", ("Ledarskapsutbildning för nya chefer", "En kurs om feedback och samtal."),
            ("Leadership training for new managers", "A course on feedback and conversations."),
            comps=(COMP_LEAD, COMP_TALK), situations=("new_role",), effort="weeks"),
        doc("mentor", ("Mentorskap", "Träffa en erfaren kollega varje månad."),
            ("Mentoring", "Meet an experienced colleague every month."), kind="learning_from_others",
            effort="months", situations=("new_role", "grow_further")),
        doc("mod", ("Mod att säga nej", "Reflektera över när du tar på dig för mycket."),
            ("The courage to say no", "Reflect on when you take on too much."), comps=(COMP_SELF,),
            kind="reflection", effort="hours"),
        doc("svonly", ("Bokcirkel om samarbete", "Läs och diskutera en bok om samarbete i grupp."),
            comps=(COMP_TALK,), kind="learning_from_others"),
        doc("enonly", en=("Negotiation workshop", "A day of negotiation exercises."), fallback="en",
            source="kbp-sample", comps=(COMP_PLAN,)),
        doc("gammal", ("Gammal ledarskapskurs", "Arkiverad kurs om ledarskap."), comps=(COMP_LEAD,), archived=True),
    ])


# --------------------------------------------------------------------------- normalisation


def test_normalize_strips_diacritics_and_case():
    assert normalize("Självständighet") == "sjalvstandighet"
    assert normalize("ÖVERTYGANDE") == "overtygande"
    assert normalize("Straße") == "strasse"
    assert tokenize("Ledarskaps-utbildning, del 2!") == ["ledarskaps", "utbildning", "del", "2"]
    assert tokenize("snake_case") == ["snake", "case"]
    assert tokenize("") == [] and tokenize("... !!") == []


def test_diacritics_insensitive_both_directions(index):
    assert found(index, "sjalvstandighet") == {"sjalv"}
    assert found(index, "OVERTYGANDE") == {"overtyga"}
    ascii_only = ActivityIndex([doc("a", ("Sjalvstandighet och ovning", "utan prickar"))])
    assert found(ascii_only, "självständighet övning") == {"a"}


def test_case_insensitive(index):
    assert found(index, "MENTORSKAP") == found(index, "mentorskap") == found(index, "MeNtOrSkAp") == {"mentor"}


# --------------------------------------------------------------------------- typos, prefixes, AND


def test_typo_distance_one_from_four_letters():
    idx = ActivityIndex([doc("a", ("Samtal", "")), doc("b", ("Kurs", "")), doc("c", ("Mod", ""))])
    assert found(idx, "samtla") == {"a"}  # transposition
    assert found(idx, "samtl") == {"a"}  # also a prefix: the last token
    assert found(idx, "samtxl kurs") == set()  # AND: "kurs" is in another doc
    assert found(idx, "samtxl") == {"a"}  # substitution
    assert found(idx, "samtaal") == {"a"}  # insertion
    assert found(idx, "kurz") == {"b"}
    assert found(idx, "kuts") == {"b"}


def test_typo_distance_two_only_from_eight_letters():
    idx = ActivityIndex([doc("a", ("Mentorskap", "")), doc("b", ("Samtal", ""))])
    assert found(idx, "mentroskap") == {"a"}  # distance 1 (transposition)
    assert found(idx, "mentrosap") == {"a"}  # distance 2, 9 letters
    assert found(idx, "mantrosap") == set()  # distance 3
    assert found(idx, "smatla") == set()  # distance 2 but only 6 letters
    assert found(idx, "sxmtxl") == set()


def test_fewer_typos_rank_higher():
    """Exact > one typo > two typos, all else equal (a ranking that scored distance 2 like distance 1
    would put the two-typo document first or tie it; the order of insertion is the reverse here)."""
    idx = ActivityIndex([
        doc("two", ("Kommunkatin i grupp", "")),  # "kommunikation" with two letters missing
        doc("one", ("Kommunikatin i grupp", "")),  # one letter missing
        doc("exact", ("Kommunikation i grupp", "")),
    ])
    assert keys(idx.search("kommunikation grupp", limit=10)) == ["exact", "one", "two"]
    scores = {hit.key[1]: hit.score for hit in idx.search("kommunikation grupp", limit=10).hits}
    assert scores["exact"] > scores["one"] > scores["two"]


def test_short_tokens_need_exact_or_prefix():
    idx = ActivityIndex([doc("mod", ("Mod", "")), doc("bok", ("Bok", "")), doc("ny", ("Ny roll", ""))])
    assert found(idx, "mud") == set()
    assert found(idx, "bot") == set()
    assert found(idx, "mo") == {"mod"}  # prefix of the last token
    assert found(idx, "nu roll") == set()  # a 2-letter token is exact only when it is not last
    assert found(idx, "ny roll") == {"ny"}


def test_not_too_loose(index):
    # "ledare" is no prefix of and too far from "ledarskapsutbildning"; "kurser" is not "kurs" + typo of 1? it is: 2 insertions
    assert found(index, "ledare") == set()
    assert found(index, "kursen") == set()
    assert found(index, "chefer") == {"ledkurs"}


def test_prefix_of_last_token_and_swedish_compounds(index):
    assert found(index, "ledarskap") == {"ledkurs"}  # ledarskapsutbildning (the archived one is hidden)
    assert found(index, "ledarsk") == {"ledkurs"}
    assert found(index, "nya ledarsk") == {"ledkurs"}
    assert found(index, "ledarsk nya") == set()  # only the last token is a prefix
    assert found(index, "ment") == {"mentor"}


def test_every_token_must_match(index):
    assert found(index, "kurs feedback") == {"ledkurs"}
    assert found(index, "kurs mentorskap") == set()
    assert found(index, "samarbete") == {"svonly"}
    assert found(index, "samarbete grupp") == {"svonly"}
    assert found(index, "samarbete chefer") == set()


# --------------------------------------------------------------------------- locales


def test_locale_choice_and_fallback(index):
    assert found(index, "ledningsgruppen", locale="sv") == {"overtyga"}
    assert found(index, "ledningsgruppen", locale="en") == set()  # it has English text
    assert found(index, "presentationer", locale="en") == {"overtyga"}  # "presentations": two typos away
    assert found(index, "persuasive", locale="en") == {"overtyga"}
    assert found(index, "persuasive", locale="sv") == set()
    # only Swedish: found in English through its source-language text, and vice versa
    assert found(index, "bokcirkel", locale="en") == {"svonly"}
    assert found(index, "negotiation", locale="sv") == {"enonly"}
    assert found(index, "negotiation", locale="en") == {"enonly"}


def test_locale_codes_and_unknown_locale(index):
    assert found(index, "ledarskap", locale="sv-SE") == {"ledkurs"}
    assert found(index, "leadership", locale="EN_gb") == {"ledkurs"}
    # nobody has German: everyone's source-language text
    assert found(index, "ledarskap", locale="de") == {"ledkurs"}
    assert found(index, "negotiation", locale="de") == {"enonly"}
    assert found(index, "leadership", locale="de") == set()


def test_blank_translation_falls_back():
    idx = ActivityIndex([doc("a", texts={"sv": ("Ledarskap", "På svenska"), "en": ("", " ")})])
    assert found(idx, "svenska", locale="en") == {"a"}


def test_text_of_the_fallback_language_when_it_is_the_source():
    idx = ActivityIndex([doc("a", texts={"en": ("Coaching", "Grow"), "sv": ("Coachning", "Väx")}, fallback="en")])
    assert found(idx, "coachning", locale="sv") == {"a"}
    assert found(idx, "väx", locale="en") == set()
    assert found(idx, "väx", locale="sv") == {"a"}
    assert found(idx, "coaching", locale="fi") == {"a"}


# --------------------------------------------------------------------------- filters


def test_each_filter(index):
    assert found(index, "", kinds=["reflection"]) == {"mod"}
    assert found(index, "", efforts=("hours",)) == {"overtyga", "mod"}
    assert found(index, "", situations=["grow_further"]) == {"mentor"}
    assert found(index, "", sources=["kbp-sample"]) == {"enonly"}
    assert found(index, "", competencies=[COMP_SELF]) == {"sjalv", "mod"}
    assert found(index, "", competencies=COMP_PLAN) == {"enonly"}  # a single string is one value


def test_filters_or_within_and_across(index):
    assert found(index, "", efforts=["hours", "months"]) == {"overtyga", "mod", "mentor"}
    assert found(index, "", competencies=[COMP_SELF, COMP_TALK]) == {"sjalv", "mod", "overtyga", "ledkurs", "svonly"}
    assert found(index, "", competencies=[COMP_SELF, COMP_TALK], efforts=["hours"]) == {"mod", "overtyga"}
    assert found(index, "", competencies=[COMP_TALK], kinds=["learning_from_others"], sources=["inhouse"]) == {"svonly"}
    assert found(index, "", situations=["new_role"], kinds=["training"]) == {"ledkurs"}
    assert found(index, "feedback", competencies=[COMP_TALK], situations=["new_role"]) == {"ledkurs"}
    assert found(index, "feedback", competencies=[COMP_SELF]) == set()


def test_unknown_filter_values_match_nothing(index):
    assert index.search("", kinds=["nope"]).total == 0
    assert index.search("", competencies=["x:y"], kinds=["training"]).total == 0
    assert found(index, "", kinds=["nope", "reflection"]) == {"mod"}


def test_archived_excluded_unless_asked(index):
    assert "gammal" not in found(index, "")
    assert found(index, "arkiverad") == set()
    assert found(index, "arkiverad", include_archived=True) == {"gammal"}
    assert found(index, "ledarskap", include_archived=True) == {"ledkurs", "gammal"}
    assert index.search("", include_archived=True).total == len(index) == 8


# --------------------------------------------------------------------------- ranking


def test_competency_matches_rank_first():
    idx = ActivityIndex([
        doc("text", ("Feedback feedback", "Feedback i titeln och texten"), comps=(COMP_LEAD,)),
        doc("both", ("Kurs", "Lite om feedback långt ner i en lång beskrivning av något annat helt och hållet"),
            comps=(COMP_LEAD, COMP_TALK)),
        doc("all3", ("Annat", "Om feedback"), comps=(COMP_LEAD, COMP_TALK, COMP_SELF)),
    ])
    result = idx.search("feedback", competencies=[COMP_LEAD, COMP_TALK, COMP_SELF])
    assert keys(result) == ["all3", "both", "text"]
    assert [h.competency_matches for h in result.hits] == [3, 2, 1]
    assert result.hits[2].text_score > result.hits[1].text_score  # text came second
    # without text: competency matches, then key
    assert keys(idx.search("", competencies=[COMP_TALK, COMP_LEAD])) == ["all3", "both", "text"]
    assert keys(idx.search("", competencies=[COMP_LEAD])) == ["all3", "both", "text"]


def test_text_relevance_then_key():
    idx = ActivityIndex([
        doc("b", ("Kurs", "Vi övar feedback i grupp")),
        doc("a", ("Kurs", "Vi övar feedback i grupp")),
        doc("c", ("Feedback i grupp", "Vi övar tillsammans")),
    ])
    result = idx.search("feedback")
    assert keys(result) == ["c", "a", "b"]  # title beats description; equal scores by key
    assert result.hits[1].text_score == result.hits[2].text_score
    assert all(isinstance(h, Hit) and h.competency_matches == 0 for h in result.hits)
    assert [h.score for h in result.hits] == sorted((h.score for h in result.hits), reverse=True)


def test_exact_beats_prefix_beats_fuzzy():
    same = "Att ge och ta emot i gruppen"
    idx = ActivityIndex([
        doc("exact", ("Samtal", same)),
        doc("prefix", ("Samtalet", same)),
        doc("fuzzy", ("Samtql", same)),
    ])
    assert keys(idx.search("samtal")) == ["exact", "prefix", "fuzzy"]
    long_word = ActivityIndex([doc("exact", ("Mentorskap", same)), doc("fuzzy2", ("Mentroskpa", same)),
                               doc("fuzzy1", ("Mentorskpa", same))])
    assert keys(long_word.search("mentorskap")) == ["exact", "fuzzy1", "fuzzy2"]


def test_rarer_words_weigh_more():
    idx = ActivityIndex([doc(f"c{i}", ("Kurs", "Allmän kurs")) for i in range(20)] + [
        doc("a-common-heavy", ("Plan", "kurs kurs kurs förhandling")),
        doc("b-rare-heavy", ("Plan", "förhandling förhandling förhandling kurs")),
    ])
    assert keys(idx.search("kurs förhandling")) == ["b-rare-heavy", "a-common-heavy"]


# --------------------------------------------------------------------------- empty queries, paging


def test_empty_and_punctuation_queries_list_filtered_docs_in_key_order(index):
    everything = index.search("")
    assert everything.total == 7
    assert [h.key for h in everything.hits] == sorted(h.key for h in everything.hits)
    assert all(h.text_score == 0 and h.score == 0 for h in everything.hits)
    for query in ("   ", "?!", "...,;:-", "*"):
        assert index.search(query) == everything
    assert keys(index.search("!!", efforts=["hours"])) == ["mod", "overtyga"]


def test_offset_limit_total():
    idx = ActivityIndex([doc(f"a{i:03d}", ("Feedback", "Om feedback" + " ord" * (i % 7))) for i in range(120)])
    full = idx.search("feedback", limit=1000)
    assert full.total == 120 and len(full.hits) == 120
    pages = [idx.search("feedback", limit=25, offset=o) for o in range(0, 125, 25)]
    assert all(p.total == 120 for p in pages)
    assert [h for p in pages for h in p.hits] == full.hits
    assert idx.search("feedback", limit=0).hits == [] and idx.search("feedback", limit=0).total == 120
    assert idx.search("feedback", offset=500).hits == []
    assert keys(idx.search("", limit=3, offset=2)) == ["a002", "a003", "a004"]
    with pytest.raises(ValueError):
        idx.search("feedback", limit=-1)


@pytest.mark.parametrize("n", [300, 1500])
def test_ties_at_the_page_boundary_follow_key_order(n):
    docs = [doc(f"d{i:05d}", ("Samma titel", "Samma text")) for i in reversed(range(n))]
    docs.append(doc("best", ("Samma samma titel", "Samma samma samma text")))
    idx = ActivityIndex(docs)
    first = idx.search("samma", limit=10)
    assert keys(first) == ["best"] + [f"d{i:05d}" for i in range(9)]
    second = idx.search("samma", limit=10, offset=10)
    assert keys(second) == [f"d{i:05d}" for i in range(9, 19)]
    assert first.total == second.total == n + 1
    cm = idx.search("", competencies=[COMP_LEAD, COMP_TALK], limit=5, offset=n - 2)
    assert keys(cm) == [f"d{i:05d}" for i in range(n - 3, n)] and cm.total == n + 1  # "best" comes first


# --------------------------------------------------------------------------- updates


def test_add_replace_remove(index):
    index.add(doc("ny", ("Coachande samtal", "Lär dig ställa öppna frågor."), comps=(COMP_TALK,)))
    assert len(index) == 9 and ("inhouse", "ny") in index
    assert found(index, "coachande") == {"ny"}
    assert found(index, "", competencies=[COMP_TALK]) == {"overtyga", "ledkurs", "svonly", "ny"}
    # replace: old words and facets are gone, new ones found
    index.add(doc("ny", ("Aktivt lyssnande", "Öva på att sammanfatta."), comps=(COMP_PLAN,), kind="reflection"))
    assert len(index) == 9
    assert found(index, "coachande") == set()
    assert found(index, "lyssnande") == {"ny"}
    assert "ny" not in found(index, "", competencies=[COMP_TALK])
    assert found(index, "", kinds=["reflection"]) == {"mod", "ny"}
    index.remove(("inhouse", "ny"))
    index.remove(("inhouse", "ny"))  # a missing key is ignored
    assert len(index) == 8 and ("inhouse", "ny") not in index
    assert found(index, "lyssnande") == set()
    assert found(index, "", kinds=["reflection"]) == {"mod"}
    # archiving is a replace
    index.add(doc("mod", ("Mod att säga nej", "Reflektera."), comps=(COMP_SELF,), archived=True))
    assert found(index, "mod") == set()
    assert found(index, "mod", include_archived=True) == {"mod"}


def test_new_word_after_build_is_found_fuzzily_and_as_prefix(index):
    index.add(doc("x", ("Förhandlingsteknik", "")))
    assert found(index, "förhandlingstekink") == {"x"}
    assert found(index, "förhandl") == {"x"}
    index.remove(("inhouse", "x"))
    assert found(index, "förhandl") == set()


def test_new_locale_added_later(index):
    index.add(doc("de", texts={"de": ("Führung", "Ein Kurs"), "sv": ("Tyskt ledarskap", "")}, fallback="sv"))
    assert found(index, "fuhrung", locale="de") == {"de"}
    # the others have no German text: their source-language text answers
    assert found(index, "bokcirkel", locale="de") == {"svonly"}
    assert found(index, "tyskt", locale="de") == set()
    assert found(index, "tyskt", locale="sv") == {"de"}
    assert found(index, "tyskt", locale="en") == {"de"}


def test_replace_source(index):
    index.replace_source("kbp-sample", [
        doc("neg", en=("Negotiation basics", "Role play."), fallback="en", source="kbp-sample", comps=(COMP_PLAN,)),
        doc("plan", en=("Planning your week", "Time boxing."), fallback="en", source="kbp-sample", comps=(COMP_PLAN,)),
    ])
    assert found(index, "", sources=["kbp-sample"]) == {"neg", "plan"}
    assert found(index, "negotiation") == {"neg"}
    assert found(index, "workshop") == set()  # the old doc is gone
    assert found(index, "", competencies=[COMP_PLAN]) == {"neg", "plan"}
    assert len(index) == 9
    index.replace_source("kbp-sample", [])
    assert found(index, "", sources=["kbp-sample"]) == set() and len(index) == 7
    assert found(index, "", sources=["inhouse"]) == {"sjalv", "overtyga", "ledkurs", "mentor", "mod", "svonly"}
    with pytest.raises(ValueError):
        index.replace_source("inhouse", [doc("x", ("X", ""), source="other")])


def test_replace_source_keeps_unchanged_docs_and_replaces_changed():
    docs = [doc(f"a{i}", (f"Titel {i}", "Samma text")) for i in range(100)]
    idx = ActivityIndex(docs)
    kept_id = idx._ids[("inhouse", "a5")]  # white box: an unchanged doc keeps its slot
    changed = list(docs)
    changed[7] = doc("a7", ("Helt ny titel", "Annan text"))
    del changed[9]
    changed.append(doc("b1", ("Tillagd", "")))
    idx.replace_source("inhouse", changed)
    assert idx._ids[("inhouse", "a5")] == kept_id
    assert found(idx, "helt ny") == {"a7"} and found(idx, "tillagd") == {"b1"}
    assert "a9" not in found(idx, "samma") and len(idx) == 100


WORDS = ["ledarskap", "ledarskapsutbildning", "samtal", "feedback", "övning", "självständighet", "grupp", "kurs",
         "mentorskap", "förhandling", "kund", "möte", "mod", "ny", "tillit", "coachning", "reflektion", "planering"]
EN_WORDS = ["leadership", "training", "talk", "feedback", "exercise", "independence", "group", "course", "mentoring"]


def _random_doc(rng: random.Random, source: str, aid: str) -> SearchDoc:
    def text(words):
        return (" ".join(rng.sample(words, rng.randint(1, 3))), " ".join(rng.choices(words, k=rng.randint(0, 8))))

    texts = {"sv": text(WORDS)}
    if rng.random() < 0.6:
        texts["en"] = text(EN_WORDS)
    fallback = "sv"
    if rng.random() < 0.15:
        texts = {"en": text(EN_WORDS)}
        fallback = "en"
    return SearchDoc(key=(source, aid), competencies=tuple(rng.sample([COMP_LEAD, COMP_SELF, COMP_TALK], rng.randint(1, 2))),
                     kind=rng.choice(["training", "reflection"]), effort=rng.choice(["hours", "days"]),
                     situations=tuple(rng.sample(["new_role", "grow_further"], rng.randint(0, 1))), texts=texts,
                     fallback_locale=fallback, archived=rng.random() < 0.1)


QUERIES = [("", {}), ("ledarskap", {}), ("ledarsk", {}), ("samtla", {}), ("kurs grupp", {}), ("mod", {}),
           ("feedback", {"locale": "en"}), ("training", {"locale": "en"}), ("talk", {"locale": "de"}),
           ("", {"competencies": [COMP_SELF, COMP_TALK]}), ("övning", {"kinds": ["reflection"]}),
           ("självständihet", {"include_archived": True}), ("", {"sources": ["s1"], "efforts": ["hours"]}),
           ("mentorskp feedback", {"situations": ["new_role"]})]


def _snapshot(idx: ActivityIndex):
    return [(q, tuple(sorted(kw.items(), key=str)), idx.search(q, limit=10_000, **kw)) for q, kw in QUERIES]


def _assert_same_as_fresh(idx: ActivityIndex, docs: dict):
    fresh = ActivityIndex(docs.values())
    assert len(idx) == len(fresh) == len(docs)
    for (q, kw, got), (_, _, want) in zip(_snapshot(idx), _snapshot(fresh)):
        assert got.total == want.total, (q, kw)
        assert sorted(h.key for h in got.hits) == sorted(h.key for h in want.hits), (q, kw)
        assert [h.competency_matches for h in got.hits] == [h.competency_matches for h in want.hits], (q, kw)
        if not q:
            assert got.hits == want.hits
    # white box: the vocabulary, prefix list and facets hold exactly the live data
    assert idx._vocab == fresh._vocab
    assert idx._terms == sorted(idx._vocab)
    assert idx._order_keys == sorted(docs) and [idx._recs[d].key for d in idx._order_ids] == idx._order_keys
    for name in ("_by_competency", "_by_kind", "_by_effort", "_by_situation", "_by_source"):
        mine, theirs = getattr(idx, name), getattr(fresh, name)
        assert {k: {idx._recs[d].key for d in v} for k, v in mine.items()} == \
               {k: {fresh._recs[d].key for d in v} for k, v in theirs.items()}
    for loc, view in idx._views.items():
        assert all(ids and len(ids) == len(weights) and list(ids) == sorted(set(ids)) for ids, weights in view.post.values())
        assert {t: {idx._recs[d].key for d in p[0]} for t, p in view.post.items()} == \
               {t: {fresh._recs[d].key for d in p[0]} for t, p in fresh._views[loc].post.items()}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_updates_match_a_fresh_build(seed):
    rng = random.Random(seed)
    docs = {}
    for i in range(150):
        d = _random_doc(rng, rng.choice(["s1", "s2"]), f"a{i}")
        docs[d.key] = d
    idx = ActivityIndex(docs.values())
    _assert_same_as_fresh(idx, docs)
    for step in range(120):
        op = rng.random()
        if op < 0.4:  # add or replace one
            d = _random_doc(rng, rng.choice(["s1", "s2", "s3"]), f"a{rng.randrange(200)}")
            idx.add(d)
            docs[d.key] = d
        elif op < 0.7 and docs:  # remove one (sometimes a missing one)
            key = rng.choice(list(docs)) if rng.random() < 0.9 else ("s1", "missing")
            idx.remove(key)
            docs.pop(key, None)
        else:  # swap a source: keep some, change some, drop some, add some; small and large batches
            source = rng.choice(["s1", "s2", "s3"])
            new = {}
            for key, d in docs.items():
                if key[0] == source and rng.random() < 0.7:
                    new[key] = d if rng.random() < 0.7 else _random_doc(rng, source, key[1])
            for _ in range(rng.choice([0, 3, 90])):
                d = _random_doc(rng, source, f"n{rng.randrange(10_000)}")
                new[d.key] = d
            idx.replace_source(source, new.values())
            docs = {k: v for k, v in docs.items() if k[0] != source}
            docs.update(new)
        if step % 20 == 19:
            _assert_same_as_fresh(idx, docs)
    _assert_same_as_fresh(idx, docs)
    for key in list(docs):
        idx.remove(key)
    assert len(idx) == 0 and idx._vocab == {} and idx._terms == []
    assert idx.search("").total == 0 and idx.search("ledarskap").total == 0


def test_docs_are_frozen_copies():
    texts = {"sv": ("Ledarskap", "Text")}
    d = doc("a", texts=texts, comps=[COMP_LEAD])
    texts["sv"] = ("Ändrad", "")
    assert d.texts["sv"] == ("Ledarskap", "Text") and d.competencies == (COMP_LEAD,)
    with pytest.raises(TypeError):
        d.texts["sv"] = ("x", "y")  # type: ignore[index]
    with pytest.raises(TypeError):
        SearchDoc(key="inhouse:a", competencies=(), kind="training", effort="days", situations=(),
                  texts={}, fallback_locale="sv")
    idx = ActivityIndex([d])
    idx.remove(("inhouse", "a"))
    assert idx._vocab == {}


def test_concurrent_reads_during_writes():
    rng = random.Random(5)
    idx = ActivityIndex(_random_doc(rng, "s1", f"a{i}") for i in range(300))
    errors = []
    stop = threading.Event()

    def reader():
        try:
            while not stop.is_set():
                for q, kw in QUERIES:
                    idx.search(q, **kw)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(200):
        idx.add(_random_doc(rng, "s2", f"b{i % 50}"))
        if i % 40 == 0:
            idx.replace_source("s1", [_random_doc(rng, "s1", f"a{j}") for j in range(rng.randint(50, 300))])
    stop.set()
    for t in threads:
        t.join()
    assert errors == []


def _postings(idx: ActivityIndex):
    """Every posting with its weight, by key (doc ids may differ between two indexes)."""
    return {loc: {t: {idx._recs[d].key: w for d, w in zip(*p)} for t, p in view.post.items()}
            for loc, view in idx._views.items()}


@pytest.mark.parametrize("seed", [1, 2])
def test_streamed_replace_source_builds_the_same_index_as_a_list(seed, monkeypatch):
    """A generator (a database cursor) is indexed in batches as it is read, without a list of every
    doc: the result is the same index, weights included, as from a list — so ranking is the same."""
    import core.search

    monkeypatch.setattr(core.search, "_STREAM_BATCH", 16)  # several batches with few docs
    rng = random.Random(seed)
    docs = [_random_doc(rng, "s1", f"a{i}") for i in range(300)]
    docs += [_random_doc(rng, "s2", f"b{i}") for i in range(40)]
    docs.append(_random_doc(rng, "s1", "a3"))  # a repeated key: the last one wins, as from a list
    listed, streamed = ActivityIndex(), ActivityIndex()
    for source in ("s2", "s1"):
        listed.replace_source(source, [d for d in docs if d.key[0] == source])
        streamed.replace_source(source, (d for d in docs if d.key[0] == source))
    assert _postings(streamed) == _postings(listed)
    for (q, kw, got), (_, _, want) in zip(_snapshot(streamed), _snapshot(listed)):
        assert got == want, (q, kw)
    # an update: some changed, some gone, some new — few (one pass) and many (batches)
    for changes in (5, 120):
        current = {d.key: d for d in docs if d.key[0] == "s1"}
        for key in rng.sample(sorted(current), changes):
            current[key] = _random_doc(rng, "s1", key[1])
        for key in rng.sample(sorted(current), 7):
            del current[key]
        for i in range(changes):
            d = _random_doc(rng, "s1", f"n{changes}-{i}")
            current[d.key] = d
        listed.replace_source("s1", list(current.values()))
        streamed.replace_source("s1", iter(current.values()))
        assert _postings(streamed) == _postings(listed)
        for (q, kw, got), (_, _, want) in zip(_snapshot(streamed), _snapshot(listed)):
            assert got == want, (q, kw)
        docs = [d for d in docs if d.key[0] != "s1"] + list(current.values())
    _assert_same_as_fresh(streamed, {d.key: d for d in docs})


def test_a_repeated_question_is_answered_from_memory_until_the_index_changes(index, monkeypatch):
    asked = []
    real = ActivityIndex._search
    monkeypatch.setattr(ActivityIndex, "_search", lambda self, q: asked.append(q) or real(self, q))
    first = index.search("ledarskap", locale="sv", limit=5)
    again = index.search("ledarskap", locale="sv", limit=5)
    assert again == first and len(asked) == 1
    again.hits.clear()  # each caller gets its own list
    assert keys(index.search("ledarskap", locale="sv", limit=5)) == keys(first)
    assert index.search("ledarskap", locale="en", limit=5) is not None and len(asked) == 2  # another question

    # every kind of change answers anew: add, remove, replace_source (a list and a stream)
    index.add(doc("ny", ("Ledarskap i praktiken", "Öva ledarskap varje vecka.")))
    assert "ny" in keys(index.search("ledarskap", locale="sv", limit=5))
    index.remove(("inhouse", "ny"))
    assert "ny" not in keys(index.search("ledarskap", locale="sv", limit=5))
    index.replace_source("kbp-sample", [doc("ledare", ("Ledarskap för alla", "Kurs."), source="kbp-sample")])
    assert "ledare" in keys(index.search("ledarskap", locale="sv", limit=5))
    index.replace_source("kbp-sample", (d for d in []))
    assert "ledare" not in keys(index.search("ledarskap", locale="sv", limit=5))
    assert keys(index.search("ledarskap", locale="sv", limit=5)) == keys(first)


def test_no_answers_are_kept_when_the_setting_says_none(monkeypatch):
    import core.search as search_module

    monkeypatch.setattr(search_module, "_ANSWERS", 0)
    index = search_module.ActivityIndex([doc("a1", sv=("Ledarskap i vardagen", "Öva dagligen."))])
    assert keys(index.search("ledarskap", locale="sv")) == ["a1"]
    assert not index._answers


@pytest.mark.parametrize("chunk", [1, 7, 1024])
def test_a_page_of_a_broad_query_is_the_same_slice_of_the_whole_ranking(chunk, monkeypatch):
    """A page is picked without ranking every match: the stop-th best score is found, the docs
    above it are sorted and the tied ones are read in key order (walking the key order, or, when
    ties are few, collecting them). Every page must be exactly that slice of the full ranking —
    checked here against a full sort, for broad and narrow queries, filters and several competencies,
    with every walk step size (so the walk both succeeds and gives up)."""
    import core.search

    monkeypatch.setattr(core.search, "_WALK_CHUNK", chunk)
    gave_up = []
    real = ActivityIndex._in_key_order
    monkeypatch.setattr(ActivityIndex, "_in_key_order",
                        lambda self, members, count: gave_up.append(len(members)) or real(self, members, count))
    rng = random.Random(chunk)
    docs = [_random_doc(rng, rng.choice(["s1", "s2"]), f"a{i:04d}") for i in range(1800)]
    docs += [doc(f"t{i:04d}", ("Kurs i ledarskap", "Samtal om mod"), en=("Leadership course", "A talk"),
                 comps=(COMP_LEAD, COMP_TALK), archived=i % 9 == 0) for i in rng.sample(range(2000), 700)]  # many ties
    rng.shuffle(docs)
    idx = ActivityIndex(docs)
    queries = [("ledarskap", {}), ("le", {}), ("sa", {}), ("kurs", {"kinds": ["reflection"]}), ("me", {"locale": "en"}),
               ("feedback", {"competencies": [COMP_SELF, COMP_TALK]}), ("grupp mod", {"include_archived": True}),
               ("samtla", {"efforts": ["hours"]}), ("tr", {"locale": "en", "competencies": [COMP_LEAD, COMP_TALK]}),
               ("ku", {}), ("mo", {"competencies": [COMP_LEAD, COMP_SELF]}), ("le", {"locale": "en"})]
    broad = 0
    for text, kw in queries:
        whole = idx.search(text, limit=10_000, **kw)  # few enough to be sorted whole
        assert whole.total == len(whole.hits)
        broad += whole.total > 300
        for offset, limit in ((0, 1), (0, 20), (3, 17), (20, 20), (250, 40), (whole.total - 5, 20)):
            page = idx.search(text, limit=limit, offset=max(offset, 0), **kw)
            assert page.total == whole.total, (text, kw)
            assert page.hits == whole.hits[max(offset, 0):max(offset, 0) + limit], (text, kw, offset, limit)
    assert broad >= 5
    if chunk == 1:
        assert gave_up  # some walk ran out of budget and the ties were collected instead


def test_long_posting_lists_weigh_through_a_table_with_the_same_scores(monkeypatch):
    """Long posting lists look each weight's product up in a table; the scores must be the very
    floats the multiplication gives."""
    import core.search

    rng = random.Random(5)
    idx = ActivityIndex([_random_doc(rng, "s1", f"a{i:04d}") for i in range(1500)])
    queries = [("le", {}), ("ledarskap kurs", {}), ("sa", {"kinds": ["reflection"]}), ("tr", {"locale": "en"})]
    with_table = [idx.search(q, limit=10_000, **kw) for q, kw in queries]
    assert sum(len(ids) >= core.search._TABLE_MIN for view in idx._views.values() for ids, _ in view.post.values()) > 10
    monkeypatch.setattr(core.search, "_TABLE_MIN", 10**9)
    idx.forget_answers()
    assert [idx.search(q, limit=10_000, **kw) for q, kw in queries] == with_table
    assert all(r.total for r in with_table)


def test_a_filter_naming_every_value_of_a_one_value_facet_is_no_filter():
    """Every doc has one kind, one effort and one source: naming all of them (the API names every
    available source) keeps every doc, so the index searches as if unfiltered; naming fewer filters."""
    rng = random.Random(9)
    docs = [_random_doc(rng, rng.choice(["s1", "s2", "s3"]), f"a{i:04d}") for i in range(400)]
    idx = ActivityIndex(docs)
    every = {"sources": ["s1", "s2", "s3", "few", "elsewhere"], "kinds": ["training", "reflection"], "efforts": ["hours", "days"]}
    docs += [_random_doc(rng, "few", f"f{i:04d}") for i in range(40)]  # a source with few docs
    idx = ActivityIndex(docs)
    by_key = {d.key: d for d in docs}
    assert idx._filtered((), every["kinds"], every["efforts"], (), every["sources"]) == (None, [])
    base, left_out = idx._filtered((), (), (), (), ["s1", "s2", "s3"])
    assert base is None and [len(s) for s in left_out] == [40]  # all but a few: those few are left out at the end
    for q in ("", "le", "ledarskap kurs", "samtla", "ku"):
        for archived in (False, True):
            unfiltered = idx.search(q, limit=10_000, include_archived=archived)
            assert idx.search(q, limit=10_000, include_archived=archived, **every) == unfiltered, q
            for kw in ({"sources": ["s1", "s3"], "kinds": ["training"]}, {"sources": ["s1", "s2", "s3"]},
                       {"sources": ["s1", "s2", "s3"], "kinds": ["reflection"]}, {"sources": ["few"]},
                       {"sources": ["s1", "s2", "s3"], "competencies": [COMP_SELF, COMP_TALK]}):
                got = idx.search(q, limit=10_000, include_archived=archived, **kw)
                want = [h for h in idx.search(q, limit=10_000, include_archived=archived,
                                              competencies=kw.get("competencies", ())).hits
                        if h.key[0] in kw["sources"] and by_key[h.key].kind in kw.get("kinds", (by_key[h.key].kind,))]
                assert got.total == len(want) and got.hits == want, (q, kw)
                assert got.total, (q, kw)
                page = idx.search(q, limit=7, offset=3, include_archived=archived, **kw)
                assert page.total == got.total and page.hits == got.hits[3:10], (q, kw)
