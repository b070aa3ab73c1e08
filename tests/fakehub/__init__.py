"""A fake Hugging Face Hub on 127.0.0.1: the few endpoints ``huggingface_hub`` calls to download a
model (``HF_ENDPOINT`` points it here). See :mod:`fakehub.app`."""

from .app import FakeHub, Repo, running_fake_hub

__all__ = ["FakeHub", "Repo", "running_fake_hub"]
