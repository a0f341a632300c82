"""Writes a synthetic action dataset (mp4s with object masks, classes.txt, train.txt, val.txt).

The tool is `alt_jax/cli/make_synthetic.py`, installed as the console script `alt-jax-synthetic`
(`python -m alt_jax.cli.make_synthetic`);
this file runs it from a clone: `python tools/make_synthetic.py --help`.
"""

import sys

from alt_jax.cli.make_synthetic import *  # noqa: F403 - the tool's names, for scripts and tests
from alt_jax.cli.make_synthetic import main

if __name__ == "__main__":
    sys.exit(main())
