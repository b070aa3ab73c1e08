"""Structured outputs: ``await chat(x, output_type=T)`` returns a validated ``T``.

``T`` is a pydantic model, a dataclass (validated through pydantic) or a JSON schema (a dict,
validated with ``jsonschema``); a ``T`` whose package is missing is a MissingDependencyError.

Each provider class says how it can be asked for JSON (``structured_output``):

* ``json_schema`` — OpenAI's ``response_format: {type: json_schema, json_schema: {name, schema,
  strict}}`` (OpenAI, vLLM, SGLang): the provider constrains the answer to the schema;
* ``json_object_schema`` — llama.cpp's server: ``response_format: {type: json_object, schema}``
  compiles the schema into a grammar (llama_cpp/llama_chat_format.py);
* ``json_object`` — JSON mode without a schema (DeepSeek, Qwen, GLM, Kimi, ...): the schema goes
  into the request's text;
* ``tool`` — one forced tool call whose arguments are the answer (Claude: tool_choice);
* ``prompt`` — no native mode: the schema goes into the text and the answer is parsed.

An answer that does not validate is asked again with the validation error (``output_retries``,
2 by default), then :class:`~asyncllm.OutputValidationError` carries the raw text. Each answer is
streamed when ``streams_upstream`` says so (a cancel then stops the model) and parsed once whole;
a provider class with ``structured_streams = False`` is asked with one plain request.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import orjson

from .._exceptions import ConfigError, MissingDependencyError, OutputValidationError
from ..prompts.formatters import JsonFormatter

__all__ = ["MODES", "OutputSchema", "request_options"]

MODES = ("json_schema", "json_object_schema", "json_object", "tool", "prompt")


class OutputSchema:
    """An ``output_type`` as a JSON schema, a name, and a parser that validates."""

    def __init__(self, output_type: Any) -> None:
        self.output_type = output_type
        if isinstance(output_type, dict):
            try:
                import jsonschema
            except ImportError as exc:
                raise MissingDependencyError("jsonschema", "structured", "output_type given as a JSON schema") \
                    from exc
            try:
                jsonschema.validators.validator_for(output_type).check_schema(output_type)
            except jsonschema.SchemaError as exc:
                raise ConfigError(f"output_type is not a valid JSON schema: {exc.message}") from exc
            self.schema: dict[str, Any] = output_type
            self.name = _name(str(output_type.get("title") or "answer"))
            self._adapter: Any = None
            return
        if not isinstance(output_type, type):
            raise ConfigError(f"output_type must be a pydantic model, a dataclass or a JSON schema dict, "
                              f"got {output_type!r}")
        try:
            import pydantic
        except ImportError as exc:
            raise MissingDependencyError("pydantic", "structured", f"output_type={output_type.__name__}") from exc
        if not (issubclass(output_type, pydantic.BaseModel) or dataclasses.is_dataclass(output_type)):
            raise ConfigError(f"output_type must be a pydantic model, a dataclass or a JSON schema dict, "
                              f"got the class {output_type.__name__}")
        self._adapter = pydantic.TypeAdapter(output_type)
        self.schema = self._adapter.json_schema()
        self.name = _name(output_type.__name__)

    def instructions(self) -> str:
        return ("Answer with only one JSON value, no other text, that matches this JSON schema:\n"
                + orjson.dumps(self.schema).decode())

    def parse(self, text: str) -> Any:
        """The validated value; a :class:`ValueError` that says what is wrong otherwise."""
        if self._adapter is not None:
            import pydantic

            try:
                return self._adapter.validate_json(_json_text(text))
            except pydantic.ValidationError as exc:
                raise ValueError(str(exc)) from None
        import jsonschema

        try:
            value = orjson.loads(_json_text(text))
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"not JSON: {exc}") from None
        try:
            jsonschema.validate(value, self.schema)
        except jsonschema.ValidationError as exc:
            raise ValueError(exc.message) from None
        return value


def _name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", text)[:64] or "answer"


def _json_text(text: str) -> str:
    """The JSON in a model's answer: as it is, or inside a ```json fence / surrounding prose."""
    stripped = text.strip()
    if stripped[:1] in ("{", "[") and stripped[-1:] in ("}", "]"):
        return stripped
    try:
        return orjson.dumps(JsonFormatter.parse(text)).decode()
    except Exception:
        return stripped


def request_options(mode: str, schema: OutputSchema) -> tuple[dict[str, Any], bool]:
    """The request parameters for ``mode``, and whether the schema must also go into the text."""
    if mode == "json_schema":
        return {"response_format": {"type": "json_schema", "json_schema": {
            "name": schema.name, "schema": schema.schema, "strict": True}}}, False
    if mode == "json_object_schema":
        return {"response_format": {"type": "json_object", "schema": schema.schema}}, False
    if mode == "json_object":
        return {"response_format": {"type": "json_object"}}, True
    if mode == "tool":
        return {"tools": [{"type": "function", "function": {
                    "name": schema.name, "description": "Give the answer as this tool's arguments.",
                    "parameters": schema.schema}}],
                "tool_choice": {"type": "function", "function": {"name": schema.name}}}, False
    if mode == "prompt":
        return {}, True
    raise ConfigError(f"unknown structured output mode {mode!r}; use one of {', '.join(MODES)}")


def raise_invalid(raw: str, errors: str, attempts: int) -> OutputValidationError:
    return OutputValidationError(
        f"the model's answer did not match output_type after {attempts} attempt(s): {errors[:300]} "
        "(the answer is on .raw; raise output_retries, or use a model that supports structured output)",
        raw=raw, errors=errors, attempts=attempts)
