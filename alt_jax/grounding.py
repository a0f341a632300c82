"""Alignment quality: does each region's aligned entity name what is drawn there?

Measured on data whose object masks are known (the synthetic generators write them). Each patch
of a frame is an *object patch* of object o when o covers at least half of it, a *background
patch* when objects cover less than 5 % of it, and left out in between (edges). A patch inherits
the entity of the ToMe region it ended in (the `dest` map). Then:

- grounding: the share of object patches whose entity names their object. An entity names an
  object when every word of its unit is a word of the object's name ("red", "circle" and "red
  circle" name a red circle; "blue" or "person" do not);
- background given an object entity: the share of background patches whose entity names any
  object of the dataset;
- background grounding: where the background's scene entity is known (the synthetic
  generators store it), the share of background patches whose entity names it;
- entity usage: the share of regions (ToMe tokens, not patches) that take each entity; the
  most-used entity's share says whether the alignment collapses onto a few hubs. Against it
  stands the *ideal* most-used share: that of the labelled patches when each takes the entity
  that names it with the most words ("red circle" before "red"; the background's own): what a
  perfect alignment gives on this data (a background kind drawn for 41 % of the clips takes
  about a third of all patches).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from PIL import Image

from alt_jax.progress import track

OBJECT_MIN, BACKGROUND_MAX = 0.5, 0.05
BACKGROUND, LEFT_OUT = -1, -2


def names_object(unit: str, object_name: str) -> bool:
    """Whether the entity `unit` names the object `object_name` (its words ⊆ the name's)."""
    words = unit.lower().split()
    return bool(words) and set(words) <= set(object_name.lower().split())


def naming_table(units: Sequence[str], object_names: Sequence[str]) -> np.ndarray:
    """[O, K] bool: entity k names object o."""
    return np.array([[names_object(u, o) for u in units] for o in object_names], bool)


def patch_labels(coverage: np.ndarray, names: np.ndarray, vocabulary: list[str], patch: int):
    """coverage [T, K, H, W] in [0, 1] and names [T, K] of one clip's frames → per patch
    [T, N] int: the index in `vocabulary` of the object covering ≥ OBJECT_MIN of it (names are
    added to the vocabulary as met), BACKGROUND, or LEFT_OUT."""
    t, k, h, w = coverage.shape
    if h % patch or w % patch:
        raise ValueError(f"mask size {h}x{w} is not a multiple of the patch size {patch}")
    share = coverage.reshape(t, k, h // patch, patch, w // patch, patch).mean(axis=(3, 5))
    share = share.reshape(t, k, -1)  # [T, K, N]
    labels = np.full((t, share.shape[-1]), LEFT_OUT, np.int64)
    labels[share.sum(axis=1) < BACKGROUND_MAX] = BACKGROUND
    best = share.argmax(axis=1)  # [T, N]
    for frame in range(t):
        for obj in range(k):
            hit = (best[frame] == obj) & (share[frame, obj] >= OBJECT_MIN)
            if hit.any():
                name = str(names[frame, obj])
                if name not in vocabulary:
                    vocabulary.append(name)
                labels[frame, hit] = vocabulary.index(name)
    return labels


def eval_view_masks(coverage: np.ndarray, image_size: int) -> np.ndarray:
    """coverage [T, K, H, W] → the evaluation view's geometry [T, K, S, S]: the shorter side
    resized to S (bilinear, as `augment.eval_views` resizes frames), then the centre crop."""
    t, k, h, w = coverage.shape
    if min(h, w) != image_size:
        scale = image_size / min(h, w)
        nh, nw = max(image_size, round(h * scale)), max(image_size, round(w * scale))
        out = np.empty((t, k, nh, nw), np.float32)
        for i in range(t):
            for j in range(k):
                image = Image.fromarray(coverage[i, j].astype(np.float32), mode="F")
                out[i, j] = np.asarray(image.resize((nw, nh), Image.BILINEAR))
        coverage, h, w = out, nh, nw
    top, left = (h - image_size) // 2, (w - image_size) // 2
    return coverage[:, :, top : top + image_size, left : left + image_size]


@dataclasses.dataclass
class GroundingCounts:
    """Running counts over clips; `summary()` turns them into shares."""

    units: list[str]
    object_patches: int = 0
    grounded: int = 0
    background_patches: int = 0
    background_entities: np.ndarray | None = None  # background patches per entity
    named_background_patches: int = 0  # background patches whose scene entity is known
    background_grounded: int = 0
    ideal: dict = dataclasses.field(default_factory=dict)  # entity → labelled patches
    vocabulary: list[str] = dataclasses.field(default_factory=list)
    per_object: dict = dataclasses.field(default_factory=dict)  # name → [grounded, patches]
    usage: np.ndarray | None = None  # regions per entity

    def _best_entity(self, name: str) -> int | None:
        """The entity naming `name` with the most words (None if none does)."""
        naming = [k for k, u in enumerate(self.units) if names_object(u, name)]
        return max(naming, key=lambda k: len(self.units[k].split())) if naming else None

    def add(
        self,
        entity_index: np.ndarray,
        dest: np.ndarray,
        coverage: np.ndarray,
        names: np.ndarray,
        background: str = "",
    ) -> None:
        """One clip: entity_index [T, M] (entity of region m + 1), dest [T, 1 + N] (region of
        each input token; 0 the class token), the view's coverage [T, K, S, S], names [T, K]
        and the background's scene entity name ("" when unknown)."""
        n = dest.shape[1] - 1
        patch = coverage.shape[-1] // int(round(n**0.5))
        labels = patch_labels(coverage, names, self.vocabulary, patch)  # [T, N]
        patch_entity = np.take_along_axis(entity_index, dest[:, 1:] - 1, axis=1)  # [T, N]
        table = naming_table(self.units, self.vocabulary)  # [O, K]
        for obj, name in enumerate(self.vocabulary):
            at = labels == obj
            best = self._best_entity(name)
            if at.any() and best is not None:
                self.ideal[best] = self.ideal.get(best, 0) + int(at.sum())
            if at.any():
                hits = int(table[obj, patch_entity[at]].sum())
                self.grounded += hits
                self.object_patches += int(at.sum())
                counts = self.per_object.setdefault(name, [0, 0])
                counts[0] += hits
                counts[1] += int(at.sum())
        is_background = labels == BACKGROUND
        self.background_patches += int(is_background.sum())
        best = self._best_entity(background) if background else None
        if best is not None:
            naming = np.array([names_object(u, background) for u in self.units])
            self.named_background_patches += int(is_background.sum())
            self.background_grounded += int(naming[patch_entity[is_background]].sum())
            self.ideal[best] = self.ideal.get(best, 0) + int(is_background.sum())
        per_entity = np.bincount(patch_entity[is_background], minlength=len(self.units))
        usage = np.bincount(entity_index.ravel(), minlength=len(self.units))
        if self.usage is None:
            self.usage, self.background_entities = usage, per_entity
        else:
            self.usage, self.background_entities = (
                self.usage + usage,
                self.background_entities + per_entity,
            )

    def summary(self, top: int = 5) -> dict:
        """grounding, background_object_entity, most_used_share, the top entities with their
        shares, per-object grounding and the raw counts."""
        usage = self.usage if self.usage is not None else np.zeros(len(self.units), np.int64)
        total = max(int(usage.sum()), 1)
        # Entities that name any object met in the data (known only at the end).
        names_any = naming_table(self.units, self.vocabulary).any(axis=0)
        background = self.background_entities if self.usage is not None else usage
        on_objects = int(background[names_any].sum()) if self.vocabulary else 0
        order = np.argsort(-usage, kind="stable")[:top]
        ideal_total = max(sum(self.ideal.values()), 1)
        return {
            "grounding": self.grounded / max(self.object_patches, 1),
            "background_grounding": (
                self.background_grounded / self.named_background_patches
                if self.named_background_patches
                else None
            ),
            "ideal_most_used_share": max(self.ideal.values(), default=0) / ideal_total,
            "background_object_entity": on_objects / max(self.background_patches, 1),
            "most_used_share": float(usage.max() / total) if usage.size else 0.0,
            "top_entities": [[self.units[i], float(usage[i] / total)] for i in order],
            "per_object": {
                name: counts[0] / max(counts[1], 1) for name, counts in self.per_object.items()
            },
            "object_patches": self.object_patches,
            "grounded_patches": self.grounded,
            "background_patches": self.background_patches,
            "regions": int(usage.sum()),
        }


def dataset_grounding(model, source, class_emb: np.ndarray, units: list[str], spec) -> dict | None:
    """Alignment quality of an ALT model on a dataset whose videos have object masks (the
    synthetic generators write X.objects.npz beside X.mp4), or None when they have none.

    source: the dataset's `pipeline.SourceSpec`; spec: the evaluation `samples.ClipSpec`
    (its first clip and crop is the view measured). Videos are decoded one by one.
    """
    # JAX and the decoders on use: the measures above are NumPy, for tools that lack them.
    from alt_jax import explain
    from alt_jax.data import pipeline, samples, sampling, synthetic_files

    elements, _ = pipeline.load_source(source)
    if not len(elements) or not synthetic_files.object_masks_path(elements[0]["path"]).exists():
        return None
    spec = dataclasses.replace(spec, num_clips=1, num_crops=1)
    counts = GroundingCounts(list(units))
    for element in track(elements, "alignment grounding", unit="videos"):
        sample = samples.load_eval_sample(element, spec=spec)
        if samples.is_skip_marker(sample):  # unreadable: already counted by the evaluation
            continue
        out = explain.explain_views(model, sample["video"], class_emb)
        coverage, names = synthetic_files.read_object_masks(element["path"])
        frames = sampling.eval_indices(len(coverage), spec.num_frames, 1, spec.stride)[0]
        view = eval_view_masks(coverage[frames], spec.image_size)
        background = synthetic_files.read_background(element["path"])
        counts.add(out["entity_index"], out["dest"], view, names[frames], background)
    return counts.summary()
