"""Prompters (input → chat messages) and formatters (assistant message → result).

A prompter turns what a module was called with (a string, a dict of fields, a message list),
the chat history and the tools into an OpenAI-style ``{"messages": [...], "tools": [...]}``.
A formatter turns the model's assistant message into what the call returns; formatters chain
with ``|``. The ``<lazyllm-query>`` codec (a query with file paths) is here too, where the
seed's ``components.formatter`` has it.
"""

from __future__ import annotations

from .._query import decode_query_with_filepaths, encode_query_with_filepaths
from .base import EmptyPrompter, PrompterBase
from .chat import AlpacaPrompter, ChatPrompter
from .formatters import (
    EmptyFormatter,
    FormatterBase,
    FormatterChain,
    FunctionCallFormatter,
    JsonFormatter,
    as_formatter,
)

__all__ = [
    "AlpacaPrompter",
    "ChatPrompter",
    "EmptyFormatter",
    "EmptyPrompter",
    "FormatterBase",
    "FormatterChain",
    "FunctionCallFormatter",
    "JsonFormatter",
    "PrompterBase",
    "as_formatter",
    "decode_query_with_filepaths",
    "encode_query_with_filepaths",
]
