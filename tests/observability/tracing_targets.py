"""What the tracing tests serve, importable by path so a subprocess server serves it too.

A served process instruments itself, as any service does: when ``TRACE_FILE`` is set (the
subprocess launcher's ``env=``), importing this module sets up an SDK tracer provider that writes
each finished span as one JSON line to that file, and turns asyncllm's tracing on.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import asyncllm as al


def shout(text: str) -> str:
    return text.upper()


served_flow = al.pipeline(shout, _name="served-flow")


def _file_exporter(path: str) -> Any:
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    class FileExporter(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            with open(path, "a") as f:
                for s in spans:
                    f.write(json.dumps({
                        "name": s.name, "trace_id": s.context.trace_id, "span_id": s.context.span_id,
                        "parent_id": s.parent.span_id if s.parent else None, "kind": s.kind.name,
                        "attributes": dict(s.attributes or {}),
                    }) + "\n")
            return SpanExportResult.SUCCESS

    return FileExporter()


if path := os.environ.get("TRACE_FILE"):
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    _provider = TracerProvider()
    _provider.add_span_processor(SimpleSpanProcessor(_file_exporter(path)))
    al.instrument(tracer_provider=_provider)
