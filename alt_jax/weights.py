"""Loading transformers CLIP checkpoints into the Flax CLIP.

Our parameter paths mirror transformers' module names, so every checkpoint key maps to one
parameter by a fixed rule (`flax_path_to_torch_key`); nothing is matched by guesswork, and every
key is accounted for.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
from flax import nnx

from alt_jax.models.clip import CLIP
from alt_jax.models.clip_config import ClipConfig
from alt_jax.progress import phase
from alt_jax.tokenizer import default_tokenizer, save_image_processor_config

# Buffers that older transformers versions saved; they are derived, not learned.
_IGNORED_SUFFIXES = ("position_ids",)

_SAFETENSORS_DTYPES = {
    "F64": np.float64,
    "F32": np.float32,
    "F16": np.float16,
    "I64": np.int64,
    "I32": np.int32,
    "I16": np.int16,
    "I8": np.int8,
    "U8": np.uint8,
    "BOOL": np.bool_,
}


class CheckpointError(ValueError):
    """A checkpoint is malformed or does not fit the model: missing, unused, misshapen or
    mistyped parameters, a corrupt safetensors file, a shard index leading out of its folder."""


# safetensors' own bound on the JSON header; a larger length is a corrupt or hostile file.
MAX_HEADER_BYTES = 100 * 1024 * 1024


def _safetensors_header(path: Path, f: Any) -> tuple[dict[str, Any], int]:
    """The JSON header of an open .safetensors file and the byte count of its data section."""
    size = os.fstat(f.fileno()).st_size
    prefix = f.read(8)
    if len(prefix) < 8:
        raise CheckpointError(f"{path}: {size} bytes, too short for a safetensors file")
    (header_len,) = struct.unpack("<Q", prefix)
    # Checked before reading, so a corrupt length is an error naming the file, not a MemoryError.
    if header_len > min(size - 8, MAX_HEADER_BYTES):
        raise CheckpointError(
            f"{path}: not a valid safetensors file: its header length field says {header_len} "
            f"bytes, but the file has {size - 8} bytes after it (and at most "
            f"{MAX_HEADER_BYTES} are allowed)"
        )
    try:
        header = json.loads(f.read(header_len))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: the safetensors header is not JSON ({e})") from e
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: the safetensors header is not a JSON object")
    return header, size - 8 - header_len


def _tensor_layout(path: Path, name: str, info: Any, data_bytes: int) -> tuple[Any, list, int, int]:
    """(NumPy dtype, shape, start, end) of one header entry, checked against the data section."""
    if not isinstance(info, dict):
        raise CheckpointError(f"{path}: tensor {name!r}: header entry is not a JSON object")
    dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
    if dtype == "BF16":
        np_dtype = ml_dtypes.bfloat16
    elif dtype in _SAFETENSORS_DTYPES:
        np_dtype = _SAFETENSORS_DTYPES[dtype]
    else:
        raise CheckpointError(f"{path}: tensor {name!r} has unsupported dtype {dtype}")
    if not (
        isinstance(shape, list)
        and all(isinstance(n, int) and n >= 0 for n in shape)
        and isinstance(offsets, list)
        and len(offsets) == 2
        and all(isinstance(n, int) for n in offsets)
        and 0 <= offsets[0] <= offsets[1] <= data_bytes
    ):
        raise CheckpointError(
            f"{path}: tensor {name!r}: bad shape {shape} or data_offsets {offsets} "
            f"(the data section has {data_bytes} bytes)"
        )
    start, end = offsets
    need = int(np.prod(shape, dtype=np.int64)) * np.dtype(np_dtype).itemsize
    if end - start != need:
        raise CheckpointError(
            f"{path}: tensor {name!r}: {dtype} {tuple(shape)} needs {need} bytes, "
            f"its data_offsets hold {end - start}"
        )
    return np_dtype, shape, start, end


def read_safetensors(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Reads a .safetensors file into float/int NumPy arrays without torch (bf16 → float32);
    a malformed file is a CheckpointError naming it."""
    path = Path(path)
    with open(path, "rb") as f:
        header, data_bytes = _safetensors_header(path, f)
        data = f.read()
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        np_dtype, shape, start, end = _tensor_layout(path, name, info, data_bytes)
        array = np.frombuffer(data[start:end], dtype=np_dtype).reshape(shape)
        tensors[name] = array.astype(np.float32) if info["dtype"] == "BF16" else array
    return tensors


