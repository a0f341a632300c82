"""The run configs: one `get_config(arg)` file each, on `alt_jax.configs_lib.base_config()`.

This folder ships inside the wheel as the package `alt_jax.configs` (pyproject.toml maps it), so
every file here, one added later included, is a shipped config: `alt-jax-train --config=k400`
(or `--config=alt_jax:configs/k400.py`, or this file's path in a clone) runs `k400.py`, and
`--config=k400:ARG` passes ARG to its `get_config` (alt_jax/config_files.py). Config files load
each other by path (`configs_lib.sibling_config`), not by import.
"""
