"""Run configs by name: the config files shipped with the package, and what `--config=` accepts.

The repository's `configs/` folder is the package `alt_jax.configs` of the wheel (pyproject.toml
maps it), so every config file in it ships, one added later included, and a pip install has
them all. `--config=` of `alt-jax-train` (`python -m alt_jax.main`) takes

- a config file's path, as ml_collections reads it (`configs/k400.py`, `/runs/my_config.py`);
- a shipped config by its short name (`k400`, `demo`) or as `alt_jax:configs/k400.py`;

each followed by the config's own argument after a colon (`k400:backbone=L/14`, `demo:DATA`).
A relative `configs/NAME.py` that is no file under the current folder (a pip install run
elsewhere) is the shipped NAME. Anything else that names no file is refused in one line that
lists the shipped names.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from alt_jax.configs_lib import ConfigError

PACKAGE_PREFIX = "alt_jax:"
# A shipped config as it may be named: `k400`, `k400.py`, `configs/k400.py`.
SHIPPED_NAME = re.compile(r"(?:\./)?(?:configs/)?([A-Za-z_][A-Za-z0-9_]*)(?:\.py)?")


def config_dir() -> Path:
    """The folder of the shipped configs: `alt_jax/configs` in an installed wheel, the
    repository's `configs/` in a clone (whatever the install, editable or none)."""
    package = Path(__file__).resolve().parent
    for candidate in (package / "configs", package.parent / "configs"):
        if (candidate / "__init__.py").is_file():
            return candidate
    raise ConfigError(f"no shipped configs beside {package} (a broken install?)")


def shipped_configs() -> list[str]:
    """The shipped configs' short names, sorted."""
    return sorted(p.stem for p in config_dir().glob("*.py") if p.stem != "__init__")


def _shipped(name: str, given: str) -> Path:
    path = config_dir() / f"{name}.py"
    if not path.is_file():
        raise ConfigError(
            f"--config={given}: no such config file, and no shipped config {name!r}; the shipped "
            f"configs are {', '.join(shipped_configs())} (--config=NAME, --config=NAME:ARG or "
            "--config=alt_jax:configs/NAME.py)"
        )
    return path


def resolve_config(value: str) -> str:
    """`value` of `--config=` as ml_collections reads it, `PATH[:ARG]`: a config file that
    exists stays as given; a shipped config's name becomes that file's path."""
    if value.startswith(PACKAGE_PREFIX):
        path, sep, arg = value[len(PACKAGE_PREFIX) :].partition(":")
        match = re.fullmatch(r"configs/([A-Za-z_][A-Za-z0-9_]*)\.py", path)
        if not match:
            raise ConfigError(
                f"--config={value}: a shipped config is named alt_jax:configs/NAME.py; the "
                f"shipped configs are {', '.join(shipped_configs())}"
            )
        return f"{_shipped(match.group(1), value)}{sep}{arg}"
    path, sep, arg = value.partition(":")
    if os.path.isfile(path):
        return value
    match = SHIPPED_NAME.fullmatch(path)
    if not match:
        raise ConfigError(
            f"--config={value}: no such config file {path!r}; the shipped configs are "
            f"{', '.join(shipped_configs())} (--config=NAME or --config=NAME:ARG)"
        )
    return f"{_shipped(match.group(1), value)}{sep}{arg}"


def resolve_config_flag(argv: list[str], flag: str = "config") -> list[str]:
    """`argv` with the value of `--config=V` (or `--config V`, one dash too) resolved by
    `resolve_config`; everything else, `--config.x.y=v` overrides included, unchanged."""
    out = list(argv)
    names = (f"--{flag}", f"-{flag}")
    i = 0
    while i < len(out):
        arg = out[i]
        if arg == "--":
            break
        name, eq, value = arg.partition("=")
        if name in names and eq:
            out[i] = f"{name}={resolve_config(value)}"
        elif arg in names and i + 1 < len(out):
            out[i + 1] = resolve_config(out[i + 1])
            i += 1
        i += 1
    return out
