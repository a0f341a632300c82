"""ALT on Kinetics-400, fully supervised (docs/method.md §7).

    python -m alt_jax.main --config=configs/k400.py --workdir=DIR \
        --config.data.root=/data/k400/train --config.data.list_file=/data/k400/train.csv \
        --config.evals.k400_val.root=/data/k400/val \
        --config.evals.k400_val.list_file=/data/k400/validate.csv \
        --config.model.backbone.source=/path/to/clip-vit-base-patch16

Argument variants: `configs/k400.py:backbone=L/14`, `:frames=16`, `:frames=32,backbone=L/14`.
Test views: 3 temporal clips × 1 centre crop (`views=4x3` for 4 clips × 3 crops).
"""

from alt_jax.configs_lib import (
    add_eval,
    base_config,
    dataset_config,
    parse_config_arg,
    set_backbone,
)
from alt_jax.resources import SHIPPED_CORPUS


def get_config(arg: str = ""):
    opts = parse_config_arg(arg, backbone="B/16", frames=8, views="3x1")
    clips, crops = (int(v) for v in opts.views.split("x"))
    c = base_config()
    # Both shipped inside the package (alt_jax/resources), found from any folder.
    c.model.corpus.path = SHIPPED_CORPUS
    kinetics = dict(kind="kinetics_csv", class_names_file="alt_jax:labels/k400.txt")
    c.data = dataset_config(split="train", **kinetics)
    add_eval(
        c,
        "k400_val",
        dataset_config(
            split="validate", num_clips=clips, num_crops=crops, batch_size=4, **kinetics
        ),
    )
    set_backbone(c, opts.backbone, opts.frames)
    c.batch_size = 64
    c.num_epochs = 30
    c.optim.lr = 8e-6 * 8
    c.optim.warmup_steps = 5 * 3700  # ~5 epochs of 240k videos at batch 64
    c.eval_every = 3700 * 5
    c.checkpoint_every = 1000
    return c
