"""Shared fixtures: transformers CLIPs with random weights, saved as a user's checkpoint is."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach the hub

import numpy as np
import pytest


def random_torch_clip(preset: str, seed: int = 0):
    """A transformers CLIPModel with random weights at the shapes of one of our presets."""
    import torch
    from transformers import CLIPConfig, CLIPModel

    from alt_jax.models.clip import get_preset

    torch.manual_seed(seed)
    return CLIPModel(CLIPConfig(**get_preset(preset).to_transformers_dict())).eval()


@pytest.fixture(scope="session")
def saved_clip(tmp_path_factory):
    """preset → (torch model, folder written by save_pretrained); each built once per session."""
    cache = {}

    def get(preset: str):
        if preset not in cache:
            model = random_torch_clip(preset)
            folder = tmp_path_factory.mktemp(preset.replace("/", "_"))
            model.save_pretrained(folder)
            cache[preset] = (model, folder)
        return cache[preset]

    return get


def random_token_ids(rng: np.random.Generator, batch: int, length: int = 77) -> np.ndarray:
    """Token ids shaped like the tokenizer's output: start, random tokens, end, zero padding."""
    ids = np.zeros((batch, length), np.int64)
    for row in range(batch):
        n = int(rng.integers(1, length - 1))
        ids[row, 0] = 49406
        ids[row, 1 : n + 1] = rng.integers(1, 49406, n)
        ids[row, n + 1 if n + 1 < length else length - 1] = 49407
    return ids