def _read_torch_bin(path: Path) -> dict[str, np.ndarray]:
    try:
        import torch
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ImportError(
            f"reading {path} needs torch (pip install 'alt_jax[torch]'), or convert "
            "the checkpoint to model.safetensors"
        ) from e
    state = torch.load(path, map_location="cpu", weights_only=True)
    return {
        k: v.detach().float().numpy() if v.is_floating_point() else v.numpy()
        for k, v in state.items()
    }


def shard_files(folder: Path, index: Path) -> list[Path]:
    """The shard files an index's weight_map names; each must lie inside `folder`."""
    try:
        weight_map = json.loads(index.read_text())["weight_map"]
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as e:
        raise CheckpointError(f"{index}: not a shard index with a weight_map ({e!r})") from e
    if not isinstance(weight_map, dict):
        raise CheckpointError(f"{index}: weight_map is not a JSON object")
    root = folder.resolve()
    # A hub snapshot folder holds symlinks into its repository's blobs/ folder, by design.
    roots = [root, root.parent.parent / "blobs"] if root.parent.name == "snapshots" else [root]
    shards: dict[Path, Path] = {}  # resolved → as named, so errors name the index's file
    for name, shard in weight_map.items():
        if not isinstance(shard, str) or not shard:
            raise CheckpointError(f"{index}: weight_map entry {name!r} is {shard!r}, not a file")
        # Judged both as written (no absolute path, no '..' out) and after symlinks are followed,
        # so a checkpoint from elsewhere cannot make us read files outside its folder.
        written = os.path.normpath(shard)
        target = (folder / shard).resolve()
        if (
            os.path.isabs(shard)
            or written == os.pardir
            or written.startswith(os.pardir + os.sep)
            or not any(target.is_relative_to(r) for r in roots)
        ):
            raise CheckpointError(
                f"{index}: weight_map entry {name!r} → {shard!r} leads outside the checkpoint "
                f"folder {folder} (to {target}); refused"
            )
        shards.setdefault(target, folder / shard)
    return sorted(shards.values())


