"""Typed settings: `DAERT_*` environment variables over an optional `daert.toml`, over defaults.

Precedence, highest first: explicit overrides (CLI flags), environment, the config file, defaults.
The config file is `$DAERT_CONFIG` when set, else `./daert.toml` when it exists. A service URL
left unset means "start the embedded one"; a URL given means "use it, start nothing".
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    HttpUrl,
    PostgresDsn,
    RedisDsn,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from core.deployments import ADAPTER_PREFIX, LOCAL_MODEL, DeploymentSpec
from core.errors import ConfigError
from core.paths import default_data_dir
from tools.registry import TOOL_NAMES, ToolName

ENV_PREFIX = "DAERT_"
CONFIG_ENV = "DAERT_CONFIG"
DEFAULT_CONFIG_NAME = "daert.toml"

Port = Annotated[int, Field(ge=0, le=65535)]


CHAT_ALIASES = ("chat", "planner", "summarizer", "judge")


@dataclass(frozen=True)
class Aliases:
    """Which chat alias (of DAERT_MODELS) does each job."""

    answer: str = "chat"
    planner: str = "planner"
    summarizer: str = "summarizer"
    judge: str = "judge"
    code: str = "chat"  # writes the code the sandbox runs
    cypher: str = "planner"  # writes Cypher (only when DAERT_PLANNER_CAPABLE)
    crew: str = "chat"


ALIASES = Aliases()


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Settings(BaseSettings):
    """Every knob daert reads. Field names map to `DAERT_<NAME>` and to keys of `daert.toml`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="forbid",
        validate_default=True,
        case_sensitive=False,
    )

    environment: Literal["development", "production"] = "development"
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Where embedded services keep their data; reused between runs.",
    )
    host: str = Field("127.0.0.1", description="Address `daert serve` binds.")
    port: Annotated[int, Field(ge=1, le=65535)] = 8080
    api_key: SecretStr | None = Field(
        None, description="Bearer token required on every API route but /healthz and /readyz."
    )
    open_loopback: bool = Field(
        True,
        description="Serve clients on this machine without a key, as the admin user 'local', "
        "while no API key exists and DAERT_API_KEY is unset.",
    )
    rate_limit_per_minute: Annotated[int, Field(ge=0)] = Field(
        600, description="Requests one API key may make per minute, across processes (0: off)."
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    max_body_bytes: Annotated[int, Field(ge=1024)] = Field(
        10 * 1024 * 1024, description="Largest request body the API accepts (413 beyond)."
    )

    # External services. Unset means: start the embedded one.
    postgres_url: PostgresDsn | None = None
    redis_url: RedisDsn | None = None
    falkordb_url: RedisDsn | None = Field(
        None, description="Redis with the FalkorDB module; defaults to redis_url."
    )
    model_url: HttpUrl | None = Field(
        None, description="OpenAI-compatible base URL of the chat model; when set, no local model."
    )

    # Embedded services.
    local_model: bool = Field(True, description="Start the embedded llama.cpp model server.")
    local_model_path: Path | None = Field(
        None, description="GGUF file for the local model; default: the packaged Gemma 3 270M."
    )
    local_model_chat_format: str = "gemma"
    local_model_context: Annotated[int, Field(ge=256, le=131072)] = 2048
    local_adapters: dict[str, Path] = Field(
        default_factory=dict,
        description="LoRA adapters (GGUF) served by the local model as 'local+<name>'.",
    )
    postgres_port: Port = Field(0, description="0 picks a free port and remembers it.")
    postgres_pool_size: Annotated[int, Field(ge=2, le=200)] = Field(
        12, description="Connections this process keeps to PostgreSQL, at most (one pool)."
    )
    redis_port: Port = 0
    model_port: Port = 0
    start_timeout: Annotated[float, Field(gt=0, le=600)] = 90.0

    # The model gateway.
    models: dict[str, list[DeploymentSpec]] = Field(
        default_factory=dict,
        description="Alias -> ordered deployments (JSON in DAERT_MODELS, tables in daert.toml).",
    )
    model_name: str = Field("default", description="Model name sent to DAERT_MODEL_URL.")
    model_retries: Annotated[int, Field(ge=0, le=10)] = 1
    model_timeout: Annotated[float, Field(gt=0)] = 120.0
    model_cooldown: Annotated[float, Field(ge=0)] = 30.0
    model_allowed_fails: Annotated[int, Field(ge=0)] = 2
    structured_local: Literal["grammar", "guidance"] = Field(
        "grammar",
        description="How local llama.cpp output is constrained: a grammar sent to the server, "
        "or guidance running the GGUF in-process.",
    )
    embedder: str = Field(
        "local/all-MiniLM-L6-v2",
        description="'local/all-MiniLM-L6-v2' (packaged, offline) or a LiteLLM embedding model.",
    )
    embedder_dimension: Annotated[int, Field(ge=1)] | None = Field(
        None, description="Vector size of a hosted embedder (the local one knows its own)."
    )

    # Knowledge.
    graph_backend: Literal["falkordb", "neo4j"] = "falkordb"
    graph_name: str = Field("daert", description="FalkorDB graph (or Neo4j database) name.")
    neo4j_url: str | None = Field(None, description="bolt://host:7687 or neo4j://...")
    neo4j_user: str = "neo4j"
    neo4j_password: SecretStr | None = None
    collection: str = Field("default", description="Collection `ingest` and `search` use.")
    tavily_api_key: SecretStr | None = Field(
        None,
        description="Tavily key (TAVILY_API_KEY works too); without one, web search "
        "searches the private index of crawled pages.",
    )
    tavily_url: HttpUrl | None = Field(None, description="Another Tavily-compatible endpoint.")
    searxng_url: HttpUrl | None = Field(None, description="A SearXNG instance for web search.")
    web_search: Literal["auto", "duckduckgo", "index"] = Field(
        "auto",
        description="Without a Tavily key or SearXNG URL: DuckDuckGo (`auto`: only when this "
        "machine can reach it) or the private index of crawled pages.",
    )
    web_collection: str = Field("web", description="Collection of the private web index.")
    crawl_allow_private: bool = Field(
        False, description="Let `daert crawl` fetch private and loopback addresses."
    )
    crawl_delay: Annotated[float, Field(ge=0)] = 1.0
    e2b_api_key: SecretStr | None = Field(
        None, description="E2B key (E2B_API_KEY works too): code runs in E2B, not locally."
    )
    code_max_timeout: Annotated[float, Field(gt=0, le=3600)] = Field(
        120.0,
        description="Longest timeout, in seconds, a code execution may ask for: each holds one "
        "of the sandbox's sessions that long.",
    )
    # The assistant graph.
    system_prompt: str = Field(
        "You are daert, a helpful assistant. Answer from the numbered sources when they are "
        "given and cite them like [1]. If the sources do not contain the answer, say you do "
        "not know.",
        description="System prompt of the assistant.",
    )
    planner_capable: bool = Field(
        False,
        description="Let the 'planner' alias plan multi-step tool use (needs a capable model; "
        "the embedding router alone routes otherwise).",
    )
    plan_max_calls: Annotated[int, Field(ge=1, le=10)] = Field(
        3, description="Tool calls one plan of the planner may make, at most."
    )
    tenant: str = Field(
        "default",
        min_length=1,
        max_length=64,
        description="Scope of this server's cached answers (servers sharing one Redis with "
        "different knowledge use different tenants).",
    )
    router_threshold: Annotated[float, Field(ge=-1, le=1)] = Field(
        0.2, description="Least exemplar similarity for the embedding router to trust a route."
    )
    router_margin: Annotated[float, Field(ge=0, le=1)] = Field(
        0.04, description="A second tool route within this margin of the best runs too."
    )
    router_fallback: Literal["retrieve", "chat"] = Field(
        "retrieve", description="Route taken when no route reaches the threshold."
    )
    router_exemplars: Path | None = Field(
        None, description="TOML/JSON file of route -> example questions, added to the defaults."
    )
    assistant_tools: list[ToolName] = Field(
        default_factory=lambda: list(TOOL_NAMES),
        description="Tools the assistant may use.",
    )
    max_steps: Annotated[int, Field(ge=1, le=20)] = Field(
        4, description="Tool rounds per turn, at most."
    )
    time_budget: Annotated[float, Field(gt=0)] = Field(
        180.0, description="Seconds a turn may spend on tools before it answers with what it has."
    )
    tool_timeout: Annotated[float, Field(gt=0)] = 60.0
    retrieve_k: Annotated[int, Field(ge=1, le=50)] = 5
    min_relevance: Annotated[float, Field(ge=-1, le=1)] = Field(
        0.3, description="Least cosine similarity for a passage to count as relevant."
    )
    history_tokens: Annotated[int, Field(ge=64)] = Field(
        1024, description="Token budget of verbatim history; older turns are summarized."
    )
    answer_max_tokens: Annotated[int, Field(ge=16)] = 512
    cache_enabled: bool = Field(True, description="Answer repeated questions from the cache.")
    cache_threshold: Annotated[float, Field(gt=0, le=1)] = Field(
        0.92, description="Least question similarity for a semantic-cache hit."
    )
    cache_ttl: Annotated[int, Field(ge=1)] = Field(7 * 24 * 3600, description="Seconds.")
    memory_enabled: bool = Field(True, description="Remember facts users state about themselves.")
    memory_min_score: Annotated[float, Field(ge=-1, le=1)] = 0.35
    thread_keep_days: Annotated[float, Field(gt=0)] = Field(
        90.0, description="Threads idle this many days are deleted with their checkpoints."
    )
    thread_compact_after: Annotated[float, Field(ge=0)] = Field(
        3600.0, description="Threads idle this many seconds keep only their latest checkpoint."
    )
    ingest_max_bytes: Annotated[int, Field(ge=1024)] = 50 * 1024 * 1024
    chunk_tokens: Annotated[int, Field(ge=16, le=8192)] = 200
    chunk_overlap: Annotated[int, Field(ge=0, le=1024)] = 30
    # --- runs (the server and its workers) ---
    graphs: dict[str, str] = Field(
        default_factory=dict,
        description='More LangGraph graphs to serve, name -> "module:attr" (JSON in the env), '
        "each exposed as an assistant next to daert's own.",
    )
    run_timeout: Annotated[float, Field(gt=0, le=86400)] = Field(
        600.0, description="Seconds a run may spend running (a resumed run keeps what it used)."
    )
    run_stream_retention: Annotated[int, Field(ge=60)] = Field(
        24 * 3600, description="Seconds a finished run's event stream stays readable."
    )
    worker_concurrency: Annotated[int, Field(ge=1, le=256)] = Field(
        16, description="Runs one worker process (or `daert serve`'s own) works at once."
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Browser origins allowed to call the API (CORS); none by default.",
    )
    client_key: SecretStr | None = Field(
        None,
        description="API key `daert ask`/`chat` send to a running server once keys exist.",
    )
    serve_worker: bool = Field(
        True, description="`daert serve` also works runs (off: only `daert worker`s do)."
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        path = value.expanduser().absolute()
        try:
            is_file = path.exists() and not path.is_dir()
        except OSError as err:  # a name too long, a parent that is a file
            raise ValueError(f"{str(path)[:200]}: {err.strerror or err}") from None
        if is_file:
            raise ValueError(f"{path} is a file; the data dir must be a directory")
        return path

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> Settings:
        if not _is_loopback(self.host) and self.api_key is None:
            raise ValueError(
                f"host={self.host!r} exposes the API beyond this machine without a key; "
                "set DAERT_API_KEY (a long random string) or bind DAERT_HOST=127.0.0.1"
            )
        if self.graph_backend == "neo4j" and (
            self.neo4j_url is None or self.neo4j_password is None
        ):
            raise ValueError(
                "graph_backend=neo4j needs DAERT_NEO4J_URL (bolt://host:7687) and "
                "DAERT_NEO4J_PASSWORD"
            )
        if "embed" in self.models:
            raise ValueError(
                "models.embed is not a chat alias: set the embedder with DAERT_EMBEDDER "
                "(and DAERT_EMBEDDER_DIMENSION for a hosted one)"
            )
        for alias, specs in self.models.items():
            if not specs:
                raise ValueError(f"models.{alias} lists no deployment; give at least one")
            for spec in specs:
                name = spec.model.removeprefix(ADAPTER_PREFIX)
                if spec.model.startswith(ADAPTER_PREFIX) and name not in self.local_adapters:
                    raise ValueError(
                        f"models.{alias} uses {spec.model!r} but no adapter {name!r} is in "
                        "local_adapters (DAERT_LOCAL_ADAPTERS)"
                    )
        if self.environment == "production" and self.api_key is None:
            raise ValueError("environment=production requires DAERT_API_KEY")
        return self

    # Derived views, so callers never re-derive the same rule.
    @property
    def run_dir(self) -> Path:
        """Pid/state files and logs of embedded services."""
        return self.data_dir / "run"

    @property
    def effective_falkordb_url(self) -> str | None:
        """FalkorDB lives in the Redis given, unless a separate one is named."""
        url = self.falkordb_url or self.redis_url
        return str(url) if url else None

    def chat_models(self) -> dict[str, list[DeploymentSpec]]:
        """Every chat alias with its deployments, in fallback order.

        An alias left out uses chat's deployments; with chat left out too, DAERT_MODEL_URL
        when it is set, else the local model.
        """
        if self.model_url is not None:
            default = [DeploymentSpec(model=f"openai/{self.model_name}", api_base=self.model_url)]
        else:
            default = [DeploymentSpec(model=LOCAL_MODEL)]
        fallback = self.models.get("chat", default)
        resolved = {alias: fallback for alias in CHAT_ALIASES}
        resolved.update(self.models)
        return resolved

    @property
    def wants_local_model(self) -> bool:
        uses_local = any(
            spec.resolved_kind == "llamacpp" and spec.api_base is None
            for specs in self.chat_models().values()
            for spec in specs
        )
        return self.local_model and uses_local


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a name too long: not a file either
        return False


def _config_path(explicit: Path | None) -> Path | None:
    if explicit is not None:
        if not _is_file(explicit):
            raise ConfigError(
                f"config file {explicit} does not exist",
                hint="pass an existing file with --config, or leave it out to use env vars only",
                code="config_missing",
            )
        return explicit
    named = os.environ.get(CONFIG_ENV)
    if named:
        path = Path(named).expanduser()
        if not _is_file(path):
            raise ConfigError(
                f"{CONFIG_ENV}={named} does not point at a file",
                hint=f"create it or unset {CONFIG_ENV}",
                code="config_missing",
            )
        return path
    local = Path.cwd() / DEFAULT_CONFIG_NAME
    return local if local.is_file() else None


def _describe(error: ValidationError, config: Path | None) -> ConfigError:
    lines = []
    for item in error.errors():
        loc = [str(part) for part in item["loc"]]
        if loc:
            name = loc[0]
            where = f"{ENV_PREFIX}{name.upper()}" + (f" / {name} in {config}" if config else "")
            lines.append(f"- {where}: {item['msg']}")
        else:
            lines.append(f"- {item['msg'].removeprefix('Value error, ')}")
    source = f" (config file: {config})" if config else ""
    return ConfigError(
        "invalid configuration" + source + ":\n" + "\n".join(lines),
        hint="fix the setting(s) above; `daert config` shows every setting and its current value",
    )


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Read settings, turning every validation problem into one `ConfigError` that names the fix."""
    path = _config_path(config_file)
    cls: type[Settings] = Settings
    if path is not None:
        cls = type(
            "Settings", (Settings,), {"model_config": {**Settings.model_config, "toml_file": path}}
        )
    try:
        settings = cls(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as err:
        raise _describe(err, path) from None
    except (OSError, ValueError) as err:  # malformed TOML, or a JSON value that does not parse
        where = f"config file {path}" if path else "the environment"
        raise ConfigError(
            f"cannot read the settings from {where}: {err}",
            hint="fix the TOML syntax, or the JSON in DAERT_MODELS / DAERT_LOCAL_ADAPTERS",
            code="config_unreadable",
        ) from None
    return settings
