"""Entity corpus embeddings S [K, d] (SPEC §3 step 5): encoded once, cached on disk.

Each entry (unit, description) is encoded by the frozen CLIP text encoder as
"{unit}: {description}" and L2-normalised. The cache is an .npz keyed by a hash of the encoded
texts and the identity of the text tower (a hash of its parameters, or a caller-given id), so a
changed corpus or a different checkpoint is never served stale embeddings.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import jax
import numpy as np
from flax import nnx

from alt_jax.models.clip import CLIP
from alt_jax.resources import resolve
from alt_jax.text import encode_texts

DEFAULT_CACHE_DIR = Path(os.environ.get("ALT_JAX_CACHE", "~/.cache/alt_jax")).expanduser()


def read_entities(path: str | os.PathLike) -> list[dict]:
    """Reads a corpus JSON: a list of entries with string `unit` and `description` (other
    fields, as `corpus_builder` writes them, are allowed and ignored here).

    A malformed file is a ValueError naming it and the place: line and column of a syntax error,
    index of a bad entry.
    """
    path = Path(resolve(path))
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text ({e})") from e
    except json.JSONDecodeError as e:
        raise ValueError(
            f"{path}: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}"
        ) from e
    if not isinstance(entries, list):
        raise ValueError(f"{path}: expected a JSON list of entries, not a {type(entries).__name__}")
    if not entries:
        raise ValueError(f"{path}: the corpus is empty (expected a non-empty JSON list)")
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ValueError(f"{path}: entry {i}: a {type(entry).__name__}, not an object")
        unit = entry.get("unit")
        where = f"entry {i} ({unit!r})" if isinstance(unit, str) and unit.strip() else f"entry {i}"
        for key in ("unit", "description"):
            if key not in entry:
                problem = f"no {key!r}"
            elif not isinstance(entry[key], str):
                problem = f"{key!r} is {type(entry[key]).__name__}"
            elif not entry[key].strip():
                problem = f"{key!r} is empty"
            else:
                continue
            raise ValueError(
                f"{path}: {where}: {problem} (needs non-empty string unit and description)"
            )
    return entries


def entity_texts(entries: Sequence[dict]) -> list[str]:
    """The text each entity is encoded from: "{unit}: {description}"."""
    return [f"{e['unit']}: {e['description']}" for e in entries]


def texts_hash(texts: Sequence[str]) -> str:
    """sha256 of the texts in order (what is encoded is what is keyed)."""
    return hashlib.sha256(json.dumps(list(texts), ensure_ascii=False).encode()).hexdigest()


def text_tower_id(model: CLIP) -> str:
    """sha256 over the text tower's and text projection's parameters (paths, shapes, bytes)."""
    digest = hashlib.sha256()
    for part in (model.text_model, model.text_projection):
        leaves = jax.tree_util.tree_flatten_with_path(nnx.state(part, nnx.Param))[0]
        for keypath, leaf in leaves:
            array = np.ascontiguousarray(np.asarray(leaf, np.float32))
            digest.update(jax.tree_util.keystr(keypath).encode())
            digest.update(str(array.shape).encode())
            digest.update(array.tobytes())
    return digest.hexdigest()


def cache_path(cache_dir: str | os.PathLike, corpus_key: str, model_key: str) -> Path:
    """Where the embeddings of this (corpus, checkpoint) pair are cached."""
    model_slug = hashlib.sha256(model_key.encode()).hexdigest()[:16]
    return Path(cache_dir).expanduser() / f"entities_{corpus_key[:16]}_{model_slug}.npz"


def entity_embeddings(
    corpus: str | os.PathLike | Sequence[dict],
    model: CLIP,
    *,
    cache_dir: str | os.PathLike | None = DEFAULT_CACHE_DIR,
    model_id: str | None = None,
    batch_size: int = 256,
) -> np.ndarray:
    """The corpus's entity embeddings S float32 [K, d], L2-normalised, from the cache if there.

    `corpus` is a JSON path or a list of entries. `model_id` names the checkpoint (default: a
    hash of the text tower's parameters). `cache_dir=None` disables caching.
    """
    entries = read_entities(corpus) if isinstance(corpus, (str, os.PathLike)) else list(corpus)
    texts = entity_texts(entries)
    corpus_key = texts_hash(texts)
    model_key = model_id if model_id is not None else text_tower_id(model)
    path = None if cache_dir is None else cache_path(cache_dir, corpus_key, model_key)
    if path is not None and path.is_file():
        with np.load(path) as cached:
            # The file name holds only prefixes: check the full keys before trusting it.
            if str(cached["corpus_key"]) == corpus_key and str(cached["model_key"]) == model_key:
                return cached["embeddings"]
    embeddings = encode_texts(model, texts, batch_size)  # already L2-normalised
    embeddings = embeddings / np.linalg.norm(embeddings, axis=-1, keepdims=True)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(
            tmp,
            embeddings=embeddings.astype(np.float32),
            corpus_key=corpus_key,
            model_key=model_key,
            texts=np.asarray(texts),
        )
        os.replace(tmp, path)  # atomic: a crashed write never leaves a half cache
    return embeddings.astype(np.float32)