def read_checkpoint_folder(
    folder: str | os.PathLike,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Reads config.json and the weights (model.safetensors, sharded safetensors, or .bin)."""
    folder = Path(folder)
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"{folder}: no config.json (expected a transformers CLIP folder)")
    config = json.loads(config_path.read_text())
    if (folder / "model.safetensors").is_file():
        return config, read_safetensors(folder / "model.safetensors")
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        tensors = {}
        for shard in shard_files(folder, index):
            tensors.update(read_safetensors(shard))
        return config, tensors
    if (folder / "pytorch_model.bin").is_file():
        return config, _read_torch_bin(folder / "pytorch_model.bin")
    raise FileNotFoundError(
        f"{folder}: no model.safetensors, model.safetensors.index.json or pytorch_model.bin"
    )


def flax_path_to_torch_key(path: tuple[Any, ...]) -> str:
    """('text_model', ..., 'fc1', 'kernel') → 'text_model....fc1.weight'."""
    *head, leaf = [str(p) for p in path]
    if leaf in ("kernel", "scale", "embedding"):
        leaf = "weight"
    return ".".join([*head, leaf])


def torch_to_flax_array(path: tuple[Any, ...], array: np.ndarray) -> np.ndarray:
    """Lays a torch tensor out as the Flax parameter at `path` expects."""
    if path[-1] == "kernel":
        if array.ndim == 2:  # Linear: [out, in] → [in, out]
            return array.T
        if array.ndim == 4:  # Conv2d: [out, in, kh, kw] → [kh, kw, in, out]
            return array.transpose(2, 3, 1, 0)
    return array


def flax_to_torch_array(path: tuple[Any, ...], array: np.ndarray) -> np.ndarray:
    """The inverse of `torch_to_flax_array`."""
    if path[-1] == "kernel":
        if array.ndim == 2:
            return array.T
        if array.ndim == 4:
            return array.transpose(3, 2, 0, 1)
    return array


def keypath_tuple(keypath) -> tuple[Any, ...]:
    """A pytree key path of dict keys → the tuple of its names."""
    return tuple(k.key for k in keypath if isinstance(k, jax.tree_util.DictKey))


def dtype_kind(dtype: Any) -> str:
    """'floating point', 'integer', 'bool' or the dtype's name: what a cast must not change."""
    for kind, name in ((jnp.floating, "floating point"), (jnp.integer, "integer")):
        if jnp.issubdtype(dtype, kind):
            return name
    return "bool" if jnp.issubdtype(dtype, jnp.bool_) else str(np.dtype(dtype))


def fill_state(abstract_state: nnx.State, tensors: dict[str, np.ndarray]) -> nnx.State:
    """Replaces every abstract leaf by its checkpoint tensor, cast to the leaf's dtype; every key
    must be used once, with the leaf's shape and kind of dtype (floating point for a float
    parameter)."""
    used: set[str] = set()
    missing: list[str] = []
    mismatched: list[str] = []
    mistyped: list[str] = []

    def fill(keypath, leaf):
        path = keypath_tuple(keypath)
        key = flax_path_to_torch_key(path)
        if key not in tensors:
            missing.append(key)
            return leaf
        used.add(key)
        array = torch_to_flax_array(path, np.asarray(tensors[key]))
        if tuple(array.shape) != tuple(leaf.shape):
            mismatched.append(
                f"{key}: checkpoint {tuple(tensors[key].shape)} → {tuple(array.shape)}"
                f" after layout, model expects {tuple(leaf.shape)}"
            )
            return leaf
        # Casting an integer tensor to float would load garbage silently (an F32 tensor whose
        # header says I32 has the same size); only casts within a kind (bf16 → f32) are safe.
        if dtype_kind(array.dtype) != dtype_kind(leaf.dtype):
            mistyped.append(
                f"{key}: checkpoint dtype {array.dtype}, model expects "
                f"{dtype_kind(leaf.dtype)} ({np.dtype(leaf.dtype)})"
            )
            return leaf
        return jnp.asarray(array, leaf.dtype)

    state = jax.tree_util.tree_map_with_path(fill, abstract_state)
    unused = sorted(k for k in tensors if k not in used and not k.endswith(_IGNORED_SUFFIXES))
    problems = []
    if missing:
        problems.append(f"missing from the checkpoint: {sorted(missing)}")
    if unused:
        problems.append(f"unused checkpoint keys: {unused}")
    if mismatched:
        problems.append("shape mismatch: " + "; ".join(mismatched))
    if mistyped:
        problems.append("dtype mismatch: " + "; ".join(mistyped))
    if problems:
        raise CheckpointError("checkpoint does not fit the CLIP model — " + " | ".join(problems))
    return state


def clip_from_tensors(
    config: ClipConfig, tensors: dict[str, np.ndarray], dtype: Any = jnp.float32, **model_kwargs
) -> CLIP:
    """Builds a CLIP with the given weights, without spending time on a random initialisation."""
    abstract = nnx.eval_shape(lambda: CLIP(config, dtype=dtype, rngs=nnx.Rngs(0), **model_kwargs))
    graphdef, abstract_state = nnx.split(abstract)
    return nnx.merge(graphdef, fill_state(abstract_state, tensors))


class BackboneUnavailable(FileNotFoundError):
    """The CLIP a config names is neither a local folder nor fetchable from the hub; the
    message says how to get it (command lines print it as one line)."""


def _hub_folder(repo_id: str) -> Path:
    offline = os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")
    hint = (
        f"download it where the hub is reachable (`hf download {repo_id}`, or "
        f"`CLIPModel.from_pretrained({repo_id!r}).save_pretrained(FOLDER)`) and point "
        "config.model.backbone.source (or --backbone) at the folder, which holds config.json "
        "and model.safetensors"
    )
    if offline:
        raise BackboneUnavailable(
            f"cannot fetch the CLIP {repo_id!r}: the hub is offline (HF_HUB_OFFLINE is set); {hint}"
        )
    try:
        from huggingface_hub import snapshot_download

        return Path(
            snapshot_download(
                repo_id,
                allow_patterns=["config.json", "*.safetensors", "*.safetensors.index.json"],
                etag_timeout=10,
            )
        )
    except Exception as e:  # noqa: BLE001 - any hub failure gets the same actionable message
        reason = str(e).splitlines()[0] if str(e) else ""
        raise BackboneUnavailable(
            f"cannot fetch the CLIP {repo_id!r} from the hub ({type(e).__name__}: {reason}); {hint}"
        ) from e


def load_clip(
    source: Any,
    dtype: Any = jnp.float32,
    *,
    tome_r: Any = 0,
    prop_attn: bool = True,
    region_features: str = "tokens",
    param_dtype: Any = jnp.float32,
    attention: str = "auto",
) -> CLIP:
    """A Flax CLIP from a local transformers folder, an in-memory `CLIPModel`, or a hub id.

    Parameters are stored in `param_dtype` (float32 or bfloat16); `dtype` is the compute dtype.
    `tome_r` and `prop_attn` set token merging in the vision tower (0: plain CLIP);
    `region_features` how its last block computes region tokens (clip.REGION_FEATURES; "tokens":
    CLIP's own); `attention` the attention implementation (attention.ATTENTION_IMPLEMENTATIONS).
    """
    model_kwargs = {
        "tome_r": tome_r,
        "prop_attn": prop_attn,
        "region_features": region_features,
        "param_dtype": param_dtype,
        "attention": attention,
    }
    if hasattr(source, "state_dict") and hasattr(source, "config"):
        config = ClipConfig.from_transformers_dict(source.config.to_dict())
        tensors = {
            k: v.detach().float().numpy() if v.is_floating_point() else v.numpy()
            for k, v in source.state_dict().items()
        }
        return clip_from_tensors(config, tensors, dtype, **model_kwargs)
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(
            f"load_clip takes a folder, a hub id or a transformers CLIPModel, "
            f"not {type(source).__name__}"
        )
    folder = Path(source)
    if not folder.exists():
        if os.path.isabs(str(source)) or str(source).startswith(".") or str(source).count("/") != 1:
            raise BackboneUnavailable(f"{source}: no such folder (a CLIP checkpoint folder)")
        folder = _hub_folder(str(source))
    with phase(f"loading the CLIP checkpoint {folder}"):
        config_dict, tensors = read_checkpoint_folder(folder)
        return clip_from_tensors(
            ClipConfig.from_transformers_dict(config_dict), tensors, dtype, **model_kwargs
        )


def clip_state_dict(model: CLIP) -> dict[str, np.ndarray]:
    """The model's parameters as a transformers `CLIPModel` state dict of NumPy arrays."""
    out = {}
    for keypath, leaf in jax.tree_util.tree_flatten_with_path(nnx.state(model, nnx.Param))[0]:
        path = keypath_tuple(keypath)
        out[flax_path_to_torch_key(path)] = flax_to_torch_array(path, np.asarray(leaf))
    return out


def save_clip(model: CLIP, folder: str | os.PathLike, dtype: str = "float32") -> Path:
    """Writes the model as a transformers CLIP folder (config.json + model.safetensors, the
    tokenizer and image processor files) that `CLIPModel.from_pretrained`, `CLIPProcessor.
    from_pretrained` and `load_clip` read; `dtype` is the storage dtype ("float32",
    or "bfloat16" for half the size; `load_clip` reads either as float32)."""
    from safetensors.numpy import save_file

    storage = {"float32": np.float32, "bfloat16": ml_dtypes.bfloat16}
    if dtype not in storage:
        raise ValueError(f"save_clip: dtype must be one of {sorted(storage)}, got {dtype!r}")

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "architectures": ["CLIPModel"],
        "model_type": "clip",
        **model.config.to_transformers_dict(),
    }
    # np.array, not np.ascontiguousarray: the latter turns the 0-d logit_scale into shape [1].
    tensors = {
        k: np.array(np.asarray(v, np.float32).astype(storage[dtype]), order="C")
        for k, v in clip_state_dict(model).items()
    }
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    # The tokenizer and image processor, so CLIPProcessor/AutoProcessor load the folder too.
    default_tokenizer().save_transformers_files(folder)
    save_image_processor_config(folder, model.config.vision.image_size)
    return folder
