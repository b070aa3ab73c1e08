"""Per-request session state, kept in a contextvar (never in a process-wide dict).

A :class:`Session` holds what LazyLLM kept in its ``globals``: global parameters per module id,
chat history per module id, files per module id, token usage per module id, the trace sink and
free-form extras. anyio copies the context into child tasks, so every branch of a flow sees
the session of the call that started it, while two concurrent requests (two tasks that each
opened their own session) never see each other's.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._ids import new_id

__all__ = ["Session", "TraceRecord", "current_session", "new_session", "record_usage", "session"]

Usage = dict[str, int]


@dataclass
class TraceRecord:
    """One ``return_trace`` entry: which module produced which output; with tracing on
    (``al.instrument()``), the OpenTelemetry span it was produced in and that span's parent."""

    module: str
    module_id: str
    output: Any
    span_id: int | None = None
    parent_span_id: int | None = None


@dataclass(eq=False)
class Session:
    """Everything one request carries through the module tree."""

    id: str = field(default_factory=new_id)
    global_parameters: dict[str, dict[str, Any]] = field(default_factory=dict)
    chat_history: dict[str, list[Any]] = field(default_factory=dict)
    files: dict[str, list[str]] = field(default_factory=dict)
    usage: dict[str, Usage] = field(default_factory=dict)
    # Every usage record in arrival order, never popped: totals stay readable after calls return.
    usage_log: list[tuple[str, Usage]] = field(default_factory=list)
    trace: list[Any] = field(default_factory=list)  # the outputs of return_trace modules, in order
    trace_records: list[TraceRecord] = field(default_factory=list)  # the same, with who and where
    trace_sink: Callable[[str, Any], None] | None = None
    # The conversation a served module's OpenAI face received before the message it answers
    # (``{"role", "content"}`` dicts, system prompts included), for modules that take no history.
    conversation: list[dict[str, Any]] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)

    def trace_tree(self) -> list[dict[str, Any]]:
        """The ``return_trace`` records as a tree ``[{"module", "output", "children": [...]}]``.

        With tracing on, a record's parent is the nearest enclosing module that also recorded
        (the same nesting as the span tree); without it, every record is a root, in order.
        """
        nodes = {id(r): {"module": r.module, "output": r.output, "children": []} for r in self.trace_records}
        by_span = {r.span_id: r for r in self.trace_records if r.span_id is not None}
        parents = {r.span_id: r.parent_span_id for r in self.trace_records if r.span_id is not None}
        roots: list[dict[str, Any]] = []
        for r in self.trace_records:
            parent = r.parent_span_id
            while parent is not None and parent not in by_span:
                parent = parents.get(parent)  # a span that recorded nothing: look further up
            (nodes[id(by_span[parent])]["children"] if parent is not None else roots).append(nodes[id(r)])
        return roots

    def total_usage(self) -> Usage:
        """Sum of every usage record of this session (``-1`` counts stay ``-1``)."""
        total = {"prompt_tokens": 0, "completion_tokens": 0}
        for _, usage in self.usage_log:
            for key in total:
                value = usage.get(key, 0)
                total[key] = -1 if value == -1 or total[key] == -1 else total[key] + value
        return total

    def to_wire(self) -> dict[str, Any]:
        """The JSON-safe part that travels to a served module (see serving/wire)."""
        return {
            "id": self.id,
            "global_parameters": self.global_parameters,
            "chat_history": self.chat_history,
            "files": self.files,
        }

    def update_from_wire(self, data: Mapping[str, Any]) -> None:
        for key in ("global_parameters", "chat_history", "files"):
            value = data.get(key)
            if isinstance(value, dict):
                getattr(self, key).update(value)
        if isinstance(data.get("id"), str):
            self.id = data["id"]


_session: contextvars.ContextVar[Session | None] = contextvars.ContextVar("asyncllm_session", default=None)

# Set (never cleared) before the first session is bound anywhere in the process. Until then no
# call can be inside a session, so ModuleBase.__call__ and Pipeline.forward read this plain
# module global instead of the context variable (a C call, ~30 ns, twice a call): a program
# that never opens a session pays nothing for the feature. Every ``_session.set`` is in this file.
sessions_seen = False


def _bind(sess: Session) -> contextvars.Token[Session | None]:
    global sessions_seen
    sessions_seen = True
    return _session.set(sess)


def current_session() -> Session:
    """The session of the running request, created (and bound to this context) on first use."""
    sess = _session.get()
    if sess is None:
        sess = Session()
        _bind(sess)
    return sess


def peek_session() -> Session | None:
    """The current session if one exists, without creating it."""
    return _session.get()


@contextlib.contextmanager
def session(sess: Session | None = None, **fields: Any) -> Iterator[Session]:
    """Run a block in its own session: ``with al.session() as s: s.chat_history[m.id] = [...]``."""
    sess = sess or Session(**fields)
    token = _bind(sess)
    try:
        yield sess
    finally:
        _session.reset(token)


def new_session(**fields: Any) -> Session:
    """Bind a fresh session to the current context (for a request handler) and return it."""
    sess = Session(**fields)
    _bind(sess)
    return sess


def record_usage(module_id: str, usage: Mapping[str, int], parent_id: str | None = None) -> None:
    """Store a module's token usage and add it to its parent's (``used_by``) entry.

    A ``-1`` count means 'unknown'; once a parent sees one, its total stays unknown.
    """
    sess = _session.get()
    if sess is None:
        # Nobody opened a session to read this into. Binding one here, to a task this code does
        # not own, kept every later call's record in it for as long as the task lived (a worker
        # looping over model calls grew without bound).
        return
    own = {"prompt_tokens": int(usage.get("prompt_tokens", -1)),
           "completion_tokens": int(usage.get("completion_tokens", -1))}
    sess.usage[module_id] = own
    sess.usage_log.append((module_id, own))
    if parent_id is None:
        return
    existing = sess.usage.get(parent_id)
    if existing is None:
        sess.usage[parent_id] = dict(own)
    elif existing["prompt_tokens"] == -1 or own["prompt_tokens"] == -1:
        sess.usage[parent_id] = {"prompt_tokens": -1, "completion_tokens": -1}
    else:
        for key in existing:
            existing[key] += own.get(key, 0)
