"""In-memory search over development activities from every source (framework, in-house, files).

One :class:`ActivityIndex` holds :class:`SearchDoc` objects — an activity's key, the facets the
filters use and its text per locale — and answers :meth:`ActivityIndex.search` with a ranked,
paged :class:`SearchResult`. Pure standard library; sized for ~50,000 activities in two or more
languages (p95 well under 30 ms per query on a small shared machine, see
``benchmarks/bench_search.py``).

API
===

``SearchDoc(key, competencies, kind, effort, situations, texts, fallback_locale, archived=False)``
    ``key`` is ``(source_id, activity_id)``; ``competencies`` are global ids
    (``framework:competency``); ``texts`` maps a locale to ``(title, description)``. A locale the
    doc has no text for (absent, or title and description both blank) uses the text of
    ``fallback_locale`` (the doc's source language; if that has no text either, the first locale
    in alphabetical order that has). Text identical to the fallback text is stored once, so passing
    the untranslated source text for every locale costs nothing. A doc with no text at all is found
    by filters only. Lists are turned into tuples and ``texts`` into a read-only copy, so a doc
    cannot change under the index.

``ActivityIndex(docs=())``
    ``add(doc)`` adds or replaces (same key); ``remove(key)`` (a missing key is ignored);
    ``replace_source(source_id, docs)`` makes the index hold exactly ``docs`` for that source
    (unchanged docs — same fingerprint — are kept as they are, so a refresh that changes a few
    activities costs a few updates); ``docs`` may be a generator (a database cursor): it is then
    indexed in batches as it is read, and no list of every doc is held; ``len(index)``;
    ``key in index``; ``stats()`` (sizes, for monitoring). The index keeps no doc's text.

``search(text="", *, locale="sv", competencies=(), kinds=(), efforts=(), situations=(), sources=(),
include_archived=False, limit=50, offset=0) -> SearchResult(hits, total)``
    ``hits`` is a list of :class:`Hit` ``(key, score, competency_matches, text_score)`` for the
    page ``[offset, offset + limit)``; ``total`` counts every match before paging. A filter
    argument may be a single string or any iterable of strings; a negative ``limit``/``offset``
    raises ``ValueError``. Locale codes are compared case-insensitively with ``-`` = ``_``;
    ``sv-SE`` uses ``sv`` texts when no doc has ``sv_se`` ones, and a locale no doc has text in
    uses every doc's fallback text.

Matching
========

* **Filters are hard.** Values within one filter are OR (a doc has *any* of the competencies /
  kinds / …), different filters are AND. Archived docs are left out unless ``include_archived``.
  A filter value nobody has matches nothing.
* **Text** is compared after normalisation: casefold, Unicode NFKD, combining marks removed
  (``självständighet`` = ``sjalvstandighet``, ``ÖVERTYGANDE`` = ``övertygande``; a few letters that
  do not decompose are folded too: ø→o, æ→ae, ł→l …), then split into runs of letters and digits.
  The query is matched against the doc's title and description in ``locale`` (or its fallback
  text). Every query token must match (AND; repeated tokens count once, tokens after the 16th are
  ignored); a query with no tokens (empty, or only punctuation) has no text condition and lists
  the filtered docs. A query token matches a word of the doc

  - **exactly**;
  - as a **prefix**, for the *last* query token when it has ≥ 2 characters (search as you type,
    and Swedish compounds: ``ledarskap`` finds ``ledarskapsutbildning``);
  - **fuzzily** (typos): within Damerau–Levenshtein (optimal string alignment) distance 1 when the
    query token has ≥ 4 characters, distance 2 when it has ≥ 8. Shorter tokens need an exact or
    prefix match, otherwise ``bok`` would also find ``mod``, ``bot``, ``bod`` ….

* **Text score** — a BM25 sum over the query tokens, computed per doc::

      token score = idf(token) * tier * bm25tf(term, doc)

  ``bm25tf`` is BM25F's saturated term frequency (k1 = 1.2, b = 0.75) over a combined field in
  which a title occurrence counts ``TITLE_WEIGHT`` (3) times a description occurrence, so a word
  in the title ranks above the same word in the description. ``tier`` is 1.0 for an exact match,
  0.55–0.8 for a prefix (closer to 0.8 the more of the word was typed), 0.5 for a typo at distance
  1 and 0.35 at distance 2: exact > prefix > fuzzy when everything else is equal. When a query
  token matches a doc through several vocabulary words the best tier counts. ``idf`` is
  BM25's idf of the token, taken from the most frequent word the token matches in that language,
  so that a rare completion or a rare misspelling never outweighs the exact, common word the
  user most likely meant.

Ranking
=======

1. more ``competency_matches`` first — how many of the requested competencies the doc has
   (exact ids). The competency filter already keeps only docs with at least one; a doc that covers
   two of the competencies a person is working on is the better suggestion whatever its wording;
2. then higher ``text_score`` (only when there is query text);
3. then ``key`` ascending — a stable tiebreak, so paging never shows a doc twice or skips one.

With neither text nor competencies all filtered docs come in key order. ``Hit.score`` is
``competency_matches + text_score / (1 + text_score)``: it orders hits like the rules above
(minus the key tiebreak) and is handy for display or debugging; sort by ``(-score, key)`` to get
the same order back.

Data structures
===============

* One *view* per locale seen in any doc: an inverted index ``term -> (doc ids, weights)``, the
  doc ids ascending in an ``array('I')`` and the BM25 term weights quantised to 1..250 in a
  ``bytearray``: 5 bytes a posting (a dict slot costs 30-50; at 50,000 activities in two languages
  that was 100 MB of every worker). Doc ids only grow, so appending keeps the ids sorted. A query
  token's scores are read the cheapest token first, each next token only for the docs still in
  the running (``compress`` over a membership mask, or a binary search per candidate when they are
  few); per-doc work stays in C (``zip``/``map``/``compress``): a broad prefix such as ``fö``
  matches most of the index.
* Per doc the index keeps its key, facets, which views hold its text (with the lengths it added
  to the running average) and a fingerprint (hash) of the whole doc — not its text, nor its list of
  terms: removing a doc scans the postings of its views once (milliseconds; only edits remove).
* Fallback text is not copied: a doc lacking locale L is searched through its fallback locale's
  view, restricted to the maintained set "docs without L whose primary locale is F".
* Vocabulary: a dict of live terms (hash lookups for exact and edit-distance-1 candidates —
  every deletion, transposition, substitution and insertion of the query token, Norvig-style, is
  looked up; a few hundred lookups), a sorted list (bisect range for prefixes) and, for distance 2,
  a trigram index bucketed by term length: candidates sharing enough trigrams (q-gram lemma:
  ``max(len) + 2 - 4k`` with two pad characters; a transposition destroys at most 4 trigrams) are
  verified with a bounded edit distance. Query-token expansions are cached until the vocabulary
  changes.
* Facet sets ``value -> {doc_id}`` for competencies, kinds, efforts, situations, sources,
  archived, and a key-ordered list of doc ids for key-order paging.
* Top-k: ``heapq.nlargest`` on the score values finds the k-th score, only the docs above it are
  sorted; ties at the boundary, and listings without text, take the first docs of the key-ordered
  list that are in the candidate set (or sort the candidates when there are few).
* Archived docs are taken out of the result at the end when there is no other filter (cheaper than
  intersecting with the 95% that are not archived).
* Answers: the last few hundred questions (query text, locale, filters, page) keep their answer —
  the page's hits and the total, not the scores — until the index changes in any way (every change
  goes through one method, which empties them). A broad prefix such as ``fö`` scores most of the
  index (tens of milliseconds at 50,000 activities); asked again, it costs a dictionary look-up.

Updates are incremental: ``add`` appends the doc's postings, ``remove`` scans the postings of the
doc's views (plus an O(n) memmove in two Python lists); ``replace_source`` diffs fingerprints against
what is indexed. A streamed ``replace_source`` with many changes (a first build) holds the lock while
it reads, stores term frequencies in the new postings and turns them into weights at the end with
the average length of the whole change — the same weights as a build from a list.
BM25's average document length is a running average: weights of docs indexed earlier are not
recomputed when it drifts, which is harmless for ranking.

Thread safety
=============

Every public method takes an internal lock, so reads concurrent with writes (a Flask worker with
threads) are safe. Searches are serialised too, which costs nothing extra: they are pure Python and
hold the GIL anyway. Tokenising the docs of an ``add``/``replace_source`` happens before the lock is
taken; applying the change holds it (milliseconds for a handful of docs; a full 50k-doc source
takes a couple of seconds — build a new index and swap the reference if searches must not wait).
Each process has its own index: a change made in another worker must be re-applied there.
"""
from __future__ import annotations

