"""Search on PostgreSQL: the in-memory index (what KBP runs on both backends) against PostgreSQL's
own full-text search (``tsvector`` + GIN, ``pg_trgm`` and ``fuzzystrmatch`` for typos), measured
side by side in one run on the same documents and queries.

    .venv/bin/python benchmarks/bench_search_pg.py [--docs 50000] [--queries 300] [--database-url URL]

The documents and queries are ``bench_search.py``'s (Swedish and English workplace text, typos,
missing diacritics, search-as-you-type prefixes, competency filters). Both sides get the same
normalised text (casefolded, diacritics removed, ``core.search.normalize``), so what differs is only
the engine:

* **index**: ``core.search.ActivityIndex`` — exact, prefix (last word) and typo matches (OSA
  distance 1 from 4 letters, 2 from 8), BM25F, competency matches first.
* **PostgreSQL FTS**: one row per (document, language) with a weighted ``tsvector`` (title A,
  description B) under a GIN index and the competencies as a ``text[]`` under a GIN index; a
  vocabulary table (``ts_stat``) with a trigram index expands each query word to the words within
  the same edit distance (``levenshtein``); the last word also matches as a prefix (``:*``); ranked
  by competency matches, then ``ts_rank_cd``, then key; ``count(*) OVER ()`` for the total.

Reported: p50/p95 per engine, the agreement of the two (how many of the index's top 10 FTS also
returns in its top 10, and queries whose totals differ), and the memory the index takes in a worker
(which FTS does not need). The choice and its reasons are in benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_search  # noqa: E402
from core.search import ActivityIndex, normalize, tokenize  # noqa: E402

SETUP = """
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS fuzzystrmatch;
DROP TABLE IF EXISTS bench_fts, bench_words;
CREATE TABLE bench_fts (key text, locale text, archived boolean, competencies text[], title text, description text,
  tsv tsvector GENERATED ALWAYS AS (setweight(to_tsvector('simple', title), 'A') ||
                                    setweight(to_tsvector('simple', description), 'B')) STORED);
