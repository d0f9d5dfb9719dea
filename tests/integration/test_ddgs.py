"""DuckDuckGo web search: the real `ddgs` client, through its proxy setting, against a local
DuckDuckGo (an HTTPS-intercepting proxy serving DuckDuckGo-shaped pages)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agents.testing.ddgs_double import DuckDuckGoDouble, DuckDuckGoHit
from core.errors import ConfigError, InputError, ServiceError
from tools.web_search.ddgs import DuckDuckGoSearch

HITS = [
    DuckDuckGoHit("Apple pie - Wikibooks", "https://en.wikibooks.org/wiki/Apple_pie", "Bake it."),
    DuckDuckGoHit("Pie & crust", "https://pies.example/crust?utm_source=ddg", "Flaky crust"),
    DuckDuckGoHit("Pie and crust (copy)", "https://PIES.example/crust/", "the same page"),
    DuckDuckGoHit("Orchards", "https://orchards.example/", "Apples ripen in September."),
]


@pytest.fixture
def ddg() -> Iterator[DuckDuckGoDouble]:
    with DuckDuckGoDouble(results=list(HITS)) as double:
        yield double


def search_via(double: DuckDuckGoDouble, *, timeout: int = 10) -> DuckDuckGoSearch:
    return DuckDuckGoSearch(proxy=double.proxy, verify=double.ca_file, timeout=timeout)


async def test_results_are_normalised_ranked_and_deduplicated(ddg: DuckDuckGoDouble) -> None:
    found = await search_via(ddg).search("apple pie", k=10)
    assert [(r.title, r.url) for r in found] == [
        ("Apple pie - Wikibooks", "https://en.wikibooks.org/wiki/Apple_pie"),
        ("Pie & crust", "https://pies.example/crust?utm_source=ddg"),
        ("Orchards", "https://orchards.example/"),
    ]
    assert found[2].snippet == found[2].content == "Apples ripen in September."
    assert {r.provider for r in found} == {"duckduckgo"}
    assert [r.score for r in found] == [1.0, 0.5, 0.25]  # rank on the page: 1, 2, (3 a dup), 4


async def test_the_search_form_is_posted_to_duckduckgo(ddg: DuckDuckGoDouble) -> None:
    await search_via(ddg).search("what is a pie?")
    assert ddg.tunnels == ["html.duckduckgo.com:443"]
    [request] = ddg.requests
    assert (request.method, request.host, request.path) == ("POST", "html.duckduckgo.com", "/html/")
    assert request.form == {"q": "what is a pie?", "b": "", "l": "us-en"}
    assert "Mozilla/5.0" in request.headers["user-agent"]


async def test_k_limits_the_results(ddg: DuckDuckGoDouble) -> None:
    found = await search_via(ddg).search("apple pie", k=2)
    assert [r.url for r in found] == [HITS[0].url, HITS[1].url]
    with pytest.raises(InputError):
        await search_via(ddg).search("apple pie", k=0)
    with pytest.raises(InputError):
        await search_via(ddg).search("   ")
    assert len(ddg.requests) == 1  # the bad ones were refused before anything was sent


async def test_verify_false_and_a_region_are_passed_through(ddg: DuckDuckGoDouble) -> None:
    search = DuckDuckGoSearch(proxy=ddg.proxy, verify=False, region="de-de")
    assert len(await search.search("apple pie")) == 3
    assert ddg.requests[0].form["l"] == "de-de"


async def test_the_certificate_is_checked_by_default(ddg: DuckDuckGoDouble) -> None:
    with pytest.raises(ServiceError) as caught:
        await DuckDuckGoSearch(proxy=ddg.proxy).search("apple pie")
    assert caught.value.code == "web_search_unavailable"
    assert "TAVILY_API_KEY" in caught.value.hint


async def test_no_results_is_an_empty_list() -> None:
    with DuckDuckGoDouble(results=[]) as ddg:
        assert await search_via(ddg).search("zxqv nothing matches") == []
        assert len(ddg.requests) == 1


@pytest.mark.parametrize(
    ("status", "challenge"), [(202, True), (429, False), (403, False), (200, True)]
)
async def test_a_refusal_is_a_rate_limit(status: int, challenge: bool) -> None:
    with DuckDuckGoDouble(results=list(HITS), status=status, challenge=challenge) as ddg:
        with pytest.raises(ServiceError) as caught:
            await search_via(ddg).search("apple pie")
        assert len(ddg.requests) == 1
    assert caught.value.code == "web_search_rate_limited"
    assert "daert crawl" in caught.value.hint


async def test_another_error_status_is_unavailable() -> None:
    with (
        DuckDuckGoDouble(results=list(HITS), status=500) as ddg,
        pytest.raises(ServiceError) as caught,
    ):
        await search_via(ddg).search("apple pie")
    assert caught.value.code == "web_search_unavailable"


async def test_a_hung_search_times_out() -> None:
    with DuckDuckGoDouble(results=list(HITS), hang=True) as ddg:
        with pytest.raises(ServiceError) as caught:
            await search_via(ddg, timeout=1).search("apple pie")
        assert len(ddg.requests) == 1
    assert caught.value.code == "web_search_timeout"


def test_an_unknown_backend_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        DuckDuckGoSearch(backend="altavista")
    assert "duckduckgo" in caught.value.hint
