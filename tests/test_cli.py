"""One flag vocabulary across the command-line tools: the shared flags, with help on every flag."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = ("--workdir", "--step")


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(f"_tool_{name}", REPO / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _argparse_help(monkeypatch, run) -> dict[str, str]:
    """{option: help} of the parser `run` builds, caught as it parses --help."""
    parsers: list[argparse.ArgumentParser] = []
    original = argparse.ArgumentParser.parse_known_args

    def spy(self, args=None, namespace=None):
        parsers.append(self)
        return original(self, args, namespace)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_known_args", spy)
    with pytest.raises(SystemExit) as exit_info:
        run(["--help"])
    assert exit_info.value.code == 0
    return {
        option: action.help or ""
        for action in parsers[0]._actions
        for option in (action.option_strings or [action.dest])
        if option not in ("-h", "--help")
    }


def _absl_help() -> dict[str, str]:
    from absl import flags

    import alt_jax.main  # noqa: F401 - defines the flags

    module_flags = flags.FLAGS.flags_by_module_dict()["alt_jax.main"]
    return {f"--{flag.name}": flag.help or "" for flag in module_flags}


CLIS = {
    "alt_jax.main": lambda monkeypatch: _absl_help(),
    "alt_jax.predict": lambda monkeypatch: _argparse_help(
        monkeypatch, __import__("alt_jax.predict", fromlist=["x"]).parse_args
    ),
    "tools/convert_to_pytorch.py": lambda monkeypatch: _argparse_help(
        monkeypatch, _tool("convert_to_pytorch").main
    ),
    "tools/visualize_alignment.py": lambda monkeypatch: _argparse_help(
        monkeypatch, _tool("visualize_alignment").main
    ),
}


@pytest.mark.parametrize("cli", sorted(CLIS))
def test_every_cli_has_the_shared_flags_and_help_on_every_flag(cli, monkeypatch, capsys):
    helps = CLIS[cli](monkeypatch)
    missing = [flag for flag in SHARED if flag not in helps]
    assert not missing, f"{cli} lacks {missing}; it has {sorted(helps)}"
    bare = [flag for flag, text in helps.items() if not text.strip()]
    assert not bare, f"{cli}: flags without help text: {bare}"


def test_old_checkpoint_flag_is_an_alias_of_step():
    from alt_jax import predict

    args = predict.parse_args(["--workdir=run", "--checkpoint=7", "video.mp4"])
    assert args.step == "7"
    args = predict.parse_args(["--step=run/checkpoints/12", "video.mp4"])
    assert (args.workdir, args.step) == ("run", "12")
