"""The bundled demo with the VicTR head: configs/demo.py's data, backbone and schedule.

    python -m alt_jax.main --config=configs/demo_victr.py:demo_out/data --workdir=demo_out/victr

The argument is the synthetic dataset's folder, as for configs/demo.py; the demo corpus serves as
the auxiliary texts. The head works at the demo CLIP's joint width (128).
"""

from alt_jax.configs_lib import sibling_config


def get_config(arg: str = "demo_out/data"):
    c = sibling_config(__file__, "demo", arg)
    c.model.head = "victr"
    c.model.probe.enabled = False  # ALT's appearance probe; VicTR has none
    c.model.victr.layers = 1
    c.model.victr.heads = 4
    c.alignment_picture = False
    return c
