"""``TrainableModule`` and what it needs: model resolution, model families, tool-call parsing."""

from __future__ import annotations

from .families import FAMILIES, ModelFamily, family_of
from .models import KNOWN_MODELS, ResolvedModel, model_type, resolve_model
from .module import TrainableModule
from .toolcalls import ToolTokenGate, parse_tool_calls, to_openai_calls

__all__ = ["FAMILIES", "KNOWN_MODELS", "ModelFamily", "ResolvedModel", "ToolTokenGate", "TrainableModule",
           "family_of", "model_type", "parse_tool_calls", "resolve_model", "to_openai_calls"]
