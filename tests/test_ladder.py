"""benchmarks/ladder.py: the linear head trained as ALT, and --merge of earlier results."""

import json

import numpy as np
import pytest

from alt_jax.configs_lib import base_config
from benchmarks import ladder


def _views(rng, n: int, frames: int, dim: int, direction: np.ndarray, labels: np.ndarray):
    """Class tokens [n, T, d]: a shared component along e_0 (what the class texts see) plus the
    class's own sign pattern along `direction`, orthogonal to every class text."""
    cls = np.zeros((n, frames, dim), np.float32)
    cls[..., 0] = 5.0
    signs = np.where((labels[:, None] >> np.arange(3)) & 1, 1.0, -1.0)  # [n, 3]
    cls += (signs @ direction)[:, None, :]
    cls += 0.1 * rng.standard_normal(cls.shape).astype(np.float32)
    return cls


def test_linear_head_learns_what_the_class_texts_cannot_see():
    """8 classes told apart only along directions orthogonal to the class texts: the frame
    average alone (W = 0) is at chance, the trained linear head above 90 %."""
    rng = np.random.default_rng(0)
    frames, dim, classes = 4, 16, 8
    direction = np.eye(dim, dtype=np.float32)[8:11]  # 3 bits → 8 classes
    class_emb = np.eye(dim, dtype=np.float32)[:classes] + np.eye(dim, dtype=np.float32)[0]
    labels = np.repeat(np.arange(classes), 12)
    views = [{"cls": _views(rng, len(labels), frames, dim, direction, labels), "label": labels}]
    # The other cached features (unused by the head, batched alongside as the cache has them).
    views[0]["ln"] = np.zeros((len(labels), frames, 2, 4), np.float32)
    views[0]["dest"] = np.zeros((len(labels), frames, 2), np.int32)
    val_labels = np.repeat(np.arange(classes), 4)
    val = {"cls": _views(rng, len(val_labels), frames, dim, direction, val_labels)[:, None]}
    val["label"] = val_labels
    config = base_config()
    config.batch_size, config.num_train_steps = 16, 150
    config.optim.lr, config.optim.warmup_steps = 2e-2, 10
    trained = ladder.linear_head(config, views, val, class_emb, seed=0)
    config.num_train_steps = 0
    untrained = ladder.linear_head(config, views, val, class_emb, seed=0)
    assert untrained <= 0.25 and trained >= 0.9, (untrained, trained)


def test_merge_refuses_another_protocol(tmp_path):
    path = tmp_path / "ladder.json"
    earlier = {
        "tasks": {"order": {"rows": {}}},
        "command": "PYTHONPATH=. python benchmarks/ladder.py --tasks=order",
        "protocol": {"seeds": [0, 1, 2], "overrides": {}},
    }
    path.write_text(json.dumps(earlier))
    tasks, commands = ladder.merged_tasks(str(path), [0, 1, 2], {})
    assert tasks == earlier["tasks"] and commands == [earlier["command"]]
    with pytest.raises(SystemExit, match="differ from this run's"):
        ladder.merged_tasks(str(path), [0, 1], {})
    with pytest.raises(SystemExit, match="differ from this run's"):
        ladder.merged_tasks(str(path), [0, 1, 2], {"model.gate_init": 0.0})
