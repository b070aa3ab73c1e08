"""The fake provider's starlette app: one route table, one request wrapper.

Each route names its *flavour* (which auth scheme and error body shape it uses) and its
*kind* (which handler answers). Prefixes separate providers whose real paths collide:

==============================================  ===========  ==================================
path                                            flavour      what
==============================================  ===========  ==================================
/v1/chat/completions, /chat/completions         openai       OpenAI chat (DeepSeek: no /v1)
/compatible-mode/v1/chat/completions            qwen         Qwen OpenAI-compatible mode (DashScope codes)
/kimi/v1/chat/completions                       kimi         Kimi (stream usage inside choices[0])
/vllm/v1/chat/completions                       vllm         vLLM (reasoning in ``reasoning``)
/api/paas/v4/chat/completions                   glm          GLM
/api/v3/chat/completions                        doubao       Doubao (Ark)
/minimax/v1/chat/completions                    minimax      MiniMax (base_resp; reasoning_details with
                                                             reasoning_split, else <think> in content)
/sensenova/v1/chat/completions                  sensenova    Bearer JWT (HS256, iss=ak) or sk- key;
                                                             reasoning in ``reasoning``
/v1/messages                                    anthropic    Anthropic Messages (x-api-key; text and
                                                             thinking-signature rules of rules.py)
/api/v1/services/aigc/text-generation/...       dashscope    DashScope native generation
/v1/embeddings (+ glm, doubao, qwen-compat)     openai...    OpenAI embeddings
/sensenova/v1/llm/embeddings                    sensenova    SenseNova embeddings
/api/v3/embeddings/multimodal                   doubao       Doubao multimodal embedding
/api/v1/services/embeddings/text-embedding/...  dashscope    DashScope embeddings
/api/v1/services/rerank/text-rerank/...         dashscope    DashScope rerank
/v1/rerank, /rerank, /api/paas/v4/rerank        openai/glm   {query, documents, top_n} rerank
/v1/files, /v1/fine_tuning/jobs[/{id}[/...]]    openai       files + fine-tuning jobs
/v1/models                                      openai       model list
/openai/deployments/{d}/chat/completions        azure        Azure OpenAI (api-key or Entra Bearer;
  and /embeddings                                            ?api-version= required, else 404)
/openai/v1/chat/completions                     azure-v1     Azure's version-less v1 API (Bearer)
/v1/models/{model}:generateContent (+ v1beta)   gemini       Gemini native, :streamGenerateContent?alt=sse,
                                                             :batchEmbedContents (x-goog-api-key)
/api/chat, /api/embed                           ollama       Ollama native (NDJSON stream), no auth
/openrouter/api/v1/..., /mistral/v1/...,        openrouter…  OpenAI-compatible presets with each one's
/groq/openai/v1/..., /together/v1/...                        differences (dialects.py, rules.py)
/health                                         —            no auth
==============================================  ===========  ==================================
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import chat, embed, finetune, native
from .state import FakeState, key_tag
from .wire import check_auth, common_headers, credential, error_body, json_response, pre_header_fault

Handler = Callable[[Request, Any, Any, FakeState, dict[str, str], str], Awaitable[Response]]


async def _chat(rq: Request, body: Any, fault: Any, st: FakeState, h: dict[str, str], fl: str) -> Response:
    return await chat.openai_chat(rq, body, fault, st, h, fl)


async def _anthropic(rq: Request, body: Any, fault: Any, st: FakeState, h: dict[str, str], fl: str) -> Response:
    return await chat.anthropic_messages(rq, body, fault, st, h)


async def _ds_gen(rq: Request, body: Any, fault: Any, st: FakeState, h: dict[str, str], fl: str) -> Response:
    return await chat.dashscope_generation(rq, body, fault, st, h)


async def _emb(rq: Request, body: Any, fault: Any, st: FakeState, h: dict[str, str], fl: str) -> Response:
    return embed.openai_embeddings(body, h, fl)


async def _ds_emb(rq: Request, body: Any, fault: Any, st: FakeState, h: dict[str, str], fl: str) -> Response:
    return embed.dashscope_embeddings(body, h)


async def _ds_mm_emb(rq: Request, body: Any, fault: Any, st: FakeState, h: dict[str, str], fl: str) -> Response:
    return embed.dashscope_multimodal(body, h)


async def _ds_rerank(rq: Request, body: Any, fault: Any, st: FakeState, h: dict[str, str], fl: str) -> Response:
    return embed.dashscope_rerank(body, h)


async def _rerank(rq: Request, body: Any, fault: Any, st: FakeState, h: dict[str, str], fl: str) -> Response:
    return embed.generic_rerank(body, h)


async def _mm_emb(rq: Request, body: Any, fault: Any, st: FakeState, h: dict[str, str], fl: str) -> Response:
    return embed.doubao_multimodal(body, h, st)


async def _upload(rq: Request, body: Any, fault: Any, st: FakeState, h: dict[str, str], fl: str) -> Response:
    return await finetune.upload_file(rq, st, h)


async def _jobs(rq: Request, body: Any, fault: Any, st: FakeState, h: dict[str, str], fl: str) -> Response:
    jid = rq.path_params.get("job_id")
    action = rq.path_params.get("action")
    if jid is None:
        return finetune.create_job(body, st, h) if rq.method == "POST" else finetune.list_jobs(st, h)
    if action == "cancel" and rq.method == "POST":
        return finetune.cancel_job(jid, st, h)
    if action == "events":
        return finetune.job_events(jid, st, h)
    return finetune.get_job(jid, st, h)


async def _gemini(rq: Request, body: Any, fault: Any, st: FakeState, h: dict[str, str], fl: str) -> Response:
    return await native.gemini(rq, body, fault, st, h)


async def _ollama(rq: Request, body: Any, fault: Any, st: FakeState, h: dict[str, str], fl: str) -> Response:
    return await native.ollama_chat(rq, body, fault, st, h)


async def _ollama_emb(rq: Request, body: Any, fault: Any, st: FakeState, h: dict[str, str], fl: str) -> Response:
    return native.ollama_embed(body, h)


async def _models(rq: Request, body: Any, fault: Any, st: FakeState, h: dict[str, str], fl: str) -> Response:
    return json_response({"object": "list", "data": [{"id": m, "object": "model", "owned_by": "fake"}
                                                     for m in ("fake-chat", "fake-reasoner", "fake-embed")]}, 200, h)


ROUTES: list[tuple[str, str, Handler, tuple[str, ...]]] = [
    ("/v1/chat/completions", "openai", _chat, ("POST",)),
    ("/chat/completions", "openai", _chat, ("POST",)),
    ("/compatible-mode/v1/chat/completions", "qwen", _chat, ("POST",)),
    ("/kimi/v1/chat/completions", "kimi", _chat, ("POST",)),
    ("/deepseek/chat/completions", "deepseek", _chat, ("POST",)),
    ("/vllm/v1/chat/completions", "vllm", _chat, ("POST",)),
    ("/api/paas/v4/chat/completions", "glm", _chat, ("POST",)),
    ("/api/v3/chat/completions", "doubao", _chat, ("POST",)),
    ("/minimax/v1/chat/completions", "minimax", _chat, ("POST",)),
    ("/sensenova/v1/chat/completions", "sensenova", _chat, ("POST",)),
    ("/v1/messages", "anthropic", _anthropic, ("POST",)),
    ("/api/v1/services/aigc/text-generation/generation", "dashscope", _ds_gen, ("POST",)),
    ("/v1/embeddings", "openai", _emb, ("POST",)),
    ("/compatible-mode/v1/embeddings", "openai", _emb, ("POST",)),
    ("/api/paas/v4/embeddings", "glm", _emb, ("POST",)),
    ("/api/v3/embeddings", "doubao", _emb, ("POST",)),
    ("/sensenova/v1/llm/embeddings", "sensenova", _emb, ("POST",)),
    ("/api/v3/embeddings/multimodal", "doubao", _mm_emb, ("POST",)),
    ("/api/v1/services/embeddings/text-embedding/text-embedding", "dashscope", _ds_emb, ("POST",)),
    ("/api/v1/services/embeddings/multimodal-embedding/multimodal-embedding", "dashscope", _ds_mm_emb, ("POST",)),
    ("/api/v1/services/rerank/text-rerank/text-rerank", "dashscope", _ds_rerank, ("POST",)),
    ("/v1/rerank", "openai", _rerank, ("POST",)),
    ("/rerank", "openai", _rerank, ("POST",)),
    ("/api/paas/v4/rerank", "glm", _rerank, ("POST",)),
    ("/v1/files", "openai", _upload, ("POST",)),
    ("/v1/fine_tuning/jobs", "openai", _jobs, ("GET", "POST")),
    ("/v1/fine_tuning/jobs/{job_id}", "openai", _jobs, ("GET",)),
    ("/v1/fine_tuning/jobs/{job_id}/{action}", "openai", _jobs, ("GET", "POST")),
    ("/v1/models", "openai", _models, ("GET",)),
    # Azure OpenAI: the deployment in the path, ?api-version= required (openai 3.57 lib/azure.py)
    ("/openai/deployments/{deployment}/chat/completions", "azure", _chat, ("POST",)),
    ("/openai/deployments/{deployment}/embeddings", "azure", _emb, ("POST",)),
    ("/openai/v1/chat/completions", "azure-v1", _chat, ("POST",)),
    # Gemini native (native.py); {call} is "<model>:<method>"
    ("/v1/models/{call}", "gemini", _gemini, ("POST",)),
    ("/v1beta/models/{call}", "gemini", _gemini, ("POST",)),
    # Ollama native (native.py)
    ("/api/chat", "ollama", _ollama, ("POST",)),
    ("/api/embed", "ollama", _ollama_emb, ("POST",)),
    # OpenAI-compatible presets, each under a prefix of its own (dialects.py says how each bends the wire)
    ("/openrouter/api/v1/chat/completions", "openrouter", _chat, ("POST",)),
    ("/mistral/v1/chat/completions", "mistral", _chat, ("POST",)),
    ("/mistral/v1/embeddings", "mistral", _emb, ("POST",)),
    ("/groq/openai/v1/chat/completions", "groq", _chat, ("POST",)),
    ("/together/v1/chat/completions", "together", _chat, ("POST",)),
    ("/together/v1/embeddings", "together", _emb, ("POST",)),
]


def build_app(state: FakeState | None = None) -> Starlette:
    """A fresh app; ``app.state.fake`` is the :class:`FakeState` tests inspect."""
    st = state or FakeState()

    def endpoint(flavor: str, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def ep(request: Request) -> Response:
            headers = common_headers(request, st)
            body: Any = {}
            if request.method == "POST" and handler is not _upload:
                raw = await request.body()
                try:
                    body = orjson.loads(raw) if raw else {}
                except orjson.JSONDecodeError:
                    return json_response(error_body(flavor, 400, "We could not parse the JSON body of your request.",
                                                    "invalid_request_error"), 400, headers)
            st.requests.append({"path": request.url.path, "method": request.method, "body": body,
                                "headers": {k: v for k, v in request.headers.items()
                                            if k not in ("authorization", "x-api-key", "api-key", "x-goog-api-key")},
                                "query": dict(request.query_params),
                                "key": key_tag(credential(request))})
            denied = check_auth(request, flavor, st, headers)
            if denied is not None:
                return denied
            model = body.get("model") if isinstance(body, dict) else None
            fault = st.fault_for(request.headers, model if isinstance(model, str) else None)
            early = await pre_header_fault(fault, flavor, headers, request)
            if early is not None:
                return early
            return await handler(request, body, fault, st, headers, flavor)
        return ep

    async def health(request: Request) -> Response:
        return json_response({"status": "ok"}, 200, common_headers(request, st))

    routes = [Route(p, endpoint(fl, h), methods=list(m)) for p, fl, h, m in ROUTES]
    routes.append(Route("/health", health, methods=["GET"]))
    app = Starlette(routes=routes)
    app.state.fake = st
    return app
