"""Model families: their type, tool-call tokens and how tools are described to them.

Local engines apply the model's own chat template (llama.cpp reads it from the GGUF, vLLM from
the tokenizer), but most small models have no native tool calling in the server: the tools are
written into the system prompt in the format the model was trained on, and the calls come back
as raw text between the family's tool tokens, parsed by :mod:`asyncllm.trainable.toolcalls`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["FAMILIES", "ModelFamily", "family_of"]


def _tool_specs(tools: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [t.get("function", t) for t in tools]


def _smollm2_tools(tools: Sequence[dict[str, Any]]) -> str:
    # The format SmolLM2-Instruct was tuned with (its model card): a JSON list inside <tool_call>.
    return (
        "You are an expert in composing functions. You are given a question and a set of possible functions.\n"
        "Based on the question, you will need to make one or more function/tool calls to achieve the purpose.\n"
        "If none of the functions can be used, point it out and refuse to answer.\n\n"
        "You have access to the following tools:\n<tools>"
        + json.dumps(_tool_specs(tools), ensure_ascii=False)
        + "</tools>\n\nThe output MUST strictly adhere to the following format, and NO other text MUST be "
        "included.\nThe example format is as follows. Please make sure the parameter type is correct.\n"
        "<tool_call>[\n{\"name\": \"func_name1\", \"arguments\": {\"argument1\": \"value1\"}},\n"
        "... (more tool calls as required)\n]</tool_call>"
    )


def _hermes_tools(tools: Sequence[dict[str, Any]]) -> str:
    # Qwen2/2.5 and other Hermes-style models.
    lines = "\n".join(json.dumps(t, ensure_ascii=False) for t in tools)
    return (
        "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
        "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n" + lines
        + "\n</tools>\n\nFor each function call, return a json object with function name and arguments within "
        "<tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": "
        "<args-json-object>}\n</tool_call>"
    )


def _internlm_tools(tools: Sequence[dict[str, Any]]) -> str:
    return ("You have access to the following plugins; call one as <|action_start|><|plugin|>"
            "{\"name\": ..., \"parameters\": {...}}<|action_end|>\n"
            + json.dumps(_tool_specs(tools), ensure_ascii=False))


@dataclass(frozen=True)
class ModelFamily:
    """What asyncllm knows about a family of models."""

    name: str
    pattern: str  # regex matched (case-insensitively) against the model name or file name
    type: str = "llm"
    tool_start_token: str | None = None
    tool_args_token: str | None = None
    tool_end_token: str | None = None
    tool_prompt: Callable[[Sequence[dict[str, Any]]], str] | None = None
    stop: tuple[str, ...] = ()

    def matches(self, name: str) -> bool:
        return re.search(self.pattern, name, re.IGNORECASE) is not None

    @property
    def tool_keys(self) -> dict[str, str]:
        return {k: v for k, v in (("tool_start_token", self.tool_start_token),
                                   ("tool_args_token", self.tool_args_token),
                                   ("tool_end_token", self.tool_end_token)) if v}


FAMILIES: tuple[ModelFamily, ...] = (
    ModelFamily("rerank", r"rerank|cross-encoder|ms-marco", type="rerank"),
    ModelFamily("embedding", r"minilm|bge|e5-|gte-|text2vec|embed|mpnet|sentence-transformers", type="embed"),
    ModelFamily("smollm2", r"smollm", tool_start_token="<tool_call>", tool_end_token="</tool_call>",
                tool_prompt=_smollm2_tools),
    ModelFamily("qwen", r"qwen", tool_start_token="<tool_call>", tool_end_token="</tool_call>",
                tool_prompt=_hermes_tools),
    ModelFamily("internlm", r"internlm", tool_start_token="<|action_start|><|plugin|>",
                tool_end_token="<|action_end|>", tool_prompt=_internlm_tools),
    ModelFamily("sensechat", r"sensechat", tool_start_token="<|function|>", tool_args_token="<|args|>",
                tool_end_token="<|action_end|>"),
    ModelFamily("llama3", r"llama-?3", tool_start_token="<|python_tag|>", tool_end_token="<|eom_id|>"),
)

GENERIC = ModelFamily("generic", r"$^")


def family_of(name: str) -> ModelFamily:
    """The first family whose pattern matches ``name`` (a model name or path), else a generic LLM."""
    for fam in FAMILIES:
        if fam.matches(name):
            return fam
    return GENERIC
