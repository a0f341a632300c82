"""A tiny end-to-end run: its config, its data, and a subprocess entry point.

Used by the trainer tests; as a script it trains a few steps on a mesh given on the command line
(XLA_FLAGS sets the CPU device count before JAX starts) and saves the final parameters, the
losses and the dataset indices this process read at each step:

    python tests/tiny_run.py DATA_ROOT WORKDIR OUT.npz data=4,fsdp=2 STEPS [probe]

Started as one of several processes (JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES, JAX_PROCESS_ID
in the environment) it joins them as `python -m alt_jax.main` does, trains jointly, and each
process writes its own OUT.npz (the parameters gathered from all processes, their initial
values under "initial<path>", and how many frozen arrays changed: "frozen_changed"). With
"probe" the appearance probe is on (2 views) and its fit, before the first step, is saved too
("fitted<path>" of probe_map and probe_mean).
"""

from __future__ import annotations

import json
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from alt_jax.configs_lib import add_eval, base_config, dataset_config  # noqa: E402

ENTITIES = [
    {"unit": "circle", "description": "a round shape"},
    {"unit": "square", "description": "a shape with four equal sides"},
    {"unit": "hand", "description": "the end of the arm"},
    {"unit": "sky", "description": "the atmosphere above"},
]


def make_tiny_data(root: str) -> str:
    """4 classes × 4 train / 2 val synthetic videos of 8 frames at 32 px, and a tiny corpus."""
    from alt_jax.data.synthetic_files import make_synthetic_dataset

    make_synthetic_dataset(
        root, num_classes=4, train_per_class=4, val_per_class=2, num_frames=8, height=32, width=32
    )
    with open(os.path.join(root, "corpus.json"), "w") as f:
        json.dump(ENTITIES, f)
    return root


def tiny_config(root: str, probe: bool = False):
    """A locked run config for the tiny CLIP preset on the tiny data; `probe`: the appearance
    probe on, fitted on 2 views."""
    c = base_config()
    if probe:
        c.model.probe.enabled = True
        c.model.probe.views = 2
    c.model.backbone.preset = "tiny"
    c.model.tome_r = 2
    c.model.num_frames = 4
    c.model.corpus.path = os.path.join(root, "corpus.json")
    c.model.corpus.cache_dir = os.path.join(root, "cache")
    c.model.adapter.depth = 1
    c.model.adapter.heads = 2
    c.model.adapter.width = 32
    common = dict(
        kind="list",
        root=root,
        class_names_file=os.path.join(root, "classes.txt"),
        num_frames=4,
        image_size=32,
        flip=False,
    )
    c.data = dataset_config(
        list_file=os.path.join(root, "train.txt"), split="train", scale_min=0.5, **common
    )
    add_eval(
        c,
        "val",
        dataset_config(
            list_file=os.path.join(root, "val.txt"),
            split="val",
            batch_size=4,
            num_clips=2,
            **common,
        ),
    )
    c.batch_size = 8
    c.num_train_steps = 6
    c.num_epochs = 0
    c.log_every = 1
    c.checkpoint_every = 3
    c.async_checkpoints = False
    c.optim.lr = 1e-3
    c.optim.warmup_steps = 1
    return c


def flat_params(params) -> dict[str, np.ndarray]:
    """Parameters as {path: array} for comparisons."""
    import jax

    return {
        jax.tree_util.keystr(path): np.asarray(leaf)
        for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]
    }


def check_val_report(eval_dir: str | os.PathLike, step: int, metrics: dict) -> None:
    """Recomputes the tiny val set's metrics (4 classes × 2 videos) from the per-class report and
    the confusion counts written at `step`, and compares them with the returned `metrics`."""
    eval_dir = os.fspath(eval_dir)
    with open(os.path.join(eval_dir, f"val_step{step}.json")) as f:
        report = json.load(f)
    per_class = [c["top1"] for c in report["per_class"]]
    assert [c["examples"] for c in report["per_class"]] == [2, 2, 2, 2], report
    assert report["top1"] == metrics["top1"] and report["num_examples"] == 8
    # Two videos per class: top-1 is the hits over 8, and as every class has as many videos,
    # the mean class accuracy equals it.
    assert math.isclose(metrics["top1"], sum(2 * a for a in per_class) / 8), (metrics, report)
    assert math.isclose(metrics["mean_class_accuracy"], sum(per_class) / 4), (metrics, report)
    assert metrics["top5"] == 1.0  # 4 classes: the top 5 hold every class
    # The confusion counts (rows = true class): the diagonal over the row sums is each class's
    # top-1, and every row holds that class's two videos.
    counts = np.asarray(report["confusion"]["counts"])
    assert counts.shape == (4, 4) and counts.sum(axis=1).tolist() == [2, 2, 2, 2]
    np.testing.assert_allclose(np.diag(counts) / 2, per_class)
    assert os.path.exists(os.path.join(eval_dir, f"val_step{step}_confusion.png"))


def main(argv: list[str]) -> None:
    root, workdir, out, mesh, steps = argv[1:6]
    options = set(argv[6:])  # "probe": the appearance probe on (2 views)
    from jax.experimental import multihost_utils

    from alt_jax.main import finish_distributed, maybe_initialize_distributed
    from alt_jax.train.trainer import Trainer

    distributed = maybe_initialize_distributed()
    config = tiny_config(root, probe="probe" in options)
    for item in mesh.split(","):
        axis, size = item.split("=")
        config.mesh[axis] = int(size)
    config.num_train_steps = int(steps)
    trainer = Trainer(config, workdir)

    def gathered(state):
        # Sharded over several processes, arrays are not addressable here: gather them.
        if distributed:
            state = multihost_utils.process_allgather(state, tiled=True)
        return flat_params(state)

    fitted = {}
    fit_probe = trainer.fit_probe

    def recorded_fit(*args, **kwargs):
        """The trainer's probe fit, its result kept (every process gathers it)."""
        params, summary = fit_probe(*args, **kwargs)
        probe = {k: v for k, v in gathered(params).items() if k.startswith("['probe_")}
        fitted.update({f"fitted{k}": v for k, v in probe.items()})
        return params, summary

    trainer.fit_probe = recorded_fit
    initial, frozen = gathered(trainer.params), gathered(trainer.frozen)
    trainer.train()
    losses = [float(entry["loss"]) for entry in trainer.step_log]
    indices = np.stack([entry["index"] for entry in trainer.step_log])
    after = gathered(trainer.frozen)
    frozen_changed = sum(not np.array_equal(after[key], frozen[key]) for key in frozen)
    np.savez(
        out,
        losses=np.asarray(losses),
        indices=indices,
        frozen_changed=np.int64(frozen_changed),
        **fitted,
        **{f"initial{key}": value for key, value in initial.items()},
        **gathered(trainer.params),
    )
    finish_distributed()


if __name__ == "__main__":
    main(sys.argv)
