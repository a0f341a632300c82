"""VicTR-B/16 zero-shot (docs/method.md §7): train on Kinetics-400, test on classes never trained on.

    python -m alt_jax.main --workdir=DIR \
        --config=configs/victr_zeroshot.py:/data/kinetics400,/data/hmdb51,/data/ucf101,/data/k600

The argument is "k400_root,hmdb51_root,ucf101_root,k600_root" (placeholders by default).
Training is configs/victr_k400.py's. Evaluations, every one with its own class prompts (class
embeddings are an input of the model, so nothing is retrained):
    hmdb51_fold{1,2,3}, ucf101_fold{1,2,3}: all classes, official test lists
        (ROOT/videos/<class>/<video>, ROOT/splits/);
    k600_novel_subset{0,1,2}: 160 of the 220 K600 classes not in K400, seeded; lists written
        beforehand with splits.zero_shot_class_subsets(load_labels("k600_novel")) and
        splits.restrict_to_classes as K600_ROOT/zeroshot/subset{i}.txt (+ subset{i}_classes.txt),
        videos under K600_ROOT/val.
"""

from alt_jax.configs_lib import add_eval, dataset_config, sibling_config

PLACEHOLDERS = "/path/to/kinetics400,/path/to/hmdb51,/path/to/ucf101,/path/to/kinetics600"


def get_config(arg: str = PLACEHOLDERS):
    k400, hmdb, ucf, k600 = arg.split(",")
    c = sibling_config(__file__, "victr_k400", k400)
    common = dict(num_frames=8, image_size=224, split="test", num_clips=3)
    for name, root in (("hmdb51", hmdb), ("ucf101", ucf)):
        for fold in (1, 2, 3):
            add_eval(
                c,
                f"{name}_fold{fold}",
                dataset_config(
                    kind="folder",
                    root=f"{root}/videos",
                    list_file=f"{root}/splits",
                    labels=name,
                    fold=fold,
                    **common,
                ),
            )
    for i in range(3):
        add_eval(
            c,
            f"k600_novel_subset{i}",
            dataset_config(
                kind="list",
                root=f"{k600}/val",
                list_file=f"{k600}/zeroshot/subset{i}.txt",
                class_names_file=f"{k600}/zeroshot/subset{i}_classes.txt",
                **common,
            ),
        )
    return c
