"""Packs a video dataset's encoded files with labels into array_record shards (tfds builder).

The tool is `alt_jax/cli/prepare_dataset.py`, installed as the console script `alt-jax-prepare`
(`python -m alt_jax.cli.prepare_dataset`);
this file runs it from a clone: `python tools/prepare_dataset.py --help`.
"""

import sys

from alt_jax.cli.prepare_dataset import *  # noqa: F403 - the tool's names, for scripts and tests
from alt_jax.cli.prepare_dataset import main

if __name__ == "__main__":
    sys.exit(main())
