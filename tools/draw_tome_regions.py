"""Draws the ToMe regions of real video frames as a picture.

The tool is `alt_jax/cli/draw_tome_regions.py`, installed as the console script `alt-jax-regions`
(`python -m alt_jax.cli.draw_tome_regions`);
this file runs it from a clone: `python tools/draw_tome_regions.py --help`.
"""

import sys

from alt_jax.cli.draw_tome_regions import *  # noqa: F403 - the tool's names, for scripts and tests
from alt_jax.cli.draw_tome_regions import main

if __name__ == "__main__":
    sys.exit(main())
