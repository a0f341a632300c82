"""Pre-trains a small CLIP on captioned synthetic scenes and saves it as a transformers folder.

The tool is `alt_jax/cli/pretrain_clip.py`, installed as the console script `alt-jax-pretrain-clip`
(`python -m alt_jax.cli.pretrain_clip`);
this file runs it from a clone: `python tools/pretrain_clip.py --help`.
"""

import sys

from alt_jax.cli.pretrain_clip import *  # noqa: F403 - the tool's names, for scripts and tests
from alt_jax.cli.pretrain_clip import main

if __name__ == "__main__":
    sys.exit(main())
