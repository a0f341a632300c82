"""ALT on UCF-101 read from the tensorflow-datasets catalogue (`ucf101`), fully supervised on the
train split of a fold, tested on its test split (docs/data.md, "TFDS catalogue datasets").

    tfds build ucf101 --config=ucf101_1_256 --data_dir=/data/tfds --file_format=array_record
    python -m alt_jax.main --config=configs/ucf101_tfds.py:data_dir=/data/tfds --workdir=DIR \
        --config.model.backbone.source=/path/to/clip-vit-base-patch16

Arguments: data_dir (the tfds data_dir; empty: tfds' default, $TFDS_DATA_DIR or
~/tensorflow_datasets), tfds_config (ucf101_1_256: fold 1 at 256×256, tfds' default; ucf101_1,
ucf101_2, ucf101_3: folds 1-3 at the original 320×240), backbone, frames, views (test clips ×
crops). The class names are the shipped UCF-101 list, which the catalogue's ClassLabel names
give too (in the same order).
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
    opts = parse_config_arg(
        arg, data_dir="", tfds_config="ucf101_1_256", backbone="B/16", frames=8, views="3x1"
    )
    clips, crops = (int(v) for v in opts.views.split("x"))
    c = base_config()
    c.model.corpus.path = SHIPPED_CORPUS  # built from K400 + UCF-101 + HMDB-51 class names
    catalogue = dict(
        kind="tfds_catalogue",
        root=opts.data_dir,
        tfds_name="ucf101",
        tfds_config=opts.tfds_config,
        # The shipped list: the catalogue's names as read (tests/test_tfds_catalogue.py), and a
        # trained run's class names load without the tfds data (predict, export).
        labels="ucf101",
    )
    c.data = dataset_config(split="train", **catalogue)
    add_eval(
        c,
        "ucf101_test",
        dataset_config(split="test", num_clips=clips, num_crops=crops, batch_size=4, **catalogue),
    )
    set_backbone(c, opts.backbone, opts.frames)
    # [ours] 9,537 training videos of fold 1: ~300 steps per epoch at batch 32.
    c.batch_size = 32
    c.num_epochs = 30
    c.optim.lr = 2e-5 * 4
    c.optim.warmup_steps = 600  # ~2 epochs
    c.checkpoint_every = 500
    return c
