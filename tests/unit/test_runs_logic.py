"""The run machinery's pure parts: inputs, stream modes, JSON, event ids, cron times."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from bots.agent_protocol.crons import check_zone, next_fire
from bots.runs.executor import kept_events
from bots.runs.records import check_strategy
from bots.runs.served import check_modes, question_of, to_json
from bots.runs.service import new_id, wanted_events
from bots.runs.streams import check_event_id
from core.errors import InputError


def test_the_question_is_the_last_user_message_in_any_common_shape() -> None:
    assert question_of("plain") == "plain"
    assert question_of({"question": "direct"}) == "direct"
    openai_style = {"messages": [{"role": "user", "content": "one"},
                                 {"role": "assistant", "content": "x"},
                                 {"role": "user", "content": "two"}]}  # fmt: skip
    assert question_of(openai_style) == "two"
    blocks = [{"type": "text", "text": "blocks"}]
    langchain_style = {"messages": [{"type": "human", "content": blocks}]}
    assert question_of(langchain_style) == "blocks"
    bad_inputs: list[object] = [None, {}, {"messages": []},
                                {"messages": [{"role": "assistant", "content": "a"}]}]  # fmt: skip
    for bad in bad_inputs:
        with pytest.raises(InputError) as err:
            question_of(bad)
        assert err.value.code == "invalid_input"


def test_stream_modes_are_checked_and_deduplicated() -> None:
    assert check_modes(None) == ("values",)
    assert check_modes("updates") == ("updates",)
    assert check_modes(["values", "custom", "values"]) == ("values", "custom")
    with pytest.raises(InputError) as err:
        check_modes(["values", "bogus"])
    assert err.value.code == "invalid_stream_mode"
    assert check_strategy("enqueue") == "enqueue"
    with pytest.raises(InputError):
        check_strategy("later")


def test_what_a_client_receives_and_what_a_run_keeps() -> None:
    assert wanted_events(("messages-tuple",)) == {"messages", "metadata", "error", "end"}
    assert wanted_events(()) == {"metadata", "error", "end"}
    assert kept_events(("values",)) == {"values", "custom"}  # daert's events always travel


def test_states_become_plain_json() -> None:
    @dataclasses.dataclass
    class Point:
        x: int

    state = {"messages": [HumanMessage("hi"), AIMessage("yo")], "at": datetime(2026, 1, 2),
             "p": Point(3), "tags": ("a",), "raw": b"\xffok"}  # fmt: skip
    out = to_json(state)
    assert [m["type"] for m in out["messages"]] == ["human", "ai"]
    assert out["messages"][1]["content"] == "yo"
    assert out["at"] == "2026-01-02T00:00:00"
    assert out["p"] == {"x": 3}
    assert out["tags"] == ["a"]
    assert out["raw"].endswith("ok")


def test_event_ids_are_redis_stream_ids_only() -> None:
    assert check_event_id("1733241234567-0") == "1733241234567-0"
    for bad in ("", "abc", "1-", "-1", "1-2-3", "1 -0", "9" * 40 + "-0"):
        with pytest.raises(InputError) as err:
            check_event_id(bad)
        assert err.value.code == "invalid_event_id"


def test_run_ids_sort_in_creation_order() -> None:
    ids = [new_id() for _ in range(50)]
    assert all(uuid.UUID(i).version == 7 for i in ids)
    assert [i[:13] for i in ids] == sorted(i[:13] for i in ids)  # the millisecond prefix


def test_a_cron_fires_in_its_own_time_zone() -> None:
    after = datetime(2026, 7, 1, 5, 0, tzinfo=UTC)  # 07:00 in Madrid (summer, UTC+2)
    fire = next_fire("0 8 * * *", "Europe/Madrid", after)
    assert fire == datetime(2026, 7, 1, 6, 0, tzinfo=UTC)  # 08:00 Madrid
    winter = next_fire("0 8 * * *", "Europe/Madrid", datetime(2026, 1, 10, 12, tzinfo=UTC))
    assert winter == datetime(2026, 1, 11, 7, 0, tzinfo=UTC)  # UTC+1 in winter
    for bad in ("every morning", "0 8 * *", "61 8 * * *", "0 8 * * * *"):
        with pytest.raises(InputError) as err:
            next_fire(bad, "UTC")
        assert err.value.code == "invalid_schedule"
    with pytest.raises(InputError) as zone:
        check_zone("Mars/Olympus")
    assert zone.value.code == "invalid_timezone"
