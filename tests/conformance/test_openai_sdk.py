"""The official ``openai`` SDK (3.57.0) as the oracle for the OpenAI wire: OpenAI itself, and the
providers whose docs name the OpenAI SDK as their Python client (DeepSeek, Kimi, DashScope's
compatible mode, SiliconFlow, MiniMax, vLLM, OpenRouter, Together).

(a) the SDK against the fake: requests accepted, answers parsed, streams included (usage,
    tool-call deltas, reasoning fields, errors inside a stream);
(b) asyncllm and the SDK make the same call; the fake's two records must agree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai
import orjson
import pytest
from fakeprovider.server import FakeServer
from fakeprovider.state import DEFAULT_KEY as KEY
from sdk_oracle import assert_same_request, requests_to, sdk, system_text

from asyncllm.online import OnlineChatModule, OnlineEmbeddingModule

pytestmark = pytest.mark.anyio

Client = Callable[..., openai.OpenAI]  # client(path) → an SDK client on the fake, closed after the test

TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "the weather in a city",
                                           "parameters": {"type": "object",
                                                          "properties": {"city": {"type": "string"}}}}}]
HISTORY = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "earlier"},
           {"role": "assistant", "content": "an answer"}]

# source → (base path under the fake, the model, what the provider's docs pass in extra_body)
SOURCES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "openai": ("/v1", "gpt-4o-mini", {}),
    # https://api-docs.deepseek.com/ (base_url https://api.deepseek.com, no /v1)
    "deepseek": ("", "deepseek-chat", {}),
    # https://platform.moonshot.cn/docs/api/chat
    "kimi": ("/kimi/v1", "moonshot-v1-8k", {}),
    # https://help.aliyun.com/zh/model-studio/compatibility-of-openai-with-dashscope
    "qwen": ("/compatible-mode/v1", "qwen-plus", {}),
    # https://docs.siliconflow.cn/cn/api-reference/chat-completions/chat-completions
    "siliconflow": ("/v1", "Qwen/Qwen3-8B", {}),
    # https://platform.minimax.io/docs/api-reference/text-openai-api (extra_body={"reasoning_split": True})
    "minimax": ("/minimax/v1", "MiniMax-M2", {"reasoning_split": True}),
    # https://docs.vllm.ai/en/v0.26.0/serving/openai_compatible_server.html
    "vllm": ("/vllm/v1", "fake-chat", {}),
    # https://openrouter.ai/docs/quickstart (the OpenAI SDK with base_url https://openrouter.ai/api/v1)
    "openrouter": ("/openrouter/api/v1", "openai/gpt-4o-mini", {}),
    # https://docs.together.ai/docs/openai-api-compatibility
    "together": ("/together/v1", "meta-llama/Llama-3.3-70B-Instruct-Turbo", {}),
}


@pytest.fixture
def client(fake: FakeServer, closing: Callable[[Any], Any]) -> Client:
    def make(path: str = "/v1") -> openai.OpenAI:
        return closing(openai.OpenAI(api_key=KEY, base_url=fake + path, max_retries=0))
    return make


# -- (a) the SDK against the fake ----------------------------------------------------------------


@pytest.mark.parametrize("source", list(SOURCES))
async def test_the_sdk_parses_the_fakes_answers(client: Client, fake: FakeServer, source: str) -> None:
    path, model, extra = SOURCES[source]
    c = client(path)

    def run() -> tuple[Any, list[Any]]:
        whole = c.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}],
                                          extra_body=extra or None)
        chunks = list(c.chat.completions.create(model=model, messages=[{"role": "user", "content": "one two"}],
                                                stream=True, stream_options={"include_usage": True},
                                                extra_body=extra or None))
        return whole, chunks

    whole, chunks = await sdk(run)
    assert whole.choices[0].message.content == "fake reply to: hi"
    assert whole.usage is not None and whole.usage.completion_tokens > 0
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == "fake reply to: one two"
    # usage: a trailing chunk (OpenAI) or inside the finishing choice (Kimi, as its docs show)
    usage = chunks[-1].usage or (chunks[-1].choices[0].model_extra or {}).get("usage")
    assert usage


@pytest.mark.parametrize(("path", "field"), [("/v1", "reasoning_content"), ("/vllm/v1", "reasoning"),
                                             ("/sensenova/v1", "reasoning")])
async def test_the_sdk_sees_reasoning_under_each_providers_field(client: Client, path: str, field: str) -> None:
    c = client(path)

    def run() -> str:
        stream = c.chat.completions.create(model="fake-reasoner", messages=[{"role": "user", "content": "why"}],
                                           stream=True)
        return "".join(str((ch.choices[0].delta.model_extra or {}).get(field) or "") for ch in stream if ch.choices)

    assert (await sdk(run)).strip() == "thinking about: why"


async def test_the_sdk_assembles_streamed_tool_calls(client: Client) -> None:
    c = client()

    def run() -> Any:
        with c.chat.completions.stream(model="gpt-4o-mini", messages=[{"role": "user", "content": "Paris"}],
                                       tools=TOOLS) as s:  # type: ignore[arg-type]
            return s.get_final_completion()

    final = await sdk(run)
    (call,) = final.choices[0].message.tool_calls
    assert call.function.name == "get_weather"
    assert call.function.arguments == '{"query":"Paris","n":0}'
    assert final.choices[0].finish_reason == "tool_calls"


async def test_the_sdk_raises_on_an_error_inside_the_stream(client: Client, fake: FakeServer) -> None:
    c = client()

    def run() -> list[Any]:
        return list(c.chat.completions.create(model="fake-chat fault=error-mid", stream=True,
                                              messages=[{"role": "user", "content": "one two three"}]))

    with pytest.raises(openai.APIError, match="server had an error"):
        await sdk(run)


@pytest.mark.parametrize(("path", "status", "code"), [("/v1", 429, "insufficient_quota"),
                                                      ("/kimi/v1", 429, None),
                                                      ("/compatible-mode/v1", 400, "Arrearage")])
async def test_the_sdk_reads_the_quota_errors(client: Client, path: str, status: int, code: str | None) -> None:
    c = client(path)

    def run() -> Any:
        return c.chat.completions.create(model="fake-chat fault=quota", messages=[{"role": "user", "content": "x"}])

    with pytest.raises(openai.APIStatusError) as info:
        await sdk(run)
    assert info.value.status_code == status and info.value.code == code


async def test_the_sdk_reads_embeddings_in_both_encodings(client: Client) -> None:
    c = client()

    def run() -> tuple[list[float], list[float]]:
        packed = c.embeddings.create(model="text-embedding-3-small", input=["a b"])  # base64 by default
        floats = c.embeddings.create(model="text-embedding-3-small", input=["a b"], encoding_format="float")
        return packed.data[0].embedding, floats.data[0].embedding

    packed, floats = await sdk(run)
    assert packed == pytest.approx(floats, abs=1e-6)


# -- (b) asyncllm and the SDK send the same request ----------------------------------------------


@pytest.mark.parametrize("source", list(SOURCES))
@pytest.mark.parametrize("stream", [True, False])
async def test_chat_requests_match_the_sdk(client: Client, fake: FakeServer, source: str, stream: bool) -> None:
    path, model, extra = SOURCES[source]
    chat = OnlineChatModule(source=source, model=model, base_url=fake + path + "/", api_key=KEY, stream=stream)
    await chat.prompt("Be brief.")("hello", llm_chat_history=HISTORY[1:], temperature=0.2)
    c = client(path)
    kw: dict[str, Any] = {"stream_options": {"include_usage": True}} if stream else {}

    def run() -> None:
        # the module's system prompt (the provider's default) leads the prompter's instruction
        system = {"role": "system", "content": system_text(chat, "Be brief.")}
        messages = [system, *HISTORY[1:], {"role": "user", "content": "hello"}]
        out = c.chat.completions.create(model=model, messages=messages,
                                        stream=stream, temperature=0.2, extra_body=extra or None, **kw)
        if stream:
            list(out)  # type: ignore[arg-type]

    await sdk(run)
    ours, theirs = requests_to(fake, f"{path}/chat/completions")[-2:]
    assert_same_request(ours, theirs, headers=["content-type"])


@pytest.mark.parametrize("stream", [True, False])
async def test_tool_call_round_trip_requests_match_the_sdk(client: Client, fake: FakeServer, stream: bool) -> None:
    from asyncllm.prompts import FunctionCallFormatter

    chat = OnlineChatModule(source="openai", model="gpt-4o-mini", base_url=fake + "/v1/", api_key=KEY,
                            stream=stream).formatter(FunctionCallFormatter())
    first = await chat("Paris?", tools=TOOLS, tool_choice="auto")
    call = first["tool_calls"][0]
    history = [{"role": "user", "content": "Paris?"}, first,
               {"role": "tool", "tool_call_id": call["id"], "content": "sunny"}]
    await chat(history, tools=TOOLS)
    c = client()
    kw: dict[str, Any] = {"stream_options": {"include_usage": True}} if stream else {}
    system = {"role": "system", "content": system_text(chat)}
    sdk_history = [system, {"role": "user", "content": "Paris?"},
                   {"role": "assistant", "content": "", "tool_calls": first["tool_calls"]},
                   {"role": "tool", "tool_call_id": call["id"], "content": "sunny"}]

    def run() -> None:
        for msgs, extra in ((sdk_history[:2], {"tool_choice": "auto"}), (sdk_history, {})):
            out = c.chat.completions.create(model="gpt-4o-mini", messages=msgs, tools=TOOLS, stream=stream,
                                            **extra, **kw)  # type: ignore[call-overload]
            if stream:
                list(out)

    await sdk(run)
    sent = requests_to(fake, "/v1/chat/completions")
    assert_same_request(sent[0], sent[2])
    assert_same_request(sent[1], sent[3])


async def test_open_qwen3_unstreamed_request_matches_the_documented_call(client: Client, fake: FakeServer) -> None:
    # DashScope's docs turn thinking off for a non-streamed Qwen3 call with extra_body (deep-thinking page)
    chat = OnlineChatModule(source="qwen", model="qwen3-8b", base_url=fake + "/compatible-mode/v1/", api_key=KEY,
                            stream=False)
    await chat("hi")
    c = client("/compatible-mode/v1")
    messages = [{"role": "system", "content": system_text(chat)}, {"role": "user", "content": "hi"}]
    await sdk(lambda: c.chat.completions.create(model="qwen3-8b", messages=messages,
                                                stream=False, extra_body={"enable_thinking": False}))
    ours, theirs = requests_to(fake, "/compatible-mode/v1/chat/completions")
    assert_same_request(ours, theirs)


async def test_embedding_requests_match_the_sdk(client: Client, fake: FakeServer) -> None:
    emb = OnlineEmbeddingModule(source="openai", embed_url=fake + "/v1/", api_key=KEY)
    await emb(["a b", "c"])
    c = client()
    await sdk(lambda: c.embeddings.create(model="text-embedding-3-small", input=["a b", "c"], encoding_format="float"))
    ours, theirs = requests_to(fake, "/v1/embeddings")
    # the SDK asks for base64 unless told; asyncllm takes the floats as they are (the default of the API)
    assert_same_request(ours, theirs, differ={"encoding_format": "the API's default is float"})


async def test_fine_tuning_requests_match_the_sdk(client: Client, fake: FakeServer, tmp_path: Any) -> None:
    data = b'{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}\n'
    path = tmp_path / "train.jsonl"
    path.write_bytes(data)
    chat = OnlineChatModule(source="openai", model="gpt-4o-mini", base_url=fake + "/v1/", api_key=KEY,
                            poll_interval=0)
    file_id = await chat._upload_train_file(str(path))
    await chat._create_finetuning_job("gpt-4o-mini", file_id, n_epochs=2, suffix="mine")
    c = client()

    def run() -> None:
        up = c.files.create(file=("train.jsonl", data, "application/jsonl"), purpose="fine-tune")
        c.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=up.id, hyperparameters={"n_epochs": 2},
                                  suffix="mine")

    await sdk(run)
    ours, theirs = list(fake.state.files.values())
    assert (ours["purpose"], ours["filename"]) == (theirs["purpose"], theirs["filename"])
    assert [orjson.loads(line) for line in ours["content"].splitlines()] == [orjson.loads(data)]
    job_ours, job_theirs = requests_to(fake, "/v1/fine_tuning/jobs")
    assert_same_request(job_ours, job_theirs, differ={"training_file": "each upload got its own id"})


@pytest.mark.parametrize("system_prompt", ["Answer in French.", ""])
async def test_a_system_prompt_is_the_sdks_system_message(client: Client, fake: FakeServer,
                                                          system_prompt: str) -> None:
    chat = OnlineChatModule(source="openai", model="gpt-4o-mini", base_url=fake + "/v1/", api_key=KEY,
                            stream=False, system_prompt=system_prompt)
    await chat("hello")
    c = client()
    system = [{"role": "system", "content": system_prompt}] if system_prompt else []  # "": no system message
    await sdk(lambda: c.chat.completions.create(model="gpt-4o-mini", stream=False,
                                                messages=[*system, {"role": "user", "content": "hello"}]))
    ours, theirs = requests_to(fake, "/v1/chat/completions")[-2:]
    assert_same_request(ours, theirs)
