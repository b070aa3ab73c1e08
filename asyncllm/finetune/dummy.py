"""``finetune.dummy``: logs its arguments and returns the target path (as in the seed).

``dummy finetune!, and init-args is {...}`` goes to the ``asyncllm.finetune`` logger; nothing
is trained, so the deploy that follows serves what it would have served anyway.
"""

from __future__ import annotations

from .base import Finetuner, log

__all__ = ["Dummy", "dummy"]


class Dummy(Finetuner):
    name = "dummy"
    needs_model = False

    async def __call__(self, base_model: str, target_path: str, trainset: str | None) -> str:
        log.info("dummy finetune!, and init-args is %s", self.kw)
        await self.report({"event": "done", "target_path": target_path})
        return target_path


dummy = Dummy