import bisect
import heapq
import math
import operator
import os
import re
import sys
import threading
import unicodedata
from array import array
from collections import Counter, OrderedDict, defaultdict
from dataclasses import dataclass
from itertools import compress, islice, repeat
from types import MappingProxyType
from typing import Any, Iterable, Mapping

try:
    from collections import _count_elements  # the C helper behind Counter.update
except ImportError:  # pragma: no cover - other Python implementations

    def _count_elements(mapping, iterable):
        for item in iterable:
            mapping[item] = mapping.get(item, 0) + 1

__all__ = ["SearchDoc", "Hit", "SearchResult", "ActivityIndex", "normalize", "tokenize"]

# --------------------------------------------------------------------------- tuning

TITLE_WEIGHT = 3  #: a title occurrence counts as this many description occurrences
K1 = 1.2
B = 0.75
TIER_EXACT = 1.0
TIER_PREFIX_MIN = 0.55
TIER_PREFIX_MAX = 0.8
TIER_FUZZY1 = 0.5
TIER_FUZZY2 = 0.35
PREFIX_MIN_LEN = 2  #: the last query token matches as a prefix from this many characters
FUZZY1_MIN_LEN = 4  #: query tokens this long tolerate one typo ...
FUZZY2_MIN_LEN = 8  #: ... and this long two
MAX_QUERY_TOKENS = 16  #: further tokens of a very long query are ignored
MAX_FUZZY_TOKEN_LEN = 40  #: longer tokens (pasted ids, URLs) match exactly or as a prefix only

_TF_CAP = 64  # combined term frequencies are capped here (BM25 has long saturated)
_QUANT = 250  # posting weights are ints 1.._QUANT standing for bm25tf / (K1 + 1)
_SCALE = (K1 + 1) / _QUANT
_PAD = "$$"
_EXPANSION_CACHE_SIZE = 4096
#: answers kept (an answer is a page of hits: a few KB at most); ``KBP_SEARCH_KEPT_ANSWERS=0`` keeps none
#: (benchmarks measuring the index itself)
_ANSWERS = max(0, int(os.environ.get("KBP_SEARCH_KEPT_ANSWERS", "256") or 0))
_ANSWER_MAX_HITS = 200  #: longer pages (a whole competency's list) are not kept
_SMALL_SORT = 1024  # candidate sets up to this size are sorted by key instead of walking the key order
_TABLE_MIN = 256  # posting lists this long weigh through a table of the 256 possible products
_WALK_CHUNK = 1024  # doc ids read at a time when walking the key order for tied scores
_NAN = float("nan")  # equal to no score


# --------------------------------------------------------------------------- text


_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+")
_TOKEN = re.compile(r"[^\W_]+")
_ASCII_TOKEN = re.compile(r"[0-9a-z]+")  # the same on casefolded ASCII text, faster
_FOLD = str.maketrans({"ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i"})


def normalize(text: str) -> str:
    """Casefold, decompose (NFKD) and drop combining marks: ``"Självständighet"`` → ``"sjalvstandighet"``."""
    folded = text.casefold()
    if folded.isascii():
        return folded
    stripped = _COMBINING.sub("", unicodedata.normalize("NFKD", folded))
    return stripped if stripped.isascii() else stripped.translate(_FOLD)


def tokenize(text: str) -> list[str]:
    """The normalised tokens (runs of letters and digits) of ``text``, in order, repeats kept."""
    if not text:
        return []
    norm = normalize(text)
    return (_ASCII_TOKEN if norm.isascii() else _TOKEN).findall(norm)


_LOCALES: dict[str, str] = {}


def _canon_locale(locale: str) -> str:
    """``sv-SE`` → ``sv_se`` (one shared str per code)."""
    canon = _LOCALES.get(locale)
    if canon is None:
        canon = str(locale).strip().replace("-", "_").lower()
        if len(_LOCALES) < 1000:
            _LOCALES[locale] = canon = _LOCALES.get(canon, canon)
    return canon


# --------------------------------------------------------------------------- public types


