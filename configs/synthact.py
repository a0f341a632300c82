"""SynthAct (alt_jax/data/synthact.py): train on the seen classes, test on their val split and,
zero-shot, on the unseen compositions by their names.

    python benchmarks/synthact.py ...    (writes the data, the cache and the whole table)
    python -m alt_jax.main --config=configs/synthact.py:root=DATA,shots=4,seed=1 --workdir=DIR

Arguments (key=value, comma-separated):
  root     the SynthAct folder (classes.txt, train.txt, val.txt, unseen_*.txt, fewshot/)
  clip     the CLIP folder (config.json + model.safetensors); default the bundled
           alt_jax/assets/synthclip; "random" = random weights at the demo preset
  shots    0: every training video of the seen classes; K: fewshot/{K}shot_seed{seed}.txt
  seed     run seed (data order, initialisation, noise) and K-shot list seed
  head     alt / victr;  queries: entities / learned (ALT's ablation without alignment)
  adapter  ordered / global (ALT's first adapter, for the ablation);
           ordered_no_position / ordered_no_order: the ordered adapter without region positions /
           without temporal order (no temporal position, mean readout, conv kernel 1)
  steps    training steps;  frames: frames per clip;  r: ToMe merges per layer
  preset, size   the random CLIP's shapes and the frame size (tests: preset=tiny,size=32)
"""

from pathlib import Path

import alt_jax
from alt_jax.configs_lib import add_eval, base_config, dataset_config, parse_config_arg

SYNTHCLIP = Path(alt_jax.__file__).parent / "assets" / "synthclip"


def get_config(arg: str = ""):
    opts = parse_config_arg(
        arg,
        root="synthact_out/data",
        clip=str(SYNTHCLIP),
        shots=0,
        seed=0,
        head="alt",
        queries="entities",
        adapter="ordered",
        steps=100,
        frames=8,
        r=10,
        preset="demo",
        size=112,
        gate=1.0,
    )
    if opts.shots not in (0, 2, 4, 8, 16):
        raise ValueError(f"shots must be 0 (all) or 2, 4, 8, 16, got {opts.shots}")
    root, pretrained = opts.root, opts.clip != "random"
    c = base_config()
    c.seed = opts.seed
    c.model.head = opts.head
    c.model.queries = opts.queries
    c.model.adapter.kind = "global" if opts.adapter == "global" else "ordered"
    if opts.adapter == "ordered_no_position":
        c.model.adapter.position = "none"
    elif opts.adapter == "ordered_no_order":
        c.model.adapter.temporal_position = False
        c.model.adapter.readout = "mean"
        c.model.adapter.conv_kernel = 1
    elif opts.adapter not in ("ordered", "global"):
        raise ValueError(
            f"adapter must be ordered, global, ordered_no_position or ordered_no_order, "
            f"got {opts.adapter!r}"
        )
    c.model.backbone.preset = opts.preset  # random weights; a CLIP folder's config.json rules
    c.model.backbone.source = opts.clip if pretrained else ""
    # ToMe r = 10 on the 4-layer 112 px CLIP leaves 10 regions of 49 patches per frame: the
    # adapter's cost grows with (frames × regions)², and at 49 regions one ALT step cost 8× more
    # (2.5 s vs 0.3 s for 16 clips on this 2-core machine), more than the table's budget allows.
    c.model.tome_r = opts.r
    c.model.num_frames = opts.frames
    c.model.corpus.path = f"{root}/corpus.json"
    c.model.corpus.cache_dir = f"{root}/cache"
    c.model.adapter.depth = 1
    c.model.adapter.heads = 4
    c.model.adapter.width = 128
    c.model.victr.layers = 1
    c.model.victr.heads = 4
    c.model.prompt_templates = ("a video of a {}.",)
    # The class names share most of their words ("red circle moving left" / "... right"), so their
    # embeddings are near-parallel (cosine 0.98 with the interim synthclip): centring them is
    # this benchmark's choice for every head, including the frame-average CLIP. The gates start
    # open (gate=1.0): at 0 the few-shot settings' short schedules leave them little time to
    # open (measured: 2-shot 35.8 % against 65.5 %, BENCHMARKS.md).
    c.model.gate_init = opts.gate
    c.model.center_class_embeddings = True
    common = dict(kind="list", root=root, num_frames=opts.frames, image_size=opts.size, flip=False)
    train_list = f"{root}/fewshot/{opts.shots}shot_seed{opts.seed}.txt" if opts.shots else ""
    c.data = dataset_config(
        list_file=train_list or f"{root}/train.txt",
        class_names_file=f"{root}/classes.txt",
        split="train",
        scale_min=0.6,
        **common,
    )
    evals = {
        "seen_val": ("val.txt", "classes.txt"),
        "unseen": ("unseen_val.txt", "unseen_classes.txt"),
    }
    for name, (list_file, classes) in evals.items():
        add_eval(
            c,
            name,
            dataset_config(
                list_file=f"{root}/{list_file}",
                class_names_file=f"{root}/{classes}",
                split="val",
                batch_size=32,
                **common,
            ),
        )
    c.batch_size = 16
    c.num_train_steps = opts.steps
    c.num_epochs = 0
    c.log_every = 50
    c.checkpoint_every = 10_000  # the final step only
    c.async_checkpoints = False
    c.feature_train_views = 2
    c.alignment_picture = False
    c.optim.lr = 2e-3
    c.optim.warmup_steps = 10
    c.optim.weight_decay = 0.01
    return c
