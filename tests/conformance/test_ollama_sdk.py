"""The official ``ollama`` client (0.6.3) as the oracle for Ollama's native wire.

(a) the client against the fake: ``/api/chat`` whole and streamed (NDJSON), thinking, tool
    calls, counts, ``/api/embed``, an error;
(b) asyncllm and the client make the same call; the fake's two records must agree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ollama
import pytest
from fakeprovider.server import FakeServer
from sdk_oracle import assert_same_request, requests_to, sdk

from asyncllm.online import OnlineChatModule, OnlineEmbeddingModule

pytestmark = pytest.mark.anyio

MODEL = "llama3.2"
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "the weather in a city",
                                           "parameters": {"type": "object",
                                                          "properties": {"city": {"type": "string"}}}}}]


@pytest.fixture
def client(fake: FakeServer, closing: Callable[[Any], Any]) -> Callable[[], ollama.Client]:
    def make() -> ollama.Client:
        c = ollama.Client(host=fake)
        closing(c._client)  # its httpx client: the sockets go with it
        return c
    return make


async def test_the_client_parses_the_fakes_answers(client: Callable[[], ollama.Client]) -> None:
    c = client()

    def run() -> tuple[Any, list[Any], Any, Any]:
        whole = c.chat(model=MODEL, messages=[{"role": "user", "content": "hi"}])
        parts = list(c.chat(model=MODEL, messages=[{"role": "user", "content": "one two"}], stream=True, think=True))
        called = c.chat(model=MODEL, messages=[{"role": "user", "content": "Paris"}], tools=TOOLS)
        emb = c.embed(model="nomic-embed-text", input=["a", "b c"])
        return whole, parts, called, emb

    whole, parts, called, emb = await sdk(run)
    assert whole.message.content == "fake reply to: hi" and whole.done_reason == "stop"
    assert whole.prompt_eval_count == 1 and whole.eval_count == 4
    assert "".join(p.message.content for p in parts) == "fake reply to: one two"
    assert "".join(p.message.thinking or "" for p in parts) == "thinking about: one two"
    assert parts[-1].done and parts[-1].eval_count == 5
    (tc,) = called.message.tool_calls
    assert tc.function.name == "get_weather" and tc.function.arguments == {"query": "Paris", "n": 0}
    assert len(emb.embeddings) == 2 and len(emb.embeddings[0]) == 8


async def test_the_client_reads_an_error(client: Callable[[], ollama.Client]) -> None:
    with pytest.raises(ollama.ResponseError) as info:
        await sdk(lambda: client().chat(model="llama3.2 fault=500", messages=[{"role": "user", "content": "x"}]))
    assert info.value.status_code == 500 and "fake 500" in info.value.error


@pytest.mark.parametrize("stream", [True, False])
async def test_chat_requests_match_the_client(client: Callable[[], ollama.Client], fake: FakeServer,
                                              stream: bool) -> None:
    # Ollama has no default system prompt; one given goes first, before the prompter's instruction
    chat = OnlineChatModule(source="ollama", base_url=fake, model=MODEL, stream=stream,
                            system_prompt="Answer in French.")
    await chat.prompt("Be brief.")("hello", llm_chat_history=[["earlier", "an answer"]], temperature=0.2,
                                   max_tokens=50, tools=TOOLS)
    messages = [{"role": "system", "content": "Answer in French.\nBe brief."}, {"role": "user", "content": "earlier"},
                {"role": "assistant", "content": "an answer"}, {"role": "user", "content": "hello"}]

    def run() -> None:
        out = client().chat(model=MODEL, messages=messages, tools=TOOLS, stream=stream,
                                options={"temperature": 0.2, "num_predict": 50})
        if stream:
            list(out)  # type: ignore[arg-type]

    await sdk(run)
    ours, theirs = requests_to(fake, "/api/chat")[-2:]
    assert_same_request(ours, theirs, same_key=False)  # a local server: no key either way


async def test_tool_result_requests_match_the_client(client: Callable[[], ollama.Client], fake: FakeServer) -> None:
    from asyncllm.prompts import FunctionCallFormatter

    chat = OnlineChatModule(source="ollama", base_url=fake, model=MODEL, stream=False).formatter(
        FunctionCallFormatter())
    first = await chat("Paris?", tools=TOOLS)
    call = first["tool_calls"][0]
    await chat([{"role": "user", "content": "Paris?"}, first,
                {"role": "tool", "tool_call_id": call["id"], "content": "sunny"}])
    messages = [{"role": "user", "content": "Paris?"},
                {"role": "assistant", "content": "",
                 "tool_calls": [{"function": {"name": "get_weather", "arguments": {"query": "Paris?", "n": 0}}}]},
                {"role": "tool", "content": "sunny", "tool_name": "get_weather"}]
    await sdk(lambda: client().chat(model=MODEL, messages=messages, stream=False))
    ours, theirs = requests_to(fake, "/api/chat")[-2:]
    assert_same_request(ours, theirs, same_key=False,
                        differ={"tools": "the client sends tools: [] when there are none; Ollama reads it as absent"})


async def test_embedding_requests_match_the_client(client: Callable[[], ollama.Client], fake: FakeServer) -> None:
    emb = OnlineEmbeddingModule(source="ollama", embed_url=fake, embed_model_name="nomic-embed-text")
    await emb(["a", "b c"])
    await sdk(lambda: client().embed(model="nomic-embed-text", input=["a", "b c"]))
    ours, theirs = requests_to(fake, "/api/embed")[-2:]
    assert_same_request(ours, theirs, same_key=False)
