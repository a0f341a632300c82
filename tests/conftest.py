"""Shared fixture: a tiny synthetic video dataset."""

from __future__ import annotations

import pytest

from alt_jax.data import synthetic

TINY = dict(num_classes=3, train_per_class=4, val_per_class=2, num_frames=16, height=48,
            width=64, seed=0)


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> str:
  """A 3-class synthetic dataset of 64×48, 16-frame mp4s (train 12, val 6)."""
  root = str(tmp_path_factory.mktemp("tiny"))
  synthetic.make_synthetic_dataset(root, **TINY)
  return root
