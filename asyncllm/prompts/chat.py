"""``ChatPrompter``: an instruction (system text with ``{placeholders}``), fixed history, tools.

Rules (kept from LazyLLM's chat prompter):

* The system message is ``system`` and the instruction joined by a newline (each optional).
* A ``{name}`` in the instruction is a placeholder. A **str** input with one placeholder
  fills it, and the user turn is then empty. A **dict** input fills the placeholders by name;
  if exactly one value is left it becomes the user turn, several left are sent as JSON.
* Without placeholders the input is the user turn.
* A dict instruction ``{"system": ..., "user": ...}``: ``system`` as above; ``user`` is a
  template for the user turn (its placeholders are filled the same way, or, without any,
  it is put before the input).
* Only ``{identifier}`` counts as a placeholder, so JSON examples in an instruction survive.

``AlpacaPrompter`` is the same with the Alpaca-style task preamble in front of the instruction.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from .._exceptions import ConfigError
from .base import Message, PrompterBase, user_content

__all__ = ["AlpacaPrompter", "ChatPrompter"]

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def placeholders(template: str) -> list[str]:
    seen: dict[str, None] = {}
    for name in _PLACEHOLDER.findall(template):
        seen.setdefault(name, None)
    return list(seen)


def fill(template: str, values: dict[str, Any]) -> str:
    def sub(m: re.Match[str]) -> str:
        v = values.get(m.group(1))
        return m.group(0) if v is None else (v if isinstance(v, str) else str(v))
    return _PLACEHOLDER.sub(sub, template)


class ChatPrompter(PrompterBase):
    """A chat prompt: instruction (str or ``{"system", "user"}`` dict), history, tools."""

    def __init__(self, instruction: str | dict[str, str] | None = None, *, history: Sequence[Any] | None = None,
                 tools: Sequence[dict[str, Any]] | None = None, system: str | None = None) -> None:
        super().__init__(history=history, tools=tools, system=system)
        if isinstance(instruction, dict):
            unknown = set(instruction) - {"system", "user"}
            if unknown:
                raise ConfigError(f"a dict instruction takes the keys 'system' and 'user', not {sorted(unknown)}")
            self._instruction = instruction.get("system") or ""
            self._user_template = instruction.get("user") or ""
        elif instruction is None or isinstance(instruction, str):
            self._instruction = instruction or ""
            self._user_template = ""
        else:
            raise ConfigError(f"instruction must be a str or a dict, got {type(instruction).__name__}")
        self._sys_keys = placeholders(self._instruction)
        self._user_keys = placeholders(self._user_template)

    @property
    def instruction(self) -> str:
        return self._instruction

    def _system_text(self, instruction: str) -> str | None:
        parts = [p for p in (self.system, instruction) if p]
        return "\n".join(parts) if parts else None

    def conversation_system(self) -> str | None:
        return self._system_text(self._instruction if not self._sys_keys else "")

    def build_messages(self, input: Any) -> tuple[str | None, list[Message]]:
        keys = self._sys_keys + [k for k in self._user_keys if k not in self._sys_keys]
        if not keys:
            content: Any = user_content("" if input is None else input)
            if self._user_template and isinstance(content, str):
                content = self._user_template + content
            return self._system_text(self._instruction), [{"role": "user", "content": content}]
        if isinstance(input, dict):
            values = dict(input)
        elif len(keys) == 1:
            values = {keys[0]: "" if input is None else input}
        else:
            raise ConfigError(
                f"the prompt has placeholders {keys}; pass a dict input with those keys, not a "
                f"{type(input).__name__}"
            )
        missing = [k for k in keys if k not in values]
        if missing:
            raise ConfigError(f"the input has no value for the prompt placeholders {missing}; add those keys")
        system = self._system_text(fill(self._instruction, values))
        left = {k: v for k, v in values.items() if k not in keys}
        if self._user_template:
            head = fill(self._user_template, values)
            rest = "" if not left else user_content(next(iter(left.values())) if len(left) == 1 else left)
            content = head + rest if isinstance(rest, str) else rest
        elif not left:
            content = ""
        elif len(left) == 1:
            content = user_content(next(iter(left.values())))
        else:
            content = user_content(left)
        return system, [{"role": "user", "content": content}]

    def __repr__(self) -> str:
        return f"<ChatPrompter instruction={self._instruction[:40]!r}>"


_ALPACA_PREAMBLE = (
    "The following is an instruction describing a task, possibly with extra input giving context. "
    "Write a response that completes the task.\n\n### Instruction:\n"
)


class AlpacaPrompter(ChatPrompter):
    """A ChatPrompter whose instruction is wrapped in the Alpaca task format."""

    def __init__(self, instruction: str | dict[str, str] | None = None, **kw: Any) -> None:
        if isinstance(instruction, dict):
            instruction = {**instruction, "system": _ALPACA_PREAMBLE + (instruction.get("system") or "")}
        else:
            instruction = _ALPACA_PREAMBLE + (instruction or "")
        super().__init__(instruction, **kw)
