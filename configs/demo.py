"""The bundled demo: synthetic action videos, a small random-weight CLIP, minutes on 2 cores.

    python tools/make_synthetic.py --out=demo_out/data ...   (make demo does all of this)
    python -m alt_jax.main --config=configs/demo.py:demo_out/data --workdir=demo_out/run

The argument is the synthetic dataset's folder (classes.txt, train.txt, val.txt).
The frozen CLIP has random weights (no pretrained CLIP can be had offline): its text tower gives
class embeddings that are random but fixed directions, and the adapter learns to map videos to
them; the vision tower's random features still carry colour, shape and position per frame.
"""

from pathlib import Path

import alt_jax
from alt_jax.configs_lib import add_eval, base_config, dataset_config

# The small CLIP pre-trained here on captioned synthetic scenes (tools/pretrain_clip.py), found
# next to the installed package so the demo runs from any directory.
SYNTHCLIP = Path(alt_jax.__file__).resolve().parent / "assets" / "synthclip"


def get_config(arg: str = "demo_out/data"):
    root = arg
    c = base_config()
    c.model.backbone.preset = "synthclip"
    c.model.backbone.source = str(SYNTHCLIP)
    # Demo choices, measured on this data (8 classes, 192 training videos, top-1 on 64 val):
    # ToMe r = 4 → 26.6 %, r = 2 → 23.4 % (300 steps) and r = 0 → 35.9 %. A random-weight
    # encoder merges by random-key similarity and blurs the moving object's position, so the
    # demo keeps every patch as a region. Gate 1: the random CLIP's zero-shot start is no use.
    c.model.tome_r = 0
    c.model.gate_init = 1.0
    c.model.num_frames = 8
    c.model.corpus.path = f"{root}/corpus.json"
    c.model.corpus.cache_dir = f"{root}/cache"
    c.model.adapter.depth = 1
    c.model.adapter.heads = 4
    c.model.adapter.width = 128
    c.model.prompt_templates = ("a video of a {}.",)
    # The random text tower gives class embeddings with pairwise cosines of about 0.99 (the
    # prompts differ in one or two words); centering them is the demo's explicit choice.
    c.model.center_class_embeddings = True
    common = dict(
        kind="list",
        root=root,
        class_names_file=f"{root}/classes.txt",
        num_frames=8,
        image_size=112,
        flip=False,  # left/right motion classes
    )
    c.data = dataset_config(list_file=f"{root}/train.txt", split="train", scale_min=0.5, **common)
    add_eval(
        c,
        "synthetic_val",
        dataset_config(list_file=f"{root}/val.txt", split="val", batch_size=16, **common),
    )
    c.batch_size = 16
    c.num_train_steps = 150
    c.num_epochs = 0
    c.log_every = 10
    c.checkpoint_every = 50
    c.optim.lr = 2e-3
    c.optim.warmup_steps = 10
    c.optim.weight_decay = 0.01
    return c
