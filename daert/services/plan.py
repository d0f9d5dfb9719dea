"""Which embedded services this configuration needs, and where every dependency is."""

from __future__ import annotations

from dataclasses import dataclass

from daert.services.base import EmbeddedService
from daert.services.llama import EmbeddedModel
from daert.services.postgres import EmbeddedPostgres
from daert.services.redis import EmbeddedRedis
from daert.services.supervisor import Managed, Supervisor
from daert.settings import Settings

UP_HINT = "run `daert up` (or restart `daert serve`) to start the embedded services"


def embedded_services(settings: Settings) -> list[Managed]:
    """The embedded services this configuration needs, in start order."""
    wanted: list[tuple[EmbeddedService, int]] = []
    if settings.postgres_url is None:
        wanted.append((EmbeddedPostgres(settings.data_dir), settings.postgres_port))
    if settings.redis_url is None:
        wanted.append((EmbeddedRedis(settings.data_dir), settings.redis_port))
    if settings.wants_local_model:
        model = EmbeddedModel(
            settings.data_dir,
            model_path=settings.local_model_path,
            chat_format=settings.local_model_chat_format,
            context=settings.local_model_context,
            adapters=settings.local_adapters,
        )
        wanted.append((model, settings.model_port))
    return [Managed(service, port) for service, port in wanted]


def build_supervisor(settings: Settings) -> Supervisor:
    return Supervisor(
        settings.data_dir, embedded_services(settings), start_timeout=settings.start_timeout
    )


@dataclass(frozen=True)
class Endpoints:
    """Where each dependency is, whether embedded (from the state files) or external."""

    postgres: str | None
    redis: str | None
    falkordb: str | None
    model: str | None


def endpoints(settings: Settings, supervisor: Supervisor) -> Endpoints:
    running = supervisor.status()

    def embedded(name: str) -> str | None:
        record = running.get(name)
        return record.url if record else None

    redis_url = str(settings.redis_url) if settings.redis_url else embedded("redis")
    return Endpoints(
        postgres=str(settings.postgres_url) if settings.postgres_url else embedded("postgres"),
        redis=redis_url,
        falkordb=settings.effective_falkordb_url or redis_url,
        model=str(settings.model_url) if settings.model_url else embedded("model"),
    )
