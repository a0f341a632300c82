"""Config file form of tests/tiny_run.py's config (argument: the tiny data folder)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import tiny_run  # noqa: E402


def get_config(arg: str):
    return tiny_run.tiny_config(arg)
