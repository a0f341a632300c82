"""ALT zero-shot (docs/method.md §7): train on Kinetics-400, evaluate unseen classes in one run on
HMDB-51 and UCF-101 (all classes, official test split of `fold`) and the three K600 novel-class
subsets of 160 classes (lists from `tools/make_splits.py k600_novel`).

    python -m alt_jax.main --config=configs/zeroshot.py:fold=1 --workdir=DIR \
        --config.data.root=/data/k400/train --config.data.list_file=/data/k400/train.csv \
        --config.evals.hmdb51.root=/data/hmdb51 --config.evals.hmdb51.list_file=/data/hmdb51/splits \
        --config.evals.ucf101.root=/data/ucf101 --config.evals.ucf101.list_file=/data/ucf101/splits \
        --config.evals.k600_novel0.root=/data/k600/val ... (k600_novel1, k600_novel2 alike)

Zero-shot means the class names are the only thing seen of the new classes: their embeddings
come from the frozen text tower; nothing in the adapter depends on them. Report the mean of
folds 1-3 for HMDB-51/UCF-101 and of the three K600 subsets.
"""

from alt_jax.configs_lib import (
    add_eval,
    dataset_config,
    parse_config_arg,
    set_backbone,
    sibling_config,
)


def get_config(arg: str = ""):
    opts = parse_config_arg(arg, fold=1, backbone="B/16", frames=8, k600_dir="")
    c = sibling_config(__file__, "k400", f"backbone={opts.backbone},frames={opts.frames}")
    # Zero-shot training stays close to CLIP: fewer epochs [ours].
    c.num_epochs = 10
    with c.evals.unlocked():
        del c.evals["k400_val"]
    common = dict(num_clips=3, batch_size=4)
    add_eval(
        c,
        "hmdb51",
        dataset_config(kind="folder", split="test", fold=opts.fold, labels="hmdb51", **common),
    )
    add_eval(
        c,
        "ucf101",
        dataset_config(kind="folder", split="test", fold=opts.fold, labels="ucf101", **common),
    )
    for i in range(3):
        d = opts.k600_dir
        add_eval(
            c,
            f"k600_novel{i}",
            dataset_config(
                kind="list",
                split="val",
                list_file=f"{d}/subset{i}.txt" if d else "",
                class_names_file=f"{d}/subset{i}_classes.txt" if d else "",
                **common,
            ),
        )
    set_backbone(c, opts.backbone, opts.frames)
    return c
