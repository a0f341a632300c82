"""Draws a trained ALT run's entity-to-region alignment on one video's sampled frames.

The tool is `alt_jax/cli/visualize_alignment.py`, installed as the console script `alt-jax-visualize`
(`python -m alt_jax.cli.visualize_alignment`);
this file runs it from a clone: `python tools/visualize_alignment.py --help`.
"""

import sys

from alt_jax.cli.visualize_alignment import *  # noqa: F403 - the tool's names, for scripts and tests
from alt_jax.cli.visualize_alignment import main

if __name__ == "__main__":
    sys.exit(main())
