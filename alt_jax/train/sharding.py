"""Device mesh, parameter shardings from path rules, and batch sharding."""

from __future__ import annotations

import re
from typing import Any, Sequence

import jax
import ml_collections
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

MESH_AXES = ("data", "fsdp", "model")
BATCH_AXES = ("data", "fsdp")  # the batch is split over every axis that holds data


def mesh_shape(config: ml_collections.ConfigDict, num_devices: int) -> tuple[int, ...]:
    """Axis sizes for `MESH_AXES` from config (one may be -1: the rest of the devices)."""
    sizes = [int(config[axis]) for axis in MESH_AXES]
    unknown = [i for i, s in enumerate(sizes) if s == -1]
    if len(unknown) > 1:
        raise ValueError(f"mesh: at most one axis may be -1, got {dict(zip(MESH_AXES, sizes))}")
    known = int(np.prod([s for s in sizes if s != -1]))
    if any(s == 0 or s < -1 for s in sizes) or num_devices % known:
        raise ValueError(
            f"mesh {dict(zip(MESH_AXES, sizes))} does not divide {num_devices} devices"
        )
    if unknown:
        sizes[unknown[0]] = num_devices // known
    if int(np.prod(sizes)) != num_devices:
        raise ValueError(
            f"mesh {dict(zip(MESH_AXES, sizes))} uses {np.prod(sizes)} of {num_devices} devices"
        )
    return tuple(sizes)


def make_mesh(config: ml_collections.ConfigDict, devices: Sequence[Any] | None = None) -> Mesh:
    """A mesh with axes (data, fsdp, model) over all (or the given) devices."""
    devices = list(jax.devices() if devices is None else devices)
    shape = mesh_shape(config, len(devices))
    return Mesh(np.asarray(devices).reshape(shape), MESH_AXES)


def _path_string(keypath) -> str:
    return "/".join(str(getattr(k, "key", getattr(k, "name", k))) for k in keypath)


def param_spec(
    path: str, shape: tuple[int, ...], mesh: Mesh, rules: Sequence[tuple[str, tuple]]
) -> PartitionSpec:
    """The PartitionSpec of one parameter: the first rule whose regex matches its path, else
    FSDP over the largest dimension the fsdp axis divides, else replicated."""
    for pattern, spec in rules:
        if re.search(pattern, path):
            spec = PartitionSpec(*spec)
            for dim, axis in zip(shape, spec):
                if axis is not None and dim % mesh.shape[axis]:
                    raise ValueError(
                        f"rule {pattern!r}: {path} dim {dim} is not divisible by mesh axis {axis}={mesh.shape[axis]}"
                    )
            return spec
    fsdp = mesh.shape["fsdp"]
    if fsdp > 1 and len(shape) >= 1:
        for dim in sorted(range(len(shape)), key=lambda i: -shape[i]):
            if shape[dim] % fsdp == 0 and shape[dim] >= fsdp:
                spec = [None] * len(shape)
                spec[dim] = "fsdp"
                return PartitionSpec(*spec)
    return PartitionSpec()


def state_shardings(state: Any, mesh: Mesh, rules: Sequence[tuple[str, tuple]] = ()) -> Any:
    """NamedShardings for every array leaf of a state pytree (scalars replicated)."""

    def one(keypath, leaf):
        shape = tuple(getattr(leaf, "shape", ()))
        return NamedSharding(mesh, param_spec(_path_string(keypath), shape, mesh, rules))

    return jax.tree_util.tree_map_with_path(one, state)


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Leading (batch) dimension split over the data axes, the rest replicated."""
    return NamedSharding(mesh, PartitionSpec(BATCH_AXES))


def replicated(mesh: Mesh) -> NamedSharding:
    """Fully replicated over the mesh."""
    return NamedSharding(mesh, PartitionSpec())


def global_batch(local: dict[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
    """Host-local batch arrays → global jax.Arrays sharded over the data axes (multi-host safe)."""
    sharding = batch_sharding(mesh)
    return {
        key: jax.make_array_from_process_local_data(sharding, np.asarray(value))
        for key, value in local.items()
    }
