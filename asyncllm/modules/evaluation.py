"""Running a module over its evalset: bounded concurrency, results in input order, progress shown."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import anyio

from .._concurrency import call_any, gather
from .._progress import progress

if TYPE_CHECKING:
    from .base import ModuleBase

__all__ = ["run_evalset"]


async def _load(module: ModuleBase) -> list[Any]:
    data = module._evalset
    load_f = module._eval_load_f
    if isinstance(data, str) and load_f is not None:
        # Read the file off the loop, then let load_f parse the text.
        text = await anyio.Path(data).read_text()
        import io

        data = await call_any(load_f, io.StringIO(text))
    return list(data)


async def run_evalset(module: ModuleBase) -> Any:
    items = await _load(module)
    with progress(f"eval {module.display_name}", total=len(items), unit="items") as shown:

        async def one(item: Any) -> Any:
            out = await (module(**item) if isinstance(item, dict) else module(item))
            shown.update()
            return out

        results = await gather([functools.partial(one, item) for item in items], limit=module._eval_concurrency)
    collect = module._eval_collect_f
    return await call_any(collect, results) if collect is not None else results
