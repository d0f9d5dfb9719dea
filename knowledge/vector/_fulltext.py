"""The full-text arm of hybrid search: BM25 over PostgreSQL's tsvector, through the GIN index.

A question in natural language rarely has every one of its words in the passage that answers
it, so the query is the OR of its lexemes (stop words dropped by the `english` configuration)
and each matching chunk is scored with Okapi BM25: a term weighs by its inverse document
frequency, its count in the chunk saturates (k1), and long chunks are normalised (b).

Document frequencies are kept exact in `kb_terms` (chunks per lexeme per collection) and
`kb_collections` (chunks and total length per collection), updated in the transaction that
writes or deletes a document, so a query reads a few rows instead of running `ts_stat` over
the collection. A chunk's length is its number of distinct lexemes, `length(tsv)`.

Candidates come from the GIN index (`tsv @@ query`), and every candidate is scored, so their
number bounds the cost. A common term adds little to a score but would pull much of a large
collection in: terms select candidates rarest first, while the chunks holding them stay under
CANDIDATE_POOL (the rarest term always does); every query term still scores the candidates.
When this was written, on 30,000 chunks of Python sources and documents and 20 questions, it
gave the same top 10 as scoring every chunk holding any query term, in about 60% of the time.
"""

from __future__ import annotations

from psycopg import AsyncConnection, sql

K1 = 1.2  # term-frequency saturation
B = 0.75  # length normalisation
CANDIDATE_POOL = 2000  # terms select candidates rarest first, while their chunks stay under this

MIGRATION = """
ALTER TABLE kb_collections
    ADD COLUMN chunks bigint NOT NULL DEFAULT 0,
    ADD COLUMN lexemes bigint NOT NULL DEFAULT 0;
CREATE TABLE kb_terms (
    collection text NOT NULL REFERENCES kb_collections (name) ON DELETE CASCADE,
    lexeme text NOT NULL,
    chunks integer NOT NULL CHECK (chunks > 0),
    PRIMARY KEY (collection, lexeme)
);
INSERT INTO kb_terms (collection, lexeme, chunks)
    SELECT c.collection, t.lexeme, count(*) FROM kb_chunks c, unnest(c.tsv) t GROUP BY 1, 2;
UPDATE kb_collections k SET chunks = s.chunks, lexemes = s.lexemes
    FROM (SELECT collection, count(*) AS chunks, sum(length(tsv)) AS lexemes
          FROM kb_chunks GROUP BY collection) s
    WHERE s.collection = k.name;
"""

# The lexemes of one document's chunks, with the number of its chunks that hold each; and
# the document's chunk count and total length.
_TERMS = sql.SQL(
    "SELECT t.lexeme, count(*) AS n FROM kb_chunks c, unnest(c.tsv) t "
    "WHERE c.document_id = %(doc)s GROUP BY t.lexeme"
)
_SIZE = sql.SQL(
    "SELECT count(*) AS n, coalesce(sum(length(tsv)), 0) AS l FROM kb_chunks "
    "WHERE document_id = %(doc)s"
)
_ADD_TERMS = sql.SQL(
    "INSERT INTO kb_terms (collection, lexeme, chunks) "
    "SELECT %(col)s, d.lexeme, d.n FROM ({terms}) d ORDER BY d.lexeme "
    "ON CONFLICT (collection, lexeme) DO UPDATE SET chunks = kb_terms.chunks + EXCLUDED.chunks"
).format(terms=_TERMS)
_ADD_SIZE = sql.SQL(
    "UPDATE kb_collections SET chunks = chunks + s.n, lexemes = lexemes + s.l "
    "FROM ({size}) s WHERE name = %(col)s"
).format(size=_SIZE)
_DROP_TERMS = sql.SQL(  # the lexemes that only this document held
    "DELETE FROM kb_terms k USING ({terms}) d "
    "WHERE k.collection = %(col)s AND k.lexeme = d.lexeme AND k.chunks <= d.n"
).format(terms=_TERMS)
_SUBTRACT_TERMS = sql.SQL(
    "UPDATE kb_terms k SET chunks = k.chunks - d.n FROM ({terms}) d "
    "WHERE k.collection = %(col)s AND k.lexeme = d.lexeme"
).format(terms=_TERMS)
_SUBTRACT_SIZE = sql.SQL(
    "UPDATE kb_collections SET chunks = greatest(chunks - s.n, 0), "
    "lexemes = greatest(lexemes - s.l, 0) FROM ({size}) s WHERE name = %(col)s"
).format(size=_SIZE)


