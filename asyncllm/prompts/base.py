"""``PrompterBase`` (the contract) and ``EmptyPrompter`` (input passed through as the user turn).

Every prompter produces OpenAI-style chat messages; providers with another wire format
(Anthropic) convert from that one shape, so a prompter never knows the provider.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from .._exceptions import ConfigError

__all__ = ["EmptyPrompter", "Message", "PrompterBase", "history_messages"]

Message = dict[str, Any]


def history_messages(history: Sequence[Any] | None) -> list[Message]:
    """Chat history as messages: ``[q, a]`` pairs → user/assistant turns; dicts kept verbatim."""
    if not history:
        return []
    out: list[Message] = []
    for i, item in enumerate(history):
        if isinstance(item, dict):
            if "role" not in item:
                raise ConfigError(f"history item {i} is a dict without 'role': pass {{'role': ..., 'content': ...}}")
            out.append(item)
        elif isinstance(item, (list, tuple)) and len(item) == 2:
            q, a = item
            out.append({"role": "user", "content": q})
            if a is not None:
                out.append({"role": "assistant", "content": a})
        else:
            raise ConfigError(
                f"history item {i} must be a [question, answer] pair or a message dict, got {type(item).__name__}"
            )
    return out


def user_content(value: Any) -> Any:
    """What goes into a user message for a call input: text as is, other values as JSON text."""
    if isinstance(value, str) or (isinstance(value, list) and all(isinstance(p, dict) for p in value)):
        return value
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


class PrompterBase:
    """Turns a call's input, history and tools into ``{"messages": [...], "tools"?: [...]}``.

    Subclasses override :meth:`build_messages`; ``tools`` and history handling are shared.
    """

    def __init__(self, history: Sequence[Any] | None = None, tools: Sequence[dict[str, Any]] | None = None,
                 system: str | None = None) -> None:
        self._history = history_messages(history)
        self._tools = list(tools) if tools else None
        self.system = system

    @property
    def tools(self) -> list[dict[str, Any]] | None:
        return self._tools

    def conversation_system(self) -> str | None:
        """The system text put before a ready-made message list."""
        return self.system

    def build_messages(self, input: Any) -> tuple[str | None, list[Message]]:
        """(system text or None, the current turn's messages) for one input."""
        raise NotImplementedError

    def generate_prompt(self, input: Any = None, history: Sequence[Any] | None = None,
                        tools: Sequence[dict[str, Any]] | None = None) -> dict[str, Any]:
        if isinstance(input, list) and input and all(isinstance(m, dict) and "role" in m for m in input):
            system, turn = self.conversation_system(), list(input)  # a ready conversation: used as given
        else:
            system, turn = self.build_messages(input)
        messages: list[Message] = []
        if system:
            messages.append({"role": "system", "content": system})
        if self._history:
            messages.extend(self._history)
        if history:
            messages.extend(history_messages(history))
        messages.extend(turn)
        out: dict[str, Any] = {"messages": messages}
        chosen = tools if tools is not None else self._tools
        if chosen:
            out["tools"] = list(chosen)
        return out

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


class EmptyPrompter(PrompterBase):
    """No template: the input is the user turn (dicts and other values sent as JSON text)."""

    def build_messages(self, input: Any) -> tuple[str | None, list[Message]]:
        return self.system, [{"role": "user", "content": user_content("" if input is None else input)}]

    def generate_prompt(self, input: Any = None, history: Sequence[Any] | None = None,
                        tools: Sequence[dict[str, Any]] | None = None) -> dict[str, Any]:
        # The hot path of every plain chat call: skip the general machinery when it can.
        if isinstance(input, str) and not history and not self._history and not self.system:
            out: dict[str, Any] = {"messages": [{"role": "user", "content": input}]}
            chosen = tools if tools is not None else self._tools
            if chosen:
                out["tools"] = list(chosen)
            return out
        return super().generate_prompt(input, history, tools)