@dataclass(frozen=True)
class SearchDoc:
    """What the index knows of one activity. See the module docstring."""

    key: tuple[str, str]
    competencies: tuple[str, ...]
    kind: str
    effort: str
    situations: tuple[str, ...]
    texts: Mapping[str, tuple[str, str]]
    fallback_locale: str
    archived: bool = False

    def __post_init__(self) -> None:
        key = tuple(self.key) if not isinstance(self.key, str) else ()
        if len(key) != 2 or not all(isinstance(part, str) for part in key):
            raise TypeError(f"SearchDoc.key must be (source_id, activity_id) strings, not {self.key!r}")
        texts: dict[str, tuple[str, str]] = {}
        for locale, value in (self.texts or {}).items():
            title, description = value
            texts[str(locale)] = (str(title or ""), str(description or ""))
        set_ = object.__setattr__
        set_(self, "key", key)
        set_(self, "competencies", _as_tuple(self.competencies))
        set_(self, "situations", _as_tuple(self.situations))
        set_(self, "texts", MappingProxyType(texts))
        set_(self, "archived", bool(self.archived))

    __hash__ = None  # type: ignore[assignment]  # texts is a mapping; key identifies a doc


@dataclass(frozen=True)
class Hit:
    key: tuple[str, str]
    score: float
    competency_matches: int
    text_score: float


@dataclass(frozen=True)
class SearchResult:
    hits: list[Hit]
    total: int


def _as_tuple(values: Any) -> tuple[str, ...]:
    if values is None:
        return ()
    if isinstance(values, str):
        return (values,)
    return tuple(dict.fromkeys(values))


# --------------------------------------------------------------------------- internals


class _View:
    """The inverted index of one locale: term -> (doc ids ascending, their quantised weights), as
    ``array('I')`` and ``bytearray`` (5 bytes a posting; a dict would take 30-50)."""

    __slots__ = ("locale", "post", "docs")

    def __init__(self, locale: str):
        self.locale = locale
        self.post: dict[str, tuple[array, bytearray]] = {}
        self.docs = 0  # how many docs have text in this locale


_INTERNED: dict[Any, Any] = {}


def _shared(value):
    """One shared object per distinct small tuple (locales of a doc, its facet values)."""
    found = _INTERNED.get(value)
    if found is None:
        if len(_INTERNED) >= 100_000:
            return value
        _INTERNED[value] = found = value
    return found


def _intern(value):
    return sys.intern(value) if type(value) is str else value


def _fingerprint(doc: SearchDoc) -> int:
    """A hash of everything the index takes from ``doc`` besides its key: an unchanged doc has the same."""
    return hash((doc.competencies, doc.kind, doc.effort, doc.situations, doc.fallback_locale, doc.archived,
                 tuple(sorted(doc.texts.items()))))


class _Rec:
    """What the index keeps of an indexed doc: its key and facets, which views hold its text (and
    the lengths it added to the running average), and a fingerprint of the whole doc — not its
    text, so the index holds no copy of any activity's text."""

    __slots__ = ("key", "competencies", "kind", "effort", "situations", "archived", "primary", "locales", "dls", "fp")

    def __init__(self, doc: SearchDoc, primary: str | None, fields: dict):
        self.key = doc.key
        # facet values repeat across docs: one shared str (and tuple) each, not one per doc
        self.competencies = _shared(tuple(map(_intern, doc.competencies)))
        self.kind = _intern(doc.kind)
        self.effort = _intern(doc.effort)
        self.situations = _shared(tuple(map(_intern, doc.situations)))
        self.archived = doc.archived
        self.primary = primary
        self.locales = _shared(tuple(fields))
        self.dls = tuple(f[0] for f in fields.values())
        self.fp = _fingerprint(doc)


class _Prepared:
    """A doc tokenised for indexing: per locale its length and (terms, combined term frequencies)."""

    __slots__ = ("rec", "primary", "fields")

    def __init__(self, doc: SearchDoc, strings: dict[str, str]):
        if not isinstance(doc, SearchDoc):
            raise TypeError(f"expected a SearchDoc, got {type(doc).__name__}")
        texts: dict[str, tuple[str, str]] = {}
        for locale, (title, description) in doc.texts.items():
            if title.strip() or description.strip():
                texts[_canon_locale(locale)] = (title, description)
        fallback = _canon_locale(doc.fallback_locale)
        primary = fallback if fallback in texts else (min(texts) if texts else None)
        if primary is not None:  # a "translation" equal to the source text is just the fallback
            source = texts[primary]
            texts = {loc: t for loc, t in texts.items() if loc == primary or t != source}
        self.primary = primary
        self.fields: dict[str, tuple[int, tuple[str, ...], tuple[int, ...]]] = {}
        for loc, (title, description) in texts.items():
            if "\x00" in title or "\x00" in description:
                title_tokens, desc_tokens = tokenize(title), tokenize(description)
            else:  # one normalisation for both
                norm = normalize(f"{title}\x00{description}")
                finder = (_ASCII_TOKEN if norm.isascii() else _TOKEN).findall
                norm_title, _, norm_desc = norm.partition("\x00")
                title_tokens, desc_tokens = finder(norm_title), finder(norm_desc)
            tf: dict[str, int] = {}
            _count_elements(tf, desc_tokens)
            for term in title_tokens:
                tf[term] = tf.get(term, 0) + TITLE_WEIGHT
            # one shared str object per distinct term: the index keeps few, the batch stays small
            terms = tuple(map(strings.setdefault, tf, tf))
            counts = tuple([n if n < _TF_CAP else _TF_CAP for n in tf.values()])
            self.fields[loc] = (TITLE_WEIGHT * len(title_tokens) + len(desc_tokens), terms, counts)
        self.rec = _Rec(doc, primary, self.fields)


_IDENTITY = list(range(_TF_CAP + 1))
_STREAM_BATCH = 2000  #: a streamed replace_source indexes changed docs in batches of this many


def _weight_table(dl: int, avgdl: float) -> list[int]:
    """Quantised BM25 term weight by (capped) term frequency, for a doc of length ``dl``."""
    norm = K1 * (1 - B + B * dl / avgdl)
    return [max(1, min(_QUANT, round(_QUANT * n / (n + norm)))) for n in range(_TF_CAP + 1)]


def _grams(term: str) -> list[str]:
    padded = _PAD + term + _PAD
    return [padded[i:i + 3] for i in range(len(padded) - 2)]


def _osa_distance(a: str, b: str, limit: int) -> int:
    """Optimal string alignment distance of ``a`` and ``b``, or ``limit + 1`` once it exceeds ``limit``."""
    la, lb = len(a), len(b)
    if abs(la - lb) > limit:
        return limit + 1
    if la > lb:
        a, b, la, lb = b, a, lb, la
    before: list[int] | None = None
    prev = list(range(lb + 1))
    for i in range(1, la + 1):
        ca = a[i - 1]
        cur = [i] + [0] * lb
        best = i
        for j in range(1, lb + 1):
            cb = b[j - 1]
            v = prev[j - 1] + (ca != cb)
            if prev[j] + 1 < v:
                v = prev[j] + 1
            if cur[j - 1] + 1 < v:
                v = cur[j - 1] + 1
            if before is not None and j > 1 and ca == b[j - 2] and a[i - 2] == cb and before[j - 2] + 1 < v:
                v = before[j - 2] + 1
            cur[j] = v
            if v < best:
                best = v
        if best > limit:
            return limit + 1
        before, prev = prev, cur
    return prev[lb] if prev[lb] <= limit else limit + 1


