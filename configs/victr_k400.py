"""VicTR-B/16, 8 frames, fully supervised on Kinetics-400 (docs/method.md §6, §7).

    python -m alt_jax.main --config=configs/victr_k400.py:/data/kinetics400 --workdir=DIR \
        --config.model.backbone.source=openai/clip-vit-base-patch16

The argument is the Kinetics-400 folder (default: a placeholder that fails loudly), laid out as
    ROOT/train/*.mp4, ROOT/val/*.mp4                   (youtube_id_start_end.mp4 names)
    ROOT/annotations/train.csv, ROOT/annotations/val.csv  (the official Kinetics CSVs)
Class names are the shipped K400 list (alt_jax/resources/labels/k400.txt). Auxiliary texts are the entity
corpus at model.corpus.path. Training schedule values are ALT's defaults ([ours]).
"""

from alt_jax.configs_lib import add_eval, base_config, dataset_config

PLACEHOLDER_ROOT = "/path/to/kinetics400"  # replace: pass the folder as the config argument


def get_config(arg: str = PLACEHOLDER_ROOT):
    root = arg
    c = base_config()
    c.model.head = "victr"
    c.model.backbone.preset = "B/16"
    c.model.num_frames = 8
    c.alignment_picture = False  # an ALT picture; VicTR aligns no regions
    common = dict(
        kind="kinetics_csv",
        labels="k400",
        num_frames=8,
        image_size=224,
        filename_pattern=("{youtube_id}_{time_start:06d}_{time_end:06d}.mp4"),
    )
    c.data = dataset_config(
        root=f"{root}/train", list_file=f"{root}/annotations/train.csv", split="train", **common
    )
    add_eval(
        c,
        "k400_val",
        dataset_config(
            root=f"{root}/val",
            list_file=f"{root}/annotations/val.csv",
            split="val",
            num_clips=3,  # docs/method.md §7: 3 temporal clips × 1 centre crop
            num_crops=1,
            **common,
        ),
    )
    return c