"""
INDEXES = """
CREATE INDEX ON bench_fts USING gin (tsv);
CREATE INDEX ON bench_fts USING gin (competencies);
CREATE INDEX ON bench_fts (locale);
CREATE TABLE bench_words AS SELECT word FROM ts_stat('SELECT tsv FROM bench_fts');
CREATE INDEX ON bench_words USING gin (word gin_trgm_ops);
ANALYZE bench_fts; ANALYZE bench_words;
"""


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def rss_mb() -> float:
    return int(next(line for line in open("/proc/self/status") if line.startswith("VmRSS")).split()[1]) / 1024


def load(conn, docs) -> None:
    conn.execute(SETUP)
    rows = []
    for doc in docs:
        texts = dict(doc.texts)
        fallback = texts.get(doc.fallback_locale) or next(iter(texts.values()), ("", ""))
        for locale in ("sv", "en"):
            title, description = texts.get(locale) or fallback
            if not (title.strip() or description.strip()):
                title, description = fallback
            rows.append((f"{doc.key[0]}/{doc.key[1]}", locale, doc.archived, list(doc.competencies),
                         normalize(title), normalize(description)))
    with conn.cursor() as cur:
        with cur.copy("COPY bench_fts (key, locale, archived, competencies, title, description) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    conn.execute(INDEXES)


def fts_search(conn, text: str, locale: str, competencies: tuple, limit: int = 20) -> tuple[list[str], int]:
    tokens = list(dict.fromkeys(tokenize(text)))[:16]
    groups = []
    for n, token in enumerate(tokens):
        last = n == len(tokens) - 1
        alternatives = [f"'{token}'" + (":*" if last and len(token) >= 2 else "")]
        if len(token) >= 4:
            limit_d = 2 if len(token) >= 8 else 1
            similar = conn.execute(
                "SELECT word FROM bench_words WHERE word %% %s AND levenshtein(word, %s) <= %s AND word <> %s",
                (token, token, limit_d, token)).fetchall()
            alternatives += [f"'{w}'" for (w,) in similar if "'" not in w]
        groups.append("(" + " | ".join(alternatives) + ")")
    where, params = ["locale = %s", "NOT archived"], [locale]
    if competencies:
        where.append("competencies && %s")
        params.append(list(competencies))
    rank = "0"
    if groups:
        where.append("tsv @@ to_tsquery('simple', %s)")
        params.append(" & ".join(groups))
        rank = "ts_rank_cd(tsv, to_tsquery('simple', %s))"
    order_params = [" & ".join(groups)] if groups else []
    comp_rank = "cardinality(ARRAY(SELECT unnest(competencies) INTERSECT SELECT unnest(%s::text[])))"
    query = (f"SELECT key, count(*) OVER () FROM bench_fts WHERE {' AND '.join(where)} "
             f"ORDER BY {comp_rank} DESC, {rank} DESC, key LIMIT %s")
    rows = conn.execute(query, [*params, list(competencies), *order_params, limit]).fetchall()
    return [r[0] for r in rows], (rows[0][1] if rows else 0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=50000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", help="a PostgreSQL database (default: a throwaway cluster)")
    args = parser.parse_args()

    import psycopg

    from tests import pgcluster

    url, cluster = pgcluster.given_or_throwaway(args.database_url)
    try:
        docs = bench_search.generate_docs(args.docs, args.seed)
        queries = bench_search.generate_queries(docs, args.queries, args.seed)
        gc.collect()
        rss0 = rss_mb()
        t0 = time.perf_counter()
        index = ActivityIndex(docs)
        build_index = time.perf_counter() - t0
        gc.collect()
        index_mb = rss_mb() - rss0

        with psycopg.connect(url, autocommit=True) as conn:
            t0 = time.perf_counter()
            load(conn, docs)
            build_fts = time.perf_counter() - t0
            size = conn.execute("SELECT pg_size_pretty(pg_total_relation_size('bench_fts') + "
                                "pg_total_relation_size('bench_words'))").fetchone()[0]
            lat_index, lat_fts, overlap, total_diff = [], [], [], 0
            for q in queries:
                t0 = time.perf_counter()
                result = index.search(q["text"], locale=q["locale"], competencies=q["competencies"], limit=20)
                lat_index.append((time.perf_counter() - t0) * 1000)
                t0 = time.perf_counter()
                keys, total = fts_search(conn, q["text"], q["locale"], tuple(q["competencies"] or ()))
                lat_fts.append((time.perf_counter() - t0) * 1000)
                mine = [f"{h.key[0]}/{h.key[1]}" for h in result.hits[:10]]
                if mine:
                    overlap.append(len(set(mine) & set(keys[:10])) / len(mine))
                total_diff += total != result.total

        print(f"{len(docs):,} documents, {len(queries)} queries (typos, no diacritics, prefixes, competency filters)")
        print(f"  {'':34} {'in-memory index':>16} {'PostgreSQL FTS':>16}")
        print(f"  {'build':34} {build_index:>14.1f} s {build_fts:>14.1f} s")
        print(f"  {'query p50 (ms)':34} {pct(lat_index, 50):>16.2f} {pct(lat_fts, 50):>16.2f}")
        print(f"  {'query p95 (ms)':34} {pct(lat_index, 95):>16.2f} {pct(lat_fts, 95):>16.2f}")
        print(f"  {'memory in each worker':34} {index_mb:>13.0f} MB {'0 MB':>16}  (FTS tables: {size} in the database)")
        mean = sum(overlap) / max(1, len(overlap))
        print(f"  agreement: FTS's top 10 holds {mean:.0%} of the index's top 10 on average; "
              f"totals differ in {total_diff} of {len(queries)} queries")
    finally:
        if cluster is not None:
            cluster.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