async def lock_collection(conn: AsyncConnection, collection: str) -> None:
    """Serialise the writers of one collection until the transaction ends: the term counts
    they update overlap, and updating them in different orders could deadlock."""
    await conn.execute("SELECT 1 FROM kb_collections WHERE name = %s FOR UPDATE", (collection,))


async def count_document(conn: AsyncConnection, collection: str, document_id: int) -> None:
    """Add a document just written to its collection's term statistics."""
    params = {"col": collection, "doc": document_id}
    await conn.execute(_ADD_TERMS, params)
    await conn.execute(_ADD_SIZE, params)


async def uncount_document(conn: AsyncConnection, collection: str, document_id: int) -> None:
    """Take a document about to be deleted out of its collection's term statistics."""
    params = {"col": collection, "doc": document_id}
    await conn.execute(_DROP_TERMS, params)
    await conn.execute(_SUBTRACT_TERMS, params)
    await conn.execute(_SUBTRACT_SIZE, params)


# A lexeme quoted for tsquery input: in quotes, with quotes and backslashes doubled.
_QUOTED = (
    "chr(39) || replace(replace(lexeme, chr(92), chr(92) || chr(92)), chr(39), chr(39) || chr(39))"
    " || chr(39)"
)

# CTEs over the parameters %(col)s, %(text)s, %(filters)s, %(n)s and %(use_t)s of the search
# statement: `qt`, the query's lexemes with their IDF (a lexeme no chunk holds gets the IDF of
# one in no chunk), and `t`, the best %(n)s chunks by BM25 with their rank `r` and `coverage`:
# the share of the query's IDF that the chunk matches. `tq` is the OR of the terms that select
# candidates. A chunk's term counts come from its positions; setweight marks the query's
# lexemes and ts_filter keeps only those (stored positions all carry the default weight D), so
# a candidate's few matching lexemes are unnested rather than all of them.
RANKING = sql.SQL(
    """
    k AS (
        SELECT chunks::float8 AS n, lexemes::float8 / greatest(chunks, 1) AS avgdl
        FROM kb_collections WHERE name = %(col)s
    ), qt AS MATERIALIZED (
        SELECT q.lexeme, kt.chunks AS df,
               ln(1 + (k.n - coalesce(kt.chunks, 0) + 0.5) / (coalesce(kt.chunks, 0) + 0.5)) AS idf
        FROM unnest(tsvector_to_array(to_tsvector('english', %(text)s))) AS q (lexeme)
        CROSS JOIN k
        LEFT JOIN kb_terms kt ON kt.collection = %(col)s AND kt.lexeme = q.lexeme
        WHERE %(use_t)s
    ), ql AS (
        SELECT array_agg(lexeme) AS a FROM qt
    ), tq AS (
        SELECT string_agg({quoted}, ' | ')::tsquery AS q
        FROM (
            SELECT lexeme, df, row_number() OVER w AS i, sum(df) OVER w - df AS before
            FROM qt WHERE df IS NOT NULL
            WINDOW w AS (ORDER BY df, lexeme)
        ) s
        WHERE i = 1 OR before < {pool}
    ), t AS (
        SELECT c.id, s.score, s.matched / (SELECT sum(idf) FROM qt) AS coverage,
               row_number() OVER (ORDER BY s.score DESC, c.id) AS r
        FROM kb_chunks c
        CROSS JOIN LATERAL (
            SELECT sum(qt.idf * cardinality(u.positions) * ({k1} + 1)
                       / (cardinality(u.positions)
                          + {k1} * (1 - {b} + {b} * length(c.tsv)::float8 / (SELECT avgdl FROM k))))
                   AS score,
                   sum(qt.idf) AS matched
            FROM unnest(ts_filter(setweight(c.tsv, 'A', (SELECT a FROM ql)), '{{a}}')) u
            JOIN qt ON qt.lexeme = u.lexeme
        ) s
        WHERE c.collection = %(col)s AND c.tsv @@ (SELECT q FROM tq)
          AND c.metadata @> %(filters)s
        ORDER BY s.score DESC, c.id LIMIT %(n)s
    )
    """
).format(
    quoted=sql.SQL(_QUOTED),
    pool=sql.Literal(CANDIDATE_POOL),
    k1=sql.Literal(K1),
    b=sql.Literal(B),
)