class _Token:
    """One query token, expanded against one view: postings by descending tier."""

    __slots__ = ("lists", "cost", "idf")

    def __init__(self, lists: list[tuple[tuple[array, bytearray], float]], n_docs: int):
        self.lists = lists
        self.cost = sum(len(p[0]) for p, _ in lists)
        df = max(len(p[0]) for p, _ in lists)  # the most frequent word the token matches
        self.idf = math.log(1.0 + (n_docs - df + 0.5) / (df + 0.5)) * _SCALE


def _token_scores(token: _Token, restrict) -> dict[int, float]:
    """doc id -> idf * tier * weight for the docs ``token`` matches (only those in ``restrict``, a
    set or dict, unless it is None); a doc matching several words of the token scores by the best
    tier (written last). Per-doc work stays in C where it can (``zip``/``map``/``compress``)."""
    out: dict[int, float] = {}
    idf = token.idf
    tables: dict[float, list[float]] = {}
    for (ids, weights), tier in reversed(token.lists):
        weigh = (idf * tier).__mul__
        if len(ids) >= _TABLE_MIN:  # long list: look the products up instead of making a float each
            table = tables.get(tier)
            if table is None:
                table = tables[tier] = list(map(weigh, range(256)))
            weigh = table.__getitem__
        if restrict is None:
            out.update(zip(ids, map(weigh, weights)))
        elif len(restrict) * 16 < len(ids):  # few candidates: find each in the ascending ids
            bisect_left, n = bisect.bisect_left, len(ids)
            for doc_id in restrict:
                i = bisect_left(ids, doc_id)
                if i < n and ids[i] == doc_id:
                    out[doc_id] = weigh(weights[i])
        else:
            mask = list(map(restrict.__contains__, ids))
            out.update(zip(compress(ids, mask), map(weigh, compress(weights, mask))))
    return out


# --------------------------------------------------------------------------- the index


