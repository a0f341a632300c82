"""Saves a random-weight transformers CLIP, loads it through `alt_jax.load_clip`, prints parity.

The tool is `alt_jax/cli/clip_parity.py`, installed as the console script `alt-jax-parity`
(`python -m alt_jax.cli.clip_parity`);
this file runs it from a clone: `python tools/clip_parity.py --help`.
"""

import sys

from alt_jax.cli.clip_parity import *  # noqa: F403 - the tool's names, for scripts and tests
from alt_jax.cli.clip_parity import main

if __name__ == "__main__":
    sys.exit(main())
