"""MiniMax: OpenAI wire, with three differences.

* Errors may come as HTTP 200 with ``base_resp.status_code != 0`` (:func:`minimax_error_rule`
  types them: 1008 arrears, 1026/1027 content filter, ...).
* Reasoning: asked for with ``reasoning_split: true`` (sent unless the caller sets it), it
  arrives as ``reasoning_details``; without it the model's thinking arrives inside ``content``
  as ``<think>…</think>``, which is split out here rather than returned as the answer.
  https://platform.minimax.io/docs/api-reference/text-openai-api (checked 2026-11-30).
* Regions: ``region="cn"`` for api.minimaxi.com.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._exceptions import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConfigError,
    ContentFilteredError,
    QuotaExceededError,
    RateLimitError,
)
from .._provider_errors import error_for, register_error_rule
from ..streaming.sse import SSEEvent
from ._think_tags import ThinkTagSplitter, split_think
from .chat_base import OnlineChatModuleBase

__all__ = ["MinimaxChat", "minimax_error_rule"]

REGIONS = {"global": "https://api.minimax.io/v1/", "cn": "https://api.minimaxi.com/v1/"}

# base_resp.status_code → error class. https://platform.minimax.io/docs/api-reference/errorcode
# (1002 rate limit, 1004 auth, 1008 insufficient balance, 1013 invalid params, 1026 input
# sensitive, 1027 output sensitive, 1039 token rate limit, 2013 invalid params, 2049 invalid key)
_CODES: dict[int, type[APIError]] = {
    1002: RateLimitError, 1039: RateLimitError,
    1004: AuthenticationError, 2049: AuthenticationError,
    1008: QuotaExceededError,
    1013: BadRequestError, 2013: BadRequestError,
    1026: ContentFilteredError, 1027: ContentFilteredError,
}


def minimax_error_rule(status: int | None, body: Any) -> type[APIError] | None:
    base = body.get("base_resp") if isinstance(body, dict) else None
    code = base.get("status_code") if isinstance(base, dict) else None
    return _CODES.get(code) if isinstance(code, int) else None


register_error_rule("minimax", minimax_error_rule)


def _reasoning(msg: dict[str, Any]) -> None:
    """``reasoning_details`` → ``reasoning_content``. Stream pieces are increments, not the text so
    far (MiniMax-AI/MiniMax-M2#95), so each piece maps on its own."""
    details = msg.pop("reasoning_details", None)
    if details and not msg.get("reasoning_content"):
        msg["reasoning_content"] = "".join(d.get("text", "") for d in details if isinstance(d, dict))


class _Frames:
    """One stream's frames: base_resp errors raised, reasoning_details mapped, and inline
    ``<think>`` text moved from ``content`` to ``reasoning_content``."""

    __slots__ = ("owner", "think")

    def __init__(self, owner: MinimaxChat) -> None:
        self.owner = owner
        self.think = ThinkTagSplitter()

    def __call__(self, event: SSEEvent) -> dict[str, Any] | None:
        frame = OnlineChatModuleBase._convert_frame(self.owner, event)
        if frame is None:
            return None
        self.owner._check(frame)
        for ch in frame.get("choices") or ():
            delta = ch.get("delta")
            if not isinstance(delta, dict):
                continue
            _reasoning(delta)
            if c := delta.get("content"):
                thought, delta["content"] = self.think.feed(c)
                _add_thought(delta, thought)
            if ch.get("finish_reason"):  # the end: whatever the splitter still holds
                thought, text = self.think.flush()
                if text:
                    delta["content"] = (delta.get("content") or "") + text
                _add_thought(delta, thought)
        return frame


def _add_thought(delta: dict[str, Any], thought: str) -> None:
    if thought:
        delta["reasoning_content"] = (delta.get("reasoning_content") or "") + thought


class MinimaxChat(OnlineChatModuleBase, source="minimax"):
    default_system_prompt = "You are a helpful, intelligent assistant provided by MiniMax."
    structured_output = "prompt"  # no JSON mode documented for chat completions
    default_base_url = REGIONS["global"]
    default_model = "MiniMax-M1"
    errors_as_json_when_streaming = True

    def __init__(self, model: str | None = None, *, region: str | None = None, **kw: Any) -> None:
        if region is not None and "base_url" not in kw:
            if region not in REGIONS:
                raise ConfigError(f"unknown MiniMax region {region!r}; choose one of {sorted(REGIONS)}")
            kw["base_url"] = REGIONS[region]
        super().__init__(model, **kw)

    def _build_body(self, messages: list[dict[str, Any]], *, model: str, stream: bool,
                    tools: list[dict[str, Any]] | None, params: dict[str, Any]) -> dict[str, Any]:
        body = super()._build_body(messages, model=model, stream=stream, tools=tools, params=params)
        body.setdefault("reasoning_split", True)  # reasoning apart from the answer (see the docstring)
        return body

    def _check(self, body: dict[str, Any]) -> None:
        base = body.get("base_resp")
        if isinstance(base, dict) and base.get("status_code", 0) != 0:
            code = base["status_code"]
            raise error_for("minimax", body, f"MiniMax error {code}: {base.get('status_msg')}",
                            model=self._model_name, default=BadRequestError)

    def _convert_response(self, body: Any) -> dict[str, Any]:
        if isinstance(body, dict):
            self._check(body)
            for ch in body.get("choices") or []:
                msg = ch.get("message")
                if isinstance(msg, dict):
                    _reasoning(msg)
                    if not msg.get("reasoning_content") and isinstance(msg.get("content"), str):
                        thought, text = split_think(msg["content"])
                        if thought:
                            msg["reasoning_content"], msg["content"] = thought, text
        return super()._convert_response(body)

    def _frame_converter(self) -> Callable[[SSEEvent], dict[str, Any] | None]:
        return _Frames(self)