class ActivityIndex:
    """In-memory activity search index; see the module docstring for semantics and costs."""

    def __init__(self, docs: Iterable[SearchDoc] = ()):
        self._lock = threading.RLock()
        self._next_id = 0
        self._ids: dict[tuple[str, str], int] = {}
        self._recs: dict[int, SearchDoc] = {}
        self._views: dict[str, _View] = {}
        self._primary: dict[str, set[int]] = {}
        self._lacking: dict[tuple[str, str], set[int]] = {}  # (locale, primary) -> docs without locale
        self._by_competency: dict[str, set[int]] = {}
        self._by_kind: dict[str, set[int]] = {}
        self._by_effort: dict[str, set[int]] = {}
        self._by_situation: dict[str, set[int]] = {}
        self._by_source: dict[str, set[int]] = {}
        self._archived: set[int] = set()
        self._active: set[int] = set()
        self._order_keys: list[tuple[str, str]] = []
        self._order_ids: list[int] = []
        self._dl_sum = 0.0
        self._dl_count = 0
        # vocabulary
        self._vocab: dict[str, int] = {}  # term -> number of views holding it
        self._terms: list[str] = []  # sorted live terms
        self._grams: dict[int, dict[str, list[str]]] = {}  # term length -> trigram -> terms
        self._gram_terms = 0
        self._gram_stale = 0
        self._chars: Counter[str] = Counter()
        self._alphabet = ""
        self._born: list[str] = []
        self._died: list[str] = []
        self._expansions: dict[tuple[str, bool], tuple[tuple[str, float], ...]] = {}
        #: recent answers (a page of hits and the total) by their exact question; emptied by every change
        self._answers: OrderedDict[tuple, SearchResult] = OrderedDict()
        self._deferred_from: int | None = None
        self._deferred_dl: dict[str, array] = {}
        docs = list(docs)
        if docs:
            self._apply(_prepare_all(docs), [])

    # ------------------------------------------------------------------ updates

    def add(self, doc: SearchDoc) -> None:
        """Add ``doc``, replacing the doc with the same key if there is one."""
        prepared = _Prepared(doc, {})
        with self._lock:
            old = self._ids.get(prepared.rec.key)
            self._apply([prepared], [old] if old is not None else [])

    def remove(self, key: tuple[str, str]) -> None:
        """Remove the doc with ``key``; nothing happens when there is none."""
        with self._lock:
            doc_id = self._ids.get(tuple(key))
            if doc_id is not None:
                self._apply([], [doc_id])

    def replace_source(self, source_id: str, docs: Iterable[SearchDoc]) -> None:
        """Make the index hold exactly ``docs`` for ``source_id`` (their keys must name that source).

        ``docs`` given as a list or tuple is tokenised outside the lock. Any other iterable (a
        generator reading a database) is *streamed*: the lock is held while it is read, unchanged
        docs are recognised by their fingerprint, and changed ones are indexed in batches as they
        come, so no list of every doc (nor of every tokenised doc) is ever held — the index built
        is the same as from a list."""
        if not isinstance(docs, (list, tuple)):
            self._replace_streamed(source_id, docs)
            return
        fresh: dict[tuple[str, str], SearchDoc] = {}
        for doc in docs:
            if not isinstance(doc, SearchDoc):
                raise TypeError(f"expected a SearchDoc, got {type(doc).__name__}")
            if doc.key[0] != source_id:
                raise ValueError(f"doc {doc.key!r} does not belong to source {source_id!r}")
            fresh[doc.key] = doc
        with self._lock:
            seen = {self._recs[d].key: self._recs[d] for d in self._by_source.get(source_id, ())}
        changed = [doc for key, doc in fresh.items() if not _same(seen.get(key), doc)]
        prepared = _prepare_all(changed)  # tokenising happens outside the lock
        with self._lock:
            current = {self._recs[d].key: d for d in self._by_source.get(source_id, ())}
            gone = [d for key, d in current.items() if key not in fresh]
            todo = prepared
            redo = {p.rec.key for p in prepared}
            for key, doc in fresh.items():
                d = current.get(key)
                if key in redo:
                    if d is not None:
                        gone.append(d)
                elif d is None or self._recs[d] is not seen.get(key):  # changed in between
                    if d is not None:
                        gone.append(d)
                    todo.append(_Prepared(doc, {}))
            self._apply(todo, gone)

    def _replace_streamed(self, source_id: str, docs: Iterable[SearchDoc]) -> None:
        with self._lock:
            seen = {self._recs[d].key: self._recs[d] for d in self._by_source.get(source_id, ())}
            fresh: set[tuple[str, str]] = set()
            changed: dict[tuple[str, str], _Prepared] = {}
            try:
                if self._stream(source_id, docs, seen, fresh, changed):
                    return
            finally:
                if self._deferred_from is not None:  # also after a failed read: consistent, if partial
                    self._finish_deferred()
            gone = [d for d in self._by_source.get(source_id, ()) if self._recs[d].key not in fresh]
            self._apply_changed(list(changed.values()), deferred=False, gone=gone)

    def _stream(self, source_id: str, docs: Iterable[SearchDoc], seen: dict, fresh: set, changed: dict) -> bool:
        """Read ``docs`` for :meth:`_replace_streamed`: True when it indexed them in batches (and
        took out the source's docs that were not read), False when ``changed`` is left to apply."""
        strings: dict[str, str] = {}
        deferred = False
        for doc in docs:
            if not isinstance(doc, SearchDoc):
                raise TypeError(f"expected a SearchDoc, got {type(doc).__name__}")
            if doc.key[0] != source_id:
                raise ValueError(f"doc {doc.key!r} does not belong to source {source_id!r}")
            key = doc.key
            if key in fresh and key not in changed and key in self._ids and self._recs[self._ids[key]] is not seen.get(key):
                seen[key] = None  # a repeated key whose first doc is indexed already: the last one wins
            fresh.add(key)
            if _same(seen.get(key), doc):
                changed.pop(key, None)
                continue
            changed[key] = _Prepared(doc, strings)
            if len(changed) >= _STREAM_BATCH:  # many changes (a first build): index them as they come
                if not deferred:
                    deferred = True
                    self._begin_deferred()
                self._apply_changed(list(changed.values()), deferred=True)
                changed.clear()
                strings = {}
        if deferred:
            self._apply_changed(list(changed.values()), deferred=True)
            self._apply([], [d for d in self._by_source.get(source_id, ()) if self._recs[d].key not in fresh])
        return deferred

    def _apply_changed(self, adds: list[_Prepared], deferred: bool, gone: list[int] | None = None) -> None:
        removes = list(gone or ())
        removes.extend(self._ids[p.rec.key] for p in adds if p.rec.key in self._ids)
        if deferred:
            self._apply(adds, removes, deferred=True)
        else:
            self._apply(adds, removes)

    def _begin_deferred(self) -> None:
        """From here on, postings of new docs hold their term frequency; :meth:`_finish_deferred`
        turns them into weights with the average document length of the whole change."""
        self._deferred_from = self._next_id
        self._deferred_dl: dict[str, array] = {}

    def _finish_deferred(self) -> None:
        self._answers.clear()
        base = self._deferred_from
        avgdl = self._dl_sum / self._dl_count if self._dl_count else 1.0
        tables: dict[int, list[int]] = {}
        for loc, dls in self._deferred_dl.items():
            for ids, weights in self._views[loc].post.values():
                for i in range(bisect.bisect_left(ids, base), len(ids)):
                    dl = dls[ids[i] - base]
                    table = tables.get(dl)
                    if table is None:
                        table = tables[dl] = _weight_table(dl, avgdl)
                    weights[i] = table[weights[i]]
        self._deferred_from = None
        self._deferred_dl = {}

    def forget_answers(self) -> None:
        """Drop the kept answers (benchmarks measure the search itself this way)."""
        with self._lock:
            self._answers.clear()

    def __len__(self) -> int:
        return len(self._recs)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, tuple) and key in self._ids

    def stats(self) -> dict[str, Any]:
        """Sizes, for logs and monitoring."""
        with self._lock:
            return {
                "docs": len(self._recs),
                "archived": len(self._archived),
                "locales": sorted(self._views),
                "terms": len(self._vocab),
                "postings": {loc: sum(len(p[0]) for p in v.post.values()) for loc, v in self._views.items()},
                "trigram_terms": self._gram_terms,
                "trigram_stale": self._gram_stale,
            }

    # ------------------------------------------------------------------ applying changes (locked)

    def _apply(self, adds: list[_Prepared], removes: list[int], deferred: bool = False) -> None:
        self._answers.clear()
        bulk = len(adds) + len(removes) > 64
        if removes:
            gone = set(removes)
            purge: dict[str, set[int]] = {}
            for doc_id in gone:
                self._unindex(doc_id, bulk, purge)
            self._purge(purge)
            if bulk:
                pairs = [(k, d) for k, d in zip(self._order_keys, self._order_ids) if d not in gone]
                self._order_keys = [k for k, _ in pairs]
                self._order_ids = [d for _, d in pairs]
        if adds:
            self._index(adds, bulk, deferred)
        self._commit_vocabulary()

    def _index(self, adds: list[_Prepared], bulk: bool, deferred: bool = False) -> None:
        for p in adds:
            for loc in p.fields:
                if loc not in self._views:
                    self._new_view(loc)
            for dl, _, _ in p.fields.values():
                self._dl_sum += dl
                self._dl_count += 1
        avgdl = self._dl_sum / self._dl_count if self._dl_count else 1.0
        weight_tables: dict[int, list[int]] = {}  # doc length -> weight by term frequency
        new_pairs = []
        for p in adds:
            doc = p.rec
            doc_id = self._next_id
            self._next_id += 1
            self._ids[doc.key] = doc_id
            self._recs[doc_id] = doc
            for values, facet in ((doc.competencies, self._by_competency), ((doc.kind,), self._by_kind),
                                  ((doc.effort,), self._by_effort), (doc.situations, self._by_situation),
                                  ((doc.key[0],), self._by_source)):
                for value in values:
                    bucket = facet.get(value)
                    if bucket is None:
                        facet[value] = bucket = set()
                    bucket.add(doc_id)
            (self._archived if doc.archived else self._active).add(doc_id)
            if bulk:
                new_pairs.append((doc.key, doc_id))
            else:
                i = bisect.bisect_left(self._order_keys, doc.key)
                self._order_keys.insert(i, doc.key)
                self._order_ids.insert(i, doc_id)
            if p.primary is None:
                continue
            self._primary.setdefault(p.primary, set()).add(doc_id)
            for loc in self._views:
                if loc not in p.fields:
                    self._lacking.setdefault((loc, p.primary), set()).add(doc_id)
            vocab = self._vocab
            for loc, (dl, terms, tfs) in p.fields.items():
                view = self._views[loc]
                view.docs += 1
                post = view.post
                if deferred:  # the term frequency for now (see _finish_deferred)
                    table = _IDENTITY
                    dls = self._deferred_dl.get(loc)
                    if dls is None:
                        dls = self._deferred_dl[loc] = array("I")
                    index = doc_id - self._deferred_from
                    if len(dls) <= index:
                        dls.extend(array("I", [0]) * (index + 1 - len(dls)))
                    dls[index] = dl
                else:
                    table = weight_tables.get(dl)
                    if table is None:
                        table = weight_tables[dl] = _weight_table(dl, avgdl)
                for term, n in zip(terms, tfs):
                    postings = post.get(term)
                    if postings is None:  # doc ids only grow: appending keeps every list ascending
                        post[term] = (array("I", (doc_id,)), bytearray((table[n],)))
                        count = vocab.get(term, 0)
                        vocab[term] = count + 1
                        if not count:
                            self._born.append(term)
                    else:
                        postings[0].append(doc_id)
                        postings[1].append(table[n])
        if new_pairs:
            pairs = list(zip(self._order_keys, self._order_ids))
            pairs.extend(new_pairs)
            pairs.sort()
            self._order_keys = [k for k, _ in pairs]
            self._order_ids = [d for _, d in pairs]

    def _new_view(self, locale: str) -> None:
        self._views[locale] = _View(locale)
        for primary, members in self._primary.items():  # nobody indexed so far has text in it
            if members:
                self._lacking[(locale, primary)] = set(members)

    def _unindex(self, doc_id: int, keep_order: bool, purge: dict[str, set[int]]) -> None:
        doc = self._recs.pop(doc_id)
        del self._ids[doc.key]
        for values, facet in ((doc.competencies, self._by_competency), ((doc.kind,), self._by_kind),
                              ((doc.effort,), self._by_effort), (doc.situations, self._by_situation),
                              ((doc.key[0],), self._by_source)):
            for value in values:
                bucket = facet.get(value)
                if bucket is not None:
                    bucket.discard(doc_id)
                    if not bucket:
                        del facet[value]
        self._archived.discard(doc_id)
        self._active.discard(doc_id)
        if not keep_order:
            i = bisect.bisect_left(self._order_keys, doc.key)
            if i < len(self._order_keys) and self._order_ids[i] == doc_id:
                del self._order_keys[i]
                del self._order_ids[i]
        if doc.primary is None:
            return
        self._primary[doc.primary].discard(doc_id)
        for loc in self._views:
            lacking = self._lacking.get((loc, doc.primary))
            if lacking is not None:
                lacking.discard(doc_id)
        for loc, dl in zip(doc.locales, doc.dls):
            self._dl_sum -= dl
            self._dl_count -= 1
            self._views[loc].docs -= 1
            purge.setdefault(loc, set()).add(doc_id)

    def _purge(self, purge: dict[str, set[int]]) -> None:
        """Take the postings of removed docs out of their views. The index keeps no list of a doc's
        terms (that would cost more than the postings), so each view is scanned once per change:
        milliseconds, and only when activities are edited or removed."""
        vocab = self._vocab
        for loc, gone in purge.items():
            post = self._views[loc].post
            emptied = []
            ordered = sorted(gone, reverse=True)
            for term, (ids, weights) in post.items():
                if len(ordered) * 8 < len(ids):  # a few docs: find each in the ascending ids
                    for doc_id in ordered:
                        i = bisect.bisect_left(ids, doc_id)
                        if i < len(ids) and ids[i] == doc_id:
                            del ids[i]
                            del weights[i]
                else:
                    mask = list(map(gone.__contains__, ids))
                    if not any(mask):
                        continue
                    keep = [not m for m in mask]
                    ids[:] = array("I", compress(ids, keep))
                    weights[:] = bytearray(compress(weights, keep))
                if not ids:
                    emptied.append(term)
            for term in emptied:
                del post[term]
                count = vocab[term] - 1
                if count:
                    vocab[term] = count
                else:
                    del vocab[term]
                    self._died.append(term)

    def _commit_vocabulary(self) -> None:
        vocab = self._vocab
        born = [t for t in set(self._born) if t in vocab]
        died = [t for t in set(self._died) if t not in vocab]
        self._born.clear()
        self._died.clear()
        if not born and not died:
            return
        terms = self._terms
        if len(born) + len(died) > 64:
            present = set(terms)
            born = [t for t in born if t not in present]
            died = [t for t in died if t in present]
            if died:
                dead = set(died)
                terms = [t for t in terms if t not in dead]
            if born:
                terms.extend(born)
                terms.sort()
            self._terms = terms
        else:
            really_died = []
            for t in died:
                i = bisect.bisect_left(terms, t)
                if i < len(terms) and terms[i] == t:
                    del terms[i]
                    really_died.append(t)
            really_born = []
            for t in born:
                i = bisect.bisect_left(terms, t)
                if i == len(terms) or terms[i] != t:
                    terms.insert(i, t)
                    really_born.append(t)
            born, died = really_born, really_died
        fuzzy_min = FUZZY2_MIN_LEN - 2
        for t in born:
            self._chars.update(set(t))
            if len(t) >= fuzzy_min:
                bucket = self._grams.setdefault(len(t), {})
                for g in _grams(t):
                    lst = bucket.get(g)
                    if lst is None:
                        bucket[g] = [t]
                    else:
                        lst.append(t)
                self._gram_terms += 1
        for t in died:
            self._chars.subtract(set(t))
            if len(t) >= fuzzy_min:
                self._gram_stale += 1
        if self._gram_stale > 1000 and self._gram_stale * 2 > self._gram_terms:
            self._rebuild_grams()
        self._alphabet = "".join(sorted(c for c, n in self._chars.items() if n > 0))
        self._expansions.clear()

    def _rebuild_grams(self) -> None:
        self._grams = {}
        self._gram_terms = self._gram_stale = 0
        self._chars = +self._chars
        fuzzy_min = FUZZY2_MIN_LEN - 2
        for t in self._terms:
            if len(t) >= fuzzy_min:
                bucket = self._grams.setdefault(len(t), {})
                for g in _grams(t):
                    bucket.setdefault(g, []).append(t)
                self._gram_terms += 1

    # ------------------------------------------------------------------ query-token expansion

    def _expand(self, token: str, last: bool) -> tuple[tuple[str, float], ...]:
        """Vocabulary terms ``token`` matches, with their tier, best tier first (cached)."""
        cache_key = (token, last)
        found = self._expansions.get(cache_key)
        if found is not None:
            return found
        vocab = self._vocab
        out: dict[str, float] = {}
        if token in vocab:
            out[token] = TIER_EXACT
        n = len(token)
        if last and n >= PREFIX_MIN_LEN:
            terms = self._terms
            lo = bisect.bisect_left(terms, token)
            hi = bisect.bisect_left(terms, token + "\U0010ffff", lo)
            span = TIER_PREFIX_MAX - TIER_PREFIX_MIN
            for term in terms[lo:hi]:
                if term != token:
                    out[term] = TIER_PREFIX_MIN + span * n / len(term)
        if FUZZY1_MIN_LEN <= n <= MAX_FUZZY_TOKEN_LEN:
            if n >= FUZZY2_MIN_LEN:
                for term, distance in self._within_two(token):
                    if term not in out:
                        out[term] = TIER_FUZZY1 if distance == 1 else TIER_FUZZY2
            else:
                for term in self._within_one(token):
                    if term not in out:
                        out[term] = TIER_FUZZY1
        found = tuple(sorted(out.items(), key=lambda item: (-item[1], item[0])))
        if len(self._expansions) >= _EXPANSION_CACHE_SIZE:
            self._expansions.clear()
        self._expansions[cache_key] = found
        return found

    def _within_one(self, token: str) -> set[str]:
        """Vocabulary terms at OSA distance exactly 1 (all single edits, looked up)."""
        vocab = self._vocab
        alphabet = self._alphabet
        splits = [(token[:i], token[i:]) for i in range(len(token) + 1)]
        found = {a + b[1:] for a, b in splits if b and a + b[1:] in vocab}
        found.update(a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1 and a + b[1] + b[0] + b[2:] in vocab)
        for a, b in splits:
            rest = b[1:]
            for c in alphabet:
                if b:
                    s = a + c + rest
                    if s in vocab:
                        found.add(s)
                s = a + c + b
                if s in vocab:
                    found.add(s)
        found.discard(token)
        return found

    def _within_two(self, token: str) -> list[tuple[str, int]]:
        """Vocabulary terms within OSA distance 2: trigram candidates, verified."""
        n = len(token)
        grams = set(_grams(token))
        vocab = self._vocab
        out = []
        for length in range(max(FUZZY2_MIN_LEN - 2, n - 2), n + 3):
            bucket = self._grams.get(length)
            if not bucket:
                continue
            counts: Counter[str] = Counter()
            for g in grams:
                lst = bucket.get(g)
                if lst:
                    counts.update(lst)
            need = max(n, length) + 2 - 8
            for term, shared in counts.items():
                if shared >= need and term != token and term in vocab:
                    distance = _osa_distance(token, term, 2)
                    if distance <= 2:
                        out.append((term, distance))
        return out

    # ------------------------------------------------------------------ search

    def search(self, text: str = "", *, locale: str = "sv", competencies=(), kinds=(), efforts=(), situations=(),
               sources=(), include_archived: bool = False, limit: int = 50, offset: int = 0) -> SearchResult:
        """Ranked, paged matches; see the module docstring for the rules."""
        limit, offset = int(limit), int(offset)
        if limit < 0 or offset < 0:
            raise ValueError("limit and offset must not be negative")
        wanted_competencies = _as_tuple(competencies)
        question = (text or "", locale, wanted_competencies, _as_tuple(kinds), _as_tuple(efforts), _as_tuple(situations),
                    _as_tuple(sources), bool(include_archived), limit, offset)
        with self._lock:
            known = self._answers.get(question)
            if known is not None:
                self._answers.move_to_end(question)
                return SearchResult(list(known.hits), known.total)
            result = self._search(question)
            if _ANSWERS and len(result.hits) <= _ANSWER_MAX_HITS:
                self._answers[question] = result
                if len(self._answers) > _ANSWERS:
                    self._answers.popitem(last=False)
            return SearchResult(list(result.hits), result.total)

    def _search(self, question: tuple) -> SearchResult:
        text, locale, wanted_competencies, kinds, efforts, situations, sources, include_archived, limit, offset = question
        tokens = _query_tokens(text)
        base, left_out = self._filtered(wanted_competencies, kinds, efforts, situations, sources)
        drop: set[int] | None = None  # docs best taken out at the end: archived ones, a few left out by a filter
        if not include_archived and self._archived:
            left_out.append(self._archived)
        if left_out:
            drop = left_out[0] if len(left_out) == 1 else set().union(*left_out)
            if base is not None:
                base, drop = base - drop, None
        if base is not None and not base:
            return SearchResult([], 0)
        scores: dict[int, float] | None = None
        if tokens:
            scores = self._text_scores(tokens, locale, base)
            if drop and scores:
                if len(drop) * 4 < len(scores):
                    for d in drop:
                        scores.pop(d, None)
                else:
                    scores = {d: s for d, s in scores.items() if d not in drop}
            candidates: set[int] | dict[int, float] | Any = scores
        elif base is not None:
            candidates = base
        elif not drop:
            candidates = self._recs.keys()
        elif drop is self._archived:
            candidates = self._active
        else:
            candidates = self._recs.keys() - drop
        total = len(candidates)
        if not total:
            return SearchResult([], 0)
        matches = self._competency_matches(wanted_competencies, candidates)
        page = self._page(candidates, scores, matches, offset, offset + limit)
        hits = []
        for doc_id in page:
            cm = matches if isinstance(matches, int) else matches[doc_id]
            ts = scores[doc_id] if scores is not None else 0.0
            hits.append(Hit(self._recs[doc_id].key, cm + ts / (1.0 + ts), cm, ts))
        return SearchResult(hits, total)

    def _filtered(self, competencies, kinds, efforts, situations, sources) -> tuple[set[int] | None, list[set[int]]]:
        """Docs passing the filters (None for "every doc"), and sets of docs to leave out at the end.
        Read only: may be the index's own sets.

        Every doc has exactly one kind, effort and source. A filter naming every value of such a
        facet keeps every doc, so it is no filter; one naming all but a few docs' values (the API
        names every available source, and a framework without a licence has a few hundred
        activities) leaves those few out at the end instead of restricting the text scores to a
        set of almost every doc."""
        groups: list[set[int]] = []
        left_out: list[set[int]] = []
        for values, facet, one_each in ((competencies, self._by_competency, False), (kinds, self._by_kind, True),
                                        (efforts, self._by_effort, True), (situations, self._by_situation, False),
                                        (sources, self._by_source, True)):
            if not values:
                continue
            if one_each:
                wanted = set(values)
                others = [members for value, members in facet.items() if value not in wanted]
                if sum(map(len, others)) * 4 < len(self._recs):
                    left_out.extend(others)
                    continue
            sets = [facet[v] for v in values if v in facet]
            if not sets:
                return set(), []
            groups.append(sets[0] if len(sets) == 1 else set().union(*sets))
        if not groups:
            return None, left_out
        groups.sort(key=len)
        if len(groups) == 1:
            return groups[0], left_out
        return groups[0].intersection(*groups[1:]), left_out

    def _parts(self, locale: str) -> list[tuple[_View, set[int] | None]]:
        """Which view answers for which docs when reading in ``locale``."""
        loc = _canon_locale(locale)
        if loc not in self._views:
            loc = loc.split("_")[0]
        parts: list[tuple[_View, set[int] | None]] = []
        if loc in self._views:
            parts.append((self._views[loc], None))
            for other, view in self._views.items():
                lacking = self._lacking.get((loc, other))
                if other != loc and lacking:
                    parts.append((view, lacking))
        else:  # nobody has text in this locale: everyone's fallback text
            for other, view in self._views.items():
                members = self._primary.get(other)
                if members:
                    parts.append((view, members))
        return parts

    def _text_scores(self, tokens: list[tuple[str, bool]], locale: str, base: set[int] | None) -> dict[int, float]:
        expansions = [self._expand(token, last) for token, last in tokens]
        if not all(expansions):
            return {}
        scores: dict[int, float] = {}
        for view, restrict in self._parts(locale):
            allowed = base
            if restrict is not None:
                allowed = restrict if base is None else (base & restrict)
                if not allowed:
                    continue
            found = self._match_view(view, expansions, allowed)
            if len(found) > len(scores):
                found, scores = scores, found
            scores.update(found)  # parts are disjoint
        return scores

    @staticmethod
    def _match_view(view: _View, expansions, allowed: set[int] | None) -> dict[int, float]:
        post = view.post
        tokens = []
        for expansion in expansions:
            lists = []
            for term, tier in expansion:
                postings = post.get(term)
                if postings:
                    lists.append((postings, tier))
            if not lists:
                return {}
            tokens.append(_Token(lists, view.docs))
        tokens.sort(key=lambda t: t.cost)
        # every token must match: the cheapest goes first, and each next one is read only for the
        # docs still in the running; a token's score of a doc is idf * tier * weight of the
        # best-tier word it has, and a doc's score the sum over the tokens in this order
        per_token: list[dict[int, float]] = []
        restrict: set[int] | dict[int, float] | None = allowed
        for token in tokens:
            found = _token_scores(token, restrict)
            if not found:
                return {}
            per_token.append(found)
            restrict = found
        scores = per_token[-1]
        if len(per_token) == 1:
            return scores
        scores = dict(zip(scores, map(per_token[0].__getitem__, scores)))
        for found in per_token[1:]:
            scores = dict(zip(scores, map(operator.add, scores.values(), map(found.__getitem__, scores))))
        return scores

    def _competency_matches(self, competencies: tuple[str, ...], candidates) -> int | dict[int, int]:
        if len(competencies) <= 1:
            return len(competencies)  # the filter guarantees the one competency (or there is none)
        counts = dict.fromkeys(candidates, 0)
        for competency in competencies:
            members = self._by_competency.get(competency)
            if members:
                for d in members.intersection(candidates):
                    counts[d] += 1
        return counts

    def _page(self, candidates, scores, matches, start: int, stop: int) -> list[int]:
        if stop <= start:
            return []
        if scores is None:
            if isinstance(matches, int):
                return self._in_key_order(candidates, stop)[start:]
            buckets: dict[int, list[int]] = defaultdict(list)
            for d, m in matches.items():
                buckets[m].append(d)
            page: list[int] = []
            for m in sorted(buckets, reverse=True):
                page.extend(self._in_key_order(set(buckets[m]), stop - len(page)))
                if len(page) >= stop:
                    break
            return page[start:stop]
        if isinstance(matches, int):
            values = scores
        else:
            step = max(scores.values()) + 1.0
            values = {d: matches[d] * step + s for d, s in scores.items()}
        recs = self._recs

        def order(d: int):
            return -values[d], recs[d].key

        if len(values) <= max(stop, 256):
            return sorted(values, key=order)[start:stop]
        best = heapq.nlargest(stop, values.values())
        threshold = best[-1]
        n_above = stop - best.count(threshold)  # docs scoring more than the stop-th best
        above: list[int] = []
        if n_above:
            above = list(compress(values, map(threshold.__lt__, values.values())))
            above.sort(key=order)
        return (above + self._tied(values, threshold, stop - n_above))[start:stop]

    def _tied(self, values: dict[int, float], threshold: float, count: int) -> list[int]:
        """The first ``count`` docs in key order whose value is ``threshold``. A broad query ties
        thousands of docs at the page's last score: walking the key order until ``count`` of them
        turn up reads a few chunks, where collecting every tied doc reads all of ``values``. Few
        ties may need most of the key order, so the walk stops after as many ids as ``values``
        holds and the ties are collected instead."""
        found: list[int] = []
        ids = iter(self._order_ids)
        walked, budget = 0, len(values)
        is_tied = float(threshold).__eq__  # a float: NaN (no score) is never equal
        while walked < budget:
            chunk = list(islice(ids, _WALK_CHUNK))
            if not chunk:
                return found  # every doc in key order was read
            found.extend(compress(chunk, map(is_tied, map(values.get, chunk, repeat(_NAN)))))
            if len(found) >= count:
                return found[:count]
            walked += len(chunk)
        ties = set(compress(values, map(is_tied, values.values())))
        return self._in_key_order(ties, count)

    def _in_key_order(self, members, count: int) -> list[int]:
        """The first ``count`` of ``members`` (doc ids) in key order."""
        if count <= 0:
            return []
        if len(members) <= _SMALL_SORT:
            recs = self._recs
            return sorted(members, key=lambda d: recs[d].key)[:count]
        return list(islice(filter(members.__contains__, self._order_ids), count))


def _same(old: _Rec | None, new: SearchDoc) -> bool:
    return old is not None and old.fp == _fingerprint(new)


def _prepare_all(docs: list[SearchDoc]) -> list[_Prepared]:
    prepared: dict[tuple[str, str], _Prepared] = {}
    strings: dict[str, str] = {}
    for doc in docs:
        p = _Prepared(doc, strings)
        prepared[p.rec.key] = p  # the last doc with a key wins, like repeated add()
    return list(prepared.values())


def _query_tokens(text: str) -> list[tuple[str, bool]]:
    """Distinct query tokens with "is the last one" (the prefix-matching token), at most MAX_QUERY_TOKENS."""
    tokens = tokenize(text)[:MAX_QUERY_TOKENS]
    if not tokens:
        return []
    last = tokens[-1]
    return [(t, t == last) for t in dict.fromkeys(tokens)]
