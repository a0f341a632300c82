"""ALT few-shot on ssv2 (docs/method.md §7): K videos per class, test on the full split.

    python tools/make_splits.py fewshot ...   (the K-shot lists; see its docstring)
    python -m alt_jax.main --config=configs/ssv2_fewshot.py:shots=2,seed=0,root=DATA,splits=SPLITS \
        --workdir=DIR --config.model.backbone.source=/path/to/clip

Report the mean over seeds 0, 1, 2 (and over folds 1-3 where the dataset has 3).
"""

from alt_jax.configs_lib import fewshot_config


def get_config(arg: str = ""):
    return fewshot_config("ssv2", arg)
