"""The bundled demo with the VicTR head: configs/demo.py's data, backbone and schedule.

    python -m alt_jax.main --config=configs/demo_victr.py:demo_out/data --workdir=demo_out/victr

The argument is the synthetic dataset's folder, as for configs/demo.py; the demo corpus serves as
the auxiliary texts. The head works at the demo CLIP's joint width (128).
"""

import importlib.util
import os


def _demo():
    """configs/demo.py, loaded by path (configs/ is not a package)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "demo.py")
    spec = importlib.util.spec_from_file_location("demo", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def get_config(arg: str = "demo_out/data"):
    c = _demo().get_config(arg)
    c.model.head = "victr"
    c.model.victr.layers = 1
    c.model.victr.heads = 4
    c.alignment_picture = False
    return c
