"""The VectorStore on PostgreSQL + pgvector: HNSW per collection, BM25 full text, RRF, MMR.

Every collection records the embedder (name and dimension) that filled it and refuses any
other. Vectors live in one table; each collection gets a partial HNSW index on
`embedding::vector(<dim>)`, so collections of different dimensions share the schema.

Hybrid search fuses the vector ranking and the BM25 ranking (see `_fulltext`) by reciprocal
rank, weighted by `hybrid`; a chunk's full-text vote is further scaled by the share of the
question's information (IDF) it matches, so a passage that shares only a common word or two
with the question cannot push a close semantic match out of the top results.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from pgvector.psycopg import register_vector_async
from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from core.errors import InputError, require_match
from core.migrations import migrate
from knowledge.vector import _fulltext
from knowledge.vector.ports import Chunk, DocumentRecord, Hit, SearchOptions

COLLECTION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
RRF_K = 60

MIGRATIONS = [
    """
    CREATE TABLE kb_collections (
        name text PRIMARY KEY,
        embedder text NOT NULL,
        dimension integer NOT NULL CHECK (dimension > 0 AND dimension <= 16000),
        created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE kb_documents (
        id bigserial PRIMARY KEY,
        collection text NOT NULL REFERENCES kb_collections (name) ON DELETE CASCADE,
        source text NOT NULL,
        content_hash text NOT NULL,
        title text,
        doc_type text NOT NULL,
        metadata jsonb NOT NULL DEFAULT '{}',
        ingested_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (collection, source)
    );
    CREATE TABLE kb_chunks (
        id bigserial PRIMARY KEY,
        document_id bigint NOT NULL REFERENCES kb_documents (id) ON DELETE CASCADE,
        collection text NOT NULL,
        ordinal integer NOT NULL,
        content text NOT NULL,
        metadata jsonb NOT NULL DEFAULT '{}',
        embedding vector NOT NULL,
        tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', content)) STORED
    );
    CREATE INDEX kb_chunks_document ON kb_chunks (document_id);
    CREATE INDEX kb_chunks_tsv ON kb_chunks USING gin (tsv);
    CREATE INDEX kb_chunks_metadata ON kb_chunks USING gin (metadata jsonb_path_ops);
    """,
    _fulltext.MIGRATION,
]


def _check_name(name: str) -> str:
    return require_match(
        COLLECTION_NAME, name, what="collection name", code="collection_name_invalid",
        hint="use 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit",
    )  # fmt: skip


def _index_name(collection: str) -> str:
    return "kb_hnsw_" + hashlib.sha1(collection.encode()).hexdigest()[:16]  # noqa: S324 - a name


def _as_array(value: Any) -> np.ndarray:
    """A vector from the driver (pgvector's Vector for an untyped column) as a numpy array."""
    if hasattr(value, "to_numpy"):
        return np.asarray(value.to_numpy(), dtype=np.float32)
    return np.asarray(value, dtype=np.float32)


def _cosine(query: Sequence[float], stored: Any) -> float:
    a = np.asarray(query, dtype=np.float32)
    b = _as_array(stored)
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b) / norm if norm else 0.0


def mmr(
    query: np.ndarray, vectors: np.ndarray, relevance: Sequence[float], k: int, lam: float
) -> list[int]:
    """Maximal marginal relevance: pick k indexes trading relevance against redundancy."""
    if len(vectors) == 0:
        return []
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    rel = np.asarray(relevance, dtype=float)
    rel = (rel - rel.min()) / (rel.max() - rel.min()) if rel.max() > rel.min() else rel * 0 + 1
    chosen: list[int] = []
    remaining = list(range(len(vectors)))
    while remaining and len(chosen) < k:
        if chosen:
            redundancy = (unit[remaining] @ unit[chosen].T).max(axis=1)
        else:
            redundancy = np.zeros(len(remaining))
        scores = lam * rel[remaining] - (1 - lam) * redundancy
        best = remaining[int(np.argmax(scores))]
        chosen.append(best)
        remaining.remove(best)
    return chosen


async def configure_connection(conn: AsyncConnection) -> None:
    """What every connection the store uses needs: the vector type, and autocommit (each
    write that must be atomic opens its own transaction)."""
    await register_vector_async(conn)
    await conn.set_autocommit(True)


class PgVectorStore:
    """`PgVectorStore(url)` owns a pool of its own; `PgVectorStore(pool)` shares the runtime's
    (autocommit connections with the vector type registered, see `configure_connection`).
    Then `await setup()`; `await aclose()` at the end (a shared pool is left open)."""

    def __init__(self, target: str | AsyncConnectionPool[Any], *, max_connections: int = 4) -> None:
        self._owns_pool = isinstance(target, str)
        if isinstance(target, str):
            self.url = target
            self._pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
                target, min_size=1, max_size=max_connections, open=False,
                configure=configure_connection,
            )  # fmt: skip
        else:
            self.url = target.conninfo if isinstance(target.conninfo, str) else ""
            self._pool = target
        self._dimensions: dict[str, tuple[str, int]] = {}

    async def setup(self) -> None:
        if self._owns_pool:
            async with await AsyncConnection.connect(self.url) as conn:
                await conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
                await migrate(conn, "knowledge", MIGRATIONS)
            await self._pool.open(wait=True)
            return
        async with self._pool.connection() as conn:
            await migrate(conn, "knowledge", MIGRATIONS)

    async def aclose(self) -> None:
        if self._owns_pool:
            await self._pool.close()

    async def _collection(self, name: str) -> tuple[str, int]:
        if name not in self._dimensions:
            async with self._pool.connection() as conn:
                row = await (
                    await conn.execute(
                        "SELECT embedder, dimension FROM kb_collections WHERE name = %s", (name,)
                    )
                ).fetchone()
            if row is None:
                raise InputError(
                    f"no collection named {name!r}",
                    hint="ingest something into it first: `daert ingest PATH --collection NAME`",
                    code="collection_not_found",
                )
            self._dimensions[name] = (str(row[0]), int(row[1]))
        return self._dimensions[name]

    async def ensure_collection(self, name: str, embedder: str, dimension: int) -> None:
        """Create the collection for this embedder, or check that it was made with it."""
        _check_name(name)
        async with self._pool.connection() as conn:
            await conn.execute(
                "INSERT INTO kb_collections (name, embedder, dimension) VALUES (%s, %s, %s) "
                "ON CONFLICT (name) DO NOTHING",
                (name, embedder, dimension),
            )
            row = await (
                await conn.execute(
                    "SELECT embedder, dimension FROM kb_collections WHERE name = %s", (name,)
                )
            ).fetchone()
            assert row is not None  # noqa: S101 - inserted or present just above
            if (str(row[0]), int(row[1])) != (embedder, dimension):
                raise InputError(
                    f"collection {name!r} holds vectors of {row[0]} ({row[1]} dimensions); "
                    f"the configured embedder is {embedder} ({dimension} dimensions)",
                    hint="search it with the embedder that filled it, or ingest into another "
                    "collection (--collection)",
                    code="embedder_mismatch",
                )
            await conn.execute(
                sql.SQL(
                    "CREATE INDEX IF NOT EXISTS {} ON kb_chunks USING hnsw "
                    "((embedding::vector({})) vector_cosine_ops) WHERE collection = {}"
                ).format(
                    sql.Identifier(_index_name(name)), sql.Literal(dimension), sql.Literal(name)
                )
            )
        self._dimensions[name] = (embedder, dimension)

    async def document_hash(self, collection: str, source: str) -> str | None:
        async with self._pool.connection() as conn:
            row = await (
                await conn.execute(
                    "SELECT content_hash FROM kb_documents WHERE collection = %s AND source = %s",
                    (collection, source),
                )
            ).fetchone()
        return str(row[0]) if row else None

    async def replace_document(
        self, collection: str, document: DocumentRecord, chunks: Sequence[Chunk]
    ) -> int:
        """Write the document and all its chunks in one transaction: all or nothing."""
        _, dimension = await self._collection(collection)
        for chunk in chunks:
            if len(chunk.embedding) != dimension:
                raise InputError(
                    f"a chunk of {document.source} has {len(chunk.embedding)} dimensions, "
                    f"collection {collection!r} has {dimension}",
                    hint="use the collection's embedder",
                    code="embedder_mismatch",
                )
        async with self._pool.connection() as conn, conn.transaction():
            await self._delete(conn, collection, document.source)
            row = await (
                await conn.execute(
                    "INSERT INTO kb_documents (collection, source, content_hash, title, doc_type, "
                    "metadata) VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                    (
                        collection,
                        document.source,
                        document.content_hash,
                        document.title,
                        document.doc_type,
                        Jsonb(dict(document.metadata)),
                    ),
                )
            ).fetchone()
            assert row is not None  # noqa: S101 - RETURNING always returns the row
            async with conn.cursor() as cur:
                await cur.executemany(
                    "INSERT INTO kb_chunks (document_id, collection, ordinal, content, metadata, "
                    "embedding) VALUES (%s, %s, %s, %s, %s, %s)",
                    [
                        (
                            row[0],
                            collection,
                            c.ordinal,
                            c.content,
                            Jsonb(dict(c.metadata)),
                            np.asarray(c.embedding, dtype=np.float32),
                        )
                        for c in chunks
                    ],
                )
            await _fulltext.count_document(conn, collection, int(row[0]))
        return len(chunks)

    async def delete_document(self, collection: str, source: str) -> bool:
        async with self._pool.connection() as conn, conn.transaction():
            return await self._delete(conn, collection, source)

    @staticmethod
    async def _delete(conn: AsyncConnection, collection: str, source: str) -> bool:
        """Delete a document and its chunks, and take them out of the term statistics."""
        await _fulltext.lock_collection(conn, collection)
        row = await (
            await conn.execute(
                "SELECT id FROM kb_documents WHERE collection = %s AND source = %s",
                (collection, source),
            )
        ).fetchone()
        if row is None:
            return False
        await _fulltext.uncount_document(conn, collection, int(row[0]))
        await conn.execute("DELETE FROM kb_documents WHERE id = %s", (row[0],))
        return True

    async def search(
        self,
        collection: str,
        query: str,
        embedding: Sequence[float],
        options: SearchOptions,
    ) -> list[Hit]:
        _, dimension = await self._collection(collection)
        if len(embedding) != dimension:
            raise InputError(
                f"the query vector has {len(embedding)} dimensions, collection {collection!r} "
                f"has {dimension}",
                hint="search with the embedder that filled the collection",
                code="embedder_mismatch",
            )
        if not 0.0 <= options.hybrid <= 1.0:
            raise InputError("hybrid weight must be within [0, 1]", code="bad_search_option")
        if options.k < 1 or options.k > 1000:
            raise InputError("k must be within [1, 1000]", code="bad_search_option")
        n = max(options.candidates, options.k)
        vec = sql.SQL("c.embedding::vector({})").format(sql.Literal(dimension))
        query_vec = sql.SQL("%(q)s::vector({})").format(sql.Literal(dimension))
        statement = sql.SQL(
            """
            WITH v AS (
                SELECT c.id, row_number() OVER (ORDER BY {vec} <=> {qv}) AS r
                FROM kb_chunks c
                WHERE c.collection = %(col)s AND c.metadata @> %(filters)s AND %(use_v)s
                ORDER BY {vec} <=> {qv} LIMIT %(n)s
            ), {ranking}
            SELECT c.id, d.source, d.title, c.content, c.metadata, c.embedding,
                   v.r AS vr, t.r AS tr,
                   coalesce(%(w)s / ({rrf} + v.r), 0)
                   + coalesce((1 - %(w)s) * CASE WHEN %(use_v)s THEN t.coverage ELSE 1 END
                              / ({rrf} + t.r), 0) AS score
            FROM kb_chunks c
            JOIN kb_documents d ON d.id = c.document_id
            LEFT JOIN v ON v.id = c.id
            LEFT JOIN t ON t.id = c.id
            WHERE c.id IN (SELECT id FROM v UNION SELECT id FROM t)
            ORDER BY score DESC, c.id
            LIMIT %(n)s
            """
        ).format(vec=vec, qv=query_vec, rrf=sql.Literal(float(RRF_K)), ranking=_fulltext.RANKING)
        params: dict[str, Any] = {
            "q": np.asarray(embedding, dtype=np.float32),
            "col": collection,
            "filters": Jsonb(dict(options.filters)),
            "text": query,
            "n": n,
            "w": float(options.hybrid),
            "use_v": options.hybrid > 0,
            "use_t": options.hybrid < 1 and bool(query.strip()),
        }
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
            # A generic plan cannot use the collection's partial HNSW index (its predicate is
            # a parameter there) nor see that a filter matches everything: plan each search.
            await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
            if options.ef_search:
                await conn.execute(
                    sql.SQL("SET LOCAL hnsw.ef_search = {}").format(
                        sql.Literal(int(options.ef_search))
                    )
                )
            cur = conn.cursor(row_factory=dict_row)
            rows = await (await cur.execute(statement, params)).fetchall()
        if options.mmr is not None and rows:
            picked = mmr(
                np.asarray(embedding, dtype=np.float32),
                np.stack([_as_array(r["embedding"]) for r in rows]),
                [float(r["score"]) for r in rows],
                options.k,
                float(options.mmr),
            )
            rows = [rows[i] for i in picked]
        return [
            Hit(
                chunk_id=int(r["id"]),
                source=str(r["source"]),
                title=r["title"],
                content=str(r["content"]),
                metadata=r["metadata"]
                if isinstance(r["metadata"], dict)
                else json.loads(r["metadata"]),
                score=float(r["score"]),
                vector_rank=r["vr"],
                text_rank=r["tr"],
                similarity=_cosine(embedding, r["embedding"]),
            )
            for r in rows[: options.k]
        ]

    async def chunks_after(
        self, collection: str, after: int = 0, limit: int = 100
    ) -> list[tuple[int, str, str]]:
        """(chunk id, source, content) in id order, for jobs that walk a whole collection."""
        async with self._pool.connection() as conn:
            rows = await (
                await conn.execute(
                    "SELECT c.id, d.source, c.content FROM kb_chunks c "
                    "JOIN kb_documents d ON d.id = c.document_id "
                    "WHERE c.collection = %s AND c.id > %s ORDER BY c.id LIMIT %s",
                    (collection, after, limit),
                )
            ).fetchall()
        return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]

    async def stats(self, collection: str) -> dict[str, int]:
        async with self._pool.connection() as conn:
            row = await (
                await conn.execute(
                    "SELECT (SELECT count(*) FROM kb_documents WHERE collection = %s), "
                    "(SELECT count(*) FROM kb_chunks WHERE collection = %s)",
                    (collection, collection),
                )
            ).fetchone()
        return {"documents": int(row[0]), "chunks": int(row[1])} if row else {}
