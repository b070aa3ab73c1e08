"""Training methods for ``TrainableModule.train_method(al.train.X).mode('train')`` (the seed's
``train`` namespace): ``auto``, full-parameter training; fine-tuning is ``al.finetune``."""

from __future__ import annotations

from .auto import Auto, auto, pick_trainer

__all__ = ["Auto", "auto", "pick_trainer"]
