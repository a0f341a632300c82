"""Entity corpus embeddings S [K, d] (docs/method.md §3): encoded once, cached on disk.

Each entry (unit, description) is encoded by the frozen CLIP text encoder in a text form
(`ENTITY_TEXT_FORMS`): the unit alone, the unit in prompt templates (averaged when several),
the paper's "{unit}: {description}" pair, or the average of the pair and the templates. Every
text is L2-normalised, a form's texts are averaged and normalised again (CLIP's prompt
ensembling). The cache is an .npz keyed by a hash of the encoded texts and the identity of the
text tower (a hash of its parameters, or a caller-given id), so a changed corpus, form or
checkpoint is never served stale embeddings.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import jax
import numpy as np
from flax import nnx

from alt_jax.models.clip import CLIP
from alt_jax.progress import Progress
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


# "pair" is the paper's "{unit}: {description}"; "templates" puts the unit into each template.
ENTITY_TEXT_FORMS = ("unit", "templates", "pair", "pair+templates")
DEFAULT_ENTITY_TEMPLATES = ("a photo of a {}.",)


def entity_texts(
    entries: Sequence[dict],
    form: str = "pair",
    templates: Sequence[str] = DEFAULT_ENTITY_TEMPLATES,
) -> list[list[str]]:
    """Per entity, the texts whose normalised embeddings are averaged into its S row."""
    if form not in ENTITY_TEXT_FORMS:
        raise ValueError(f"entity text form must be one of {ENTITY_TEXT_FORMS}, got {form!r}")
    if form in ("templates", "pair+templates"):
        if not templates:
            raise ValueError(f"entity text form {form!r} needs at least one template")
        for t in templates:
            if "{}" not in t:
                raise ValueError(f"entity template {t!r} has no '{{}}' placeholder for the unit")
    out = []
    for e in entries:
        texts = []
        if form == "unit":
            texts.append(e["unit"])
        if form in ("pair", "pair+templates"):
            texts.append(f"{e['unit']}: {e['description']}")
        if form in ("templates", "pair+templates"):
            prompts = [t.format(e["unit"]) for t in templates]
            # The pair weighs as much as the whole template ensemble.
            texts.extend(prompts if form == "templates" else [prompts])
        out.append(texts)
    return out


def _ensemble(features: np.ndarray) -> np.ndarray:
    """Unit vectors [n, d] → their normalised mean [d]."""
    mean = features.mean(axis=0)
    return mean / np.linalg.norm(mean)


def texts_hash(texts: Sequence) -> str:
    """sha256 of the texts in order and nesting (what is encoded is what is keyed)."""
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


def _strings(item: str | list[str]) -> list[str]:
    return [item] if isinstance(item, str) else list(item)


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
    text_form: str = "pair",
    templates: Sequence[str] = DEFAULT_ENTITY_TEMPLATES,
) -> np.ndarray:
    """The corpus's entity embeddings S float32 [K, d], L2-normalised, from the cache if there.

    `corpus` is a JSON path or a list of entries; `text_form` and `templates` say how each entry
    becomes text (`entity_texts`). `model_id` names the checkpoint (default: a hash of the text
    tower's parameters). `cache_dir=None` disables caching.
    """
    entries = read_entities(corpus) if isinstance(corpus, (str, os.PathLike)) else list(corpus)
    texts = entity_texts(entries, text_form, templates)
    corpus_key = texts_hash(texts)
    model_key = model_id if model_id is not None else text_tower_id(model)
    path = None if cache_dir is None else cache_path(cache_dir, corpus_key, model_key)
    if path is not None and path.is_file():
        with np.load(path) as cached:
            # The file name holds only prefixes: check the full keys before trusting it.
            if str(cached["corpus_key"]) == corpus_key and str(cached["model_key"]) == model_key:
                logging.info("entity corpus: %d embeddings from the cache %s", len(texts), path)
                return cached["embeddings"]
    flat = [text for group in texts for item in group for text in _strings(item)]
    # Minutes for a large corpus on a CPU: the text tower runs over every entity's texts.
    name = f"encoding the entity corpus ({len(texts):,} entities, text form {text_form})"
    with Progress(name, len(flat), unit="texts") as bar:
        encoded = iter(encode_texts(model, flat, batch_size, bar))  # L2-normalised, in order
    rows = []
    for group in texts:
        parts = []
        for item in group:
            # A nested list (the templates inside "pair+templates") is ensembled first.
            n = len(_strings(item))
            parts.append(_ensemble(np.stack([next(encoded) for _ in range(n)])))
        rows.append(_ensemble(np.stack(parts)))
    embeddings = np.stack(rows)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(
            tmp,
            embeddings=embeddings.astype(np.float32),
            corpus_key=corpus_key,
            model_key=model_key,
            texts=np.asarray(json.dumps(texts, ensure_ascii=False)),
        )
        os.replace(tmp, path)  # atomic: a crashed write never leaves a half cache
    return embeddings.astype(np.float32)
