"""Each provider's documented error answers: the body shape, the HTTP status and the code that
carries the meaning. One table per kind of failure, keyed by the route's flavour.

The codes and statuses are the providers' (facts of their wire); the message texts are short
stand-ins. Every row names where it was checked (2026-11-30):

* quota / arrears (fault ``quota``): the account cannot pay, retrying cannot help.
* refusal (fault ``blocked``): the provider's content filter refused the *request* (an error
  answer, unlike the ``content_filter`` finish reason of an answer cut short).
* stream error (fault ``error-mid``): an error reported inside a started stream.
"""

from __future__ import annotations

from typing import Any

import orjson

from asyncllm.streaming.sse import encode_sse

Answer = tuple[int, Any]


def _openai(message: str, etype: str, code: str | None = None, **extra: Any) -> Any:
    return {"error": {"message": message, "type": etype, "param": None, "code": code}, **extra}


def quota(flavor: str, rid: str) -> Answer:
    """(status, body) of "your balance or quota is gone"."""
    if flavor == "dashscope":
        # DashScope native: flat {code, message, request_id}; Arrearage is 400.
        # dashscope 2.0.2 dashscope/v2/errors.py:53 (ErrorCode.ARREARAGE); help.aliyun.com/zh/model-studio/error-code
        return 400, {"code": "Arrearage", "message": "Access denied, please make sure your account is in good "
                     "standing.", "request_id": rid}
    if flavor == "qwen":
        # DashScope compatible mode: the same code in the OpenAI error shape.
        # https://help.aliyun.com/zh/model-studio/error-code (Arrearage, 400)
        return 400, _openai("Access denied, please make sure your account is in good standing.", "Arrearage",
                            "Arrearage", request_id=rid)
    if flavor == "anthropic":
        # https://docs.anthropic.com/en/api/errors (400 invalid_request_error, credit balance wording)
        return 400, {"type": "error", "error": {"type": "invalid_request_error",
                                                "message": "Your credit balance is too low to access the API."}}
    if flavor == "glm":
        # Zhipu BigModel: HTTP 429, code "1113" (arrears), no type; message in Chinese on open.bigmodel.cn.
        # https://docs.bigmodel.cn/cn/faq/api-code ; real answers: agentscope-ai/QwenPaw#202, zai-org/GLM-5#148
        return 429, {"error": {"code": "1113", "message": "余额不足或无可用资源包,请充值。"}}
    if flavor == "kimi":
        # Moonshot: HTTP 429, type exceeded_current_quota_error (no code); the type carries the meaning,
        # the wording varies ("is suspended due to insufficient balance": anomalyco/opencode#24462; "is not
        # active, organization ... exceeded current quota": MoonshotAI/Kimi-K2#5). The second is used here,
        # so that no generic wording rule can stand in for reading the type.
        # https://platform.moonshot.cn/docs/api/chat (error list)
        return 429, {"error": {"message": "Your account org-fake <ak-fake> is not active, organization <org-fake> "
                               "exceeded current quota, please check your plan and billing details",
                               "type": "exceeded_current_quota_error"}}
    if flavor == "doubao":
        # Volcengine Ark: HTTP 403, code AccountOverdueError, type Forbidden.
        # https://www.volcengine.com/docs/82379/1299023 (方舟错误码: 403 Forbidden AccountOverdueError)
        return 403, {"error": {"code": "AccountOverdueError", "message": "The request failed because your account "
                               f"has an overdue balance. Request ID: {rid}", "param": "", "type": "Forbidden"}}
    if flavor == "minimax":
        # MiniMax: HTTP 200, base_resp.status_code 1008.
        # https://platform.minimax.io/docs/api-reference/errorcode (1008 insufficient balance)
        return 200, {"base_resp": {"status_code": 1008, "status_msg": "insufficient balance"}}
    # OpenAI (and the providers that copy its codes): https://platform.openai.com/docs/guides/error-codes
    return 429, _openai("You exceeded your current quota, please check your plan and billing details.",
                        "insufficient_quota", "insufficient_quota")


def refusal(flavor: str, rid: str) -> Answer | None:
    """(status, body) of a content-filter refusal of the request; None where the provider has no
    such answer (OpenAI and Anthropic stop the answer with a finish/stop reason instead)."""
    if flavor == "qwen":
        # https://help.aliyun.com/zh/model-studio/error-code#inappropriate-content ; the OpenAI-shape body
        # as returned in compatible mode: 666ghj/BettaFish#449, Samueli924/chaoxing#539
        return 400, _openai("Input data may contain inappropriate content.", "data_inspection_failed",
                            "data_inspection_failed", id=f"chatcmpl-{rid}", request_id=rid)
    if flavor == "dashscope":
        # dashscope 2.0.2 dashscope/v2/errors.py:46 (DATA_INSPECTION_FAILED → ContentFilterError, 400)
        return 400, {"code": "DataInspectionFailed", "message": "Input data may contain inappropriate content.",
                     "request_id": rid}
    if flavor == "glm":
        # HTTP 400, code "1301": https://docs.bigmodel.cn/cn/faq/api-code ; real answer: langchain4j/langchain4j#1079
        return 400, {"error": {"code": "1301", "message": "系统检测到输入或生成内容可能包含不安全或敏感内容，"
                               "请您避免输入易产生敏感内容的提示语，感谢您的配合。"}}
    if flavor == "doubao":
        # https://www.volcengine.com/docs/82379/1299023 (400 BadRequest InputTextRiskDetection, and the
        # SensitiveContentDetected family)
        return 400, {"error": {"code": "InputTextRiskDetection", "message": "The request could not be processed "
                               f"because the input text includes sensitive content. ARK Request ID: {rid}",
                               "param": "", "type": "BadRequest"}}
    if flavor == "minimax":
        # HTTP 200, base_resp 1026: https://platform.minimax.io/docs/api-reference/errorcode
        return 200, {"base_resp": {"status_code": 1026, "status_msg": "input new_sensitive"}}
    return None


def stream_error(flavor: str) -> bytes:
    """An error event inside a started stream."""
    if flavor == "anthropic":
        # https://docs.anthropic.com/en/api/messages-streaming#error-events ; anthropic 2.14 _streaming.py:99
        body = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
        return encode_sse(orjson.dumps(body), event="error")
    # An OpenAI-style `data: {"error": ...}` frame: openai 3.57 _streaming.py:96 raises on it.
    return encode_sse(orjson.dumps(_openai("The server had an error while processing your request.",
                                           "server_error")))
