"""A static check that a Cypher query only reads, applied before any store sees it.

The stores also run queries through their read-only paths (GRAPH.RO_QUERY, Neo4j READ
transactions); this check is the first wall and gives a clear error code.
"""

from __future__ import annotations

import re

from core.errors import InputError

_WRITE_WORDS = {
    "CREATE", "MERGE", "DELETE", "DETACH", "SET", "REMOVE", "DROP", "FOREACH", "LOAD",
    "ALTER", "GRANT", "REVOKE", "DENY", "TERMINATE", "USE",
}  # fmt: skip
_ALLOWED_PROCEDURES = {
    "db.labels", "db.relationshiptypes", "db.propertykeys", "db.schema.visualization",
    "db.indexes",
}  # fmt: skip
_STRINGS = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|`[^`]*`")
_COMMENTS = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
_CALL = re.compile(r"\bCALL\s+([A-Za-z_][\w.]*)?\s*(\{)?", re.I)
MAX_QUERY_CHARS = 4000


def check_read_only(cypher: str) -> str:
    """Return the query if it only reads; InputError `cypher_write_refused` otherwise."""
    if len(cypher) > MAX_QUERY_CHARS:
        raise InputError(
            f"Cypher query is longer than {MAX_QUERY_CHARS} characters",
            hint="ask a narrower query; pass values with --params instead of inlining them",
            code="cypher_too_long",
        )
    bare = _STRINGS.sub("''", _COMMENTS.sub(" ", cypher))
    words = set(re.findall(r"[A-Za-z_]+", bare.upper()))
    found = sorted(words & _WRITE_WORDS)
    if found:
        raise InputError(
            f"only read queries are allowed; this one uses {', '.join(found)}",
            hint="use MATCH ... RETURN; the knowledge graph is changed only by `daert kg extract`",
            code="cypher_write_refused",
        )
    for call in _CALL.finditer(bare):
        name = (call.group(1) or "").lower()
        if call.group(2) or name not in _ALLOWED_PROCEDURES:
            raise InputError(
                f"procedure calls are not allowed here ({call.group(0).strip()})",
                hint="allowed: " + ", ".join(sorted(_ALLOWED_PROCEDURES)),
                code="cypher_write_refused",
            )
    if ";" in bare.strip().rstrip(";"):
        raise InputError(
            "one statement at a time",
            hint="send the statements one by one, without ';' between them",
            code="cypher_write_refused",
        )
    return cypher.strip().rstrip(";")
