"""VicTR-B/16 few-shot (docs/method.md §7): K videos per class, test on the full validation split.

    python -m alt_jax.main --workdir=DIR \
        --config=configs/victr_fewshot.py:hmdb51,2,0,1,/data/hmdb51

The argument is "dataset,k,seed,fold,root": dataset one of hmdb51 / ucf101 / k400, k ∈ {2, 4,
8, 16}, the draw seed, the official split fold used for testing (1-3; K400 has one), and the
dataset folder (default: a placeholder). The K-shot training lists are written beforehand with
`alt_jax.data.splits.write_k_shot_lists(train_split1_records, ROOT/fewshot, ...)`, which names them
ROOT/fewshot/{k}shot_seed{seed}.txt (paths relative to ROOT/videos). Expected layout:
    hmdb51, ucf101: ROOT/videos/<class>/<video>, ROOT/splits/ (the official split files)
    k400:           ROOT/val/*.mp4 and ROOT/annotations/val.csv; training videos under ROOT/videos
Schedule [ours]: 50 epochs at batch 32 (few-shot sets are small; X-CLIP-style budget).
"""

from alt_jax.configs_lib import add_eval, base_config, dataset_config

DATASETS = ("hmdb51", "ucf101", "k400")


def get_config(arg: str = "hmdb51,2,0,1,/path/to/dataset"):
    dataset, k, seed, fold, root = arg.split(",")
    if dataset not in DATASETS:
        raise ValueError(f"few-shot dataset must be one of {DATASETS}, got {dataset!r}")
    c = base_config()
    c.model.head = "victr"
    c.model.backbone.preset = "B/16"
    c.model.num_frames = 8
    c.alignment_picture = False
    common = dict(labels=dataset, num_frames=8, image_size=224)
    c.data = dataset_config(
        kind="list",
        root=f"{root}/videos",
        list_file=f"{root}/fewshot/{int(k)}shot_seed{int(seed)}.txt",
        split="train",
        **common,
    )
    if dataset == "k400":
        test = dataset_config(
            kind="kinetics_csv",
            root=f"{root}/val",
            list_file=f"{root}/annotations/val.csv",
            split="val",
            num_clips=3,
            **common,
        )
    else:
        test = dataset_config(
            kind="folder",
            root=f"{root}/videos",
            list_file=f"{root}/splits",
            split="test",
            fold=int(fold),
            num_clips=3,
            **common,
        )
    add_eval(c, f"{dataset}_{k}shot_fold{fold}", test)
    c.batch_size = 32
    c.num_epochs = 50
    return c
