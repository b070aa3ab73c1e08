"""What a model asked for structured output answers, as the providers document it.

* OpenAI ``response_format: {type: json_schema, json_schema: {schema, strict: true}}``: the answer
  is JSON that matches the schema (https://platform.openai.com/docs/guides/structured-outputs).
* llama.cpp's server ``response_format: {type: json_object, schema}``: the schema becomes a
  grammar, so the answer matches it (llama_cpp/llama_chat_format.py, _grammar_for_response_format).
* JSON mode ``{type: json_object}`` without a schema (DeepSeek, Qwen, GLM, Kimi docs): the answer
  is JSON; which JSON depends on the prompt — a model that follows the prompt's schema is what we
  model: the instance of the schema given in the last user message after "JSON schema:".
* A forced tool call (OpenAI ``tool_choice: {type: function, function: {name}}``, Anthropic
  ``tool_choice: {type: tool, name}``, https://docs.anthropic.com/en/docs/build-with-claude/tool-use):
  the call's arguments match the tool's parameter schema.

The instance is the smallest one that validates: required (or all) properties, the first enum
value, one item per array, ``$ref`` resolved through ``$defs``. The fault ``bad-json[:N]`` makes
the first N structured answers invalid, for the re-ask path.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

_SCHEMA_IN_TEXT = re.compile(r"JSON schema:\s*(\{.*\})\s*$", re.S)


def instance_of(schema: Any, root: Any = None) -> Any:
    """The smallest value that matches ``schema``."""
    root = root if root is not None else schema
    if not isinstance(schema, dict):
        return None
    if "$ref" in schema:
        ref = schema["$ref"].rsplit("/", 1)[-1]
        return instance_of((root.get("$defs") or root.get("definitions") or {}).get(ref, {}), root)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [o for o in schema[key] if o.get("type") != "null"] or schema[key]
            return instance_of(options[0], root)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {name: instance_of(sub, root) for name, sub in props.items()}
    if kind == "array":
        return [instance_of(schema.get("items", {}), root)]
    return {"string": "fake", "integer": 1, "number": 1.5, "boolean": True, "null": None}.get(kind, "fake")


def schema_asked(body: dict[str, Any], last_user_text: str) -> Any:
    """The schema the request asks the answer to match, or None for a plain answer."""
    fmt = body.get("response_format")
    if isinstance(fmt, dict):
        if fmt.get("type") == "json_schema":
            return (fmt.get("json_schema") or {}).get("schema", {})
        if fmt.get("type") == "json_object" and "schema" in fmt:
            return fmt["schema"]
    if (m := _SCHEMA_IN_TEXT.search(last_user_text)) is not None:
        try:
            return orjson.loads(m.group(1))
        except orjson.JSONDecodeError:
            return None
    if isinstance(fmt, dict) and fmt.get("type") == "json_object":
        return {"type": "object"}
    return None


def forced_tool(body: dict[str, Any]) -> str | None:
    """The tool a request forces (OpenAI or Anthropic spelling), if any."""
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        if choice.get("type") == "function":
            return str((choice.get("function") or {}).get("name"))
        if choice.get("type") == "tool":
            return str(choice.get("name"))
    return None


def answer(schema: Any, broken: bool) -> str:
    return "this is not the JSON you asked for" if broken else orjson.dumps(instance_of(schema)).decode()
