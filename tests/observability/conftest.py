"""Observability tests (tracing, metrics): an OpenTelemetry SDK tracer provider with an in-memory
exporter, instrumentation on for the test and off after it; the fake provider for model calls."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fakeprovider.fixtures import clear_key_env

import asyncllm as al

sdk = pytest.importorskip("opentelemetry.sdk.trace")
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_key_env(monkeypatch)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = sdk.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    al.instrument(tracer_provider=provider)
    try:
        yield exporter
    finally:
        al.instrument(False)
        provider.shutdown()
