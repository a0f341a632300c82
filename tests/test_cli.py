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


def test_every_tool_is_a_console_script_and_a_tools_file():
    """pyproject's [project.scripts] has a script for every module of alt_jax/cli/, each naming
    a function that runs without arguments (as a console script calls it), listed in the
    README; every such module is also tools/NAME.py, which runs the same main from a clone."""
    import ast
    import tomllib

    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    readme = (REPO / "README.md").read_text()
    modules = set()
    for script, target in scripts.items():
        module, _, function = target.partition(":")
        tree = ast.parse((REPO / f"{module.replace('.', '/')}.py").read_text())
        (node,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == function]
        required = len(node.args.args) - len(node.args.defaults)
        assert required == 0, f"{script} = {target} needs {required} arguments"
        assert f"`{script}`" in readme, f"{script} is not in the README"
        modules.add(module)
    cli = {f"alt_jax.cli.{p.stem}" for p in (REPO / "alt_jax" / "cli").glob("[!_]*.py")}
    assert cli <= modules, f"tools without a console script: {sorted(cli - modules)}"
    for module in cli:
        name = module.rpartition(".")[2]
        tool = (REPO / "tools" / f"{name}.py").read_text()
        assert f"from {module} import main" in tool, f"tools/{name}.py does not run {module}"
