"""What `doctor` and `/readyz` probe: one health target per dependency, with its fix."""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit

from daert.health import Mode, Target
from daert.services.llama import MODEL_ALIAS
from daert.services.plan import UP_HINT, Endpoints
from daert.settings import Settings


def probe_targets(settings: Settings, urls: Endpoints) -> list[Target]:
    """What `doctor` and `/readyz` check, with the hint that fixes each when it is down."""

    def mode(external: object) -> Mode:
        return "external" if external is not None else "embedded"

    def hint(external: object, variable: str) -> str:
        return f"check that the server at {variable} is up and reachable" if external else UP_HINT

    falkor_ext = settings.falkordb_url or settings.redis_url
    graph_in_falkor = settings.graph_backend == "falkordb"
    model_mode: Mode = (
        "external"
        if settings.model_url
        else ("embedded" if settings.wants_local_model else "disabled")
    )
    targets = [
        Target("postgres", "PostgreSQL + pgvector", mode(settings.postgres_url), True,
               urls.postgres, hint(settings.postgres_url, "DAERT_POSTGRES_URL")),
        Target("redis", "Redis (cache, streams, vector sets)", mode(settings.redis_url), True,
               urls.redis, hint(settings.redis_url, "DAERT_REDIS_URL")),
        Target("falkordb", "FalkorDB (knowledge graph)", mode(falkor_ext), graph_in_falkor,
               urls.falkordb, hint(falkor_ext, "DAERT_FALKORDB_URL")),
        Target("model", "Chat model (OpenAI-compatible)", model_mode, model_mode != "disabled",
               urls.model, hint(settings.model_url, "DAERT_MODEL_URL"),
               model=settings.model_name if settings.model_url else MODEL_ALIAS),
    ]  # fmt: skip
    if settings.neo4j_url is not None:
        parts = urlsplit(settings.neo4j_url)
        secret = settings.neo4j_password.get_secret_value() if settings.neo4j_password else ""
        netloc = (
            f"{quote(settings.neo4j_user)}:{quote(secret)}@{parts.hostname}:{parts.port or 7687}"
        )
        targets.append(
            Target("neo4j", "Neo4j (knowledge graph)", "external", not graph_in_falkor,
                   urlunsplit(parts._replace(netloc=netloc)),
                   "check that Neo4j at DAERT_NEO4J_URL is up and the password is right")
        )  # fmt: skip
    return targets
