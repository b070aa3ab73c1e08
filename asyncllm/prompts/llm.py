"""The builders every LLM-backed module shares: ``prompt()``, ``formatter()``, ``share()`` and ``|``.

Online providers and local engines (TrainableModule) both mix this in, as LazyLLM's ``LLMBase``
did: the prompter turns a call's input into messages, the formatter turns the answer into the
call's value, and ``share()`` gives a new module (new id, so its own session entries and usage)
on the same endpoint or deployment.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Self

from .._exceptions import ConfigError
from .base import EmptyPrompter, PrompterBase
from .chat import ChatPrompter
from .formatters import FormatterBase, FormatterChain, as_formatter

__all__ = ["LLMBuilders"]

_UNSET: Any = object()


class LLMBuilders:
    """Mixed into ModuleBase subclasses that hold ``_prompt``, ``_formatter`` and ``_stream``."""

    _prompt: PrompterBase
    _formatter: FormatterBase
    _stream: bool
    # Per-instance state a share must build afresh rather than inherit (cached clients, say).
    _share_drops: ClassVar[tuple[str, ...]] = ()

    def prompt(self, prompt: str | dict[str, str] | PrompterBase | None = None,
               history: Sequence[Any] | None = None) -> Self:
        """``None`` → no template (the input is the user turn); a str/dict → :class:`ChatPrompter`;
        a prompter as is."""
        if prompt is None:
            if history:
                raise ConfigError("history needs a prompt: pass prompt='' (a ChatPrompter) to keep history")
            self._prompt = EmptyPrompter()
        elif isinstance(prompt, PrompterBase):
            self._prompt = prompt
        elif isinstance(prompt, (str, dict)):
            self._prompt = ChatPrompter(prompt, history=history)
        else:
            raise ConfigError(f"prompt() takes a str, a dict, a prompter or None, got {type(prompt).__name__}")
        return self

    def formatter(self, format: Any = None) -> Self:
        """Set what a call returns (see asyncllm.prompts.formatters); None → the text."""
        self._formatter = as_formatter(format)
        return self

    def share(self, prompt: Any = _UNSET, format: Any = _UNSET, stream: bool | None = None,
              history: Sequence[Any] | None = None) -> Self:
        """A new module (new id) on the same endpoint/deployment, with its own
        prompt/formatter/stream when given (else the same prompter object, as in LazyLLM)."""
        new: Self = self._shallow_clone()  # type: ignore[attr-defined]
        for key in self._share_drops:
            new.__dict__.pop(key, None)
        if prompt is not _UNSET or history is not None:
            new.prompt(None if prompt is _UNSET else prompt, history=history)
        if format is not _UNSET:
            new.formatter(format)
        if stream is not None:
            new._stream = stream
        return new

    @property
    def takes_chat_history(self) -> bool:
        """Whether a call takes ``llm_chat_history`` (a served chat face hands it the conversation)."""
        return True

    @property
    def reported_model(self) -> str | None:
        """The model this module answers with, for a server to report (``/v1/models``)."""
        return getattr(self, "model", None)

    def __or__(self, other: Any) -> Self:
        """``m | formatter``: a share whose formatter runs after this one's."""
        fmt = other if self._formatter.is_empty else FormatterChain(self._formatter, other)
        return self.share(format=fmt)
