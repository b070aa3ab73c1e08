"""``<think>…</think>`` split out of answer text, whole or in stream pieces cut anywhere."""

from __future__ import annotations

import pytest

from asyncllm.online._think_tags import ThinkTagSplitter, split_think

ANSWER = "<think>step one, step two</think>\n\nThe answer."


def run(pieces: list[str]) -> tuple[str, str]:
    splitter = ThinkTagSplitter()
    thoughts, texts = [], []
    for p in pieces:
        t, a = splitter.feed(p)
        thoughts.append(t)
        texts.append(a)
    t, a = splitter.flush()
    return "".join(thoughts) + t, "".join(texts) + a


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 100])
def test_pieces_cut_anywhere_give_the_same_split(size: int) -> None:
    pieces = [ANSWER[i:i + size] for i in range(0, len(ANSWER), size)]
    assert run(pieces) == ("step one, step two", "The answer.")
    assert split_think(ANSWER) == ("step one, step two", "The answer.")


def test_text_without_a_leading_think_tag_is_all_answer() -> None:
    assert run(["hello <think>x</think>"]) == ("", "hello <think>x</think>")
    assert run(["<", "b>bold</b>"]) == ("", "<b>bold</b>")
    assert split_think("plain") == ("", "plain")


def test_a_stream_cut_off_while_thinking_keeps_the_thought() -> None:
    assert run(["<think>never", " closed"]) == ("never closed", "")
    assert split_think("<think>never closed") == ("never closed", "")
