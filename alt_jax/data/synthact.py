"""SynthAct: a compositional action benchmark of coloured shapes moving over textured backgrounds.

A class is an object (colour + shape) and a motion, named "red circle moving left". The full grid
of compositions is split into SEEN classes (training, supervised and K-shot) and UNSEEN ones
(zero-shot, evaluated through their names alone). The split is compositional: every colour, shape
and motion of an unseen class also occurs in some seen class, only the combination is new.

Split rule. Motions come in opposite pairs (left/right, up/down). For half of the objects (a
checkerboard over colour × shape) one motion pair is held out: object (c, s) with c + s even
loses pair ((c + s) // 2) mod P (P pairs). So every unseen object is seen with the other
pair(s), each unseen object has two unseen classes that differ only in direction (a single frame
cannot tell them apart), and every motion stays seen on the odd objects.

Layout written by `make_synthact_dataset` under out_dir:
  videos/<class>/<class>_<i>.mp4     16-frame H.264 clips (via synthetic.render_video/write_mp4)
  videos/<class>/<class>_<i>.objects.npz  where the object is in each frame (masks=True;
                                     synthetic_files.read_object_masks)
  classes.txt, train.txt, val.txt    the seen classes and their splits (labels index classes.txt)
  unseen_classes.txt, unseen_val.txt the unseen classes and their test videos
  fewshot/{K}shot_seed{S}.txt        K videos per seen class from train.txt (data/splits.py)
The entity corpus is built from classes.txt by tools/build_corpus.py (`write_corpus`).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections.abc import Sequence
from concurrent import futures

import numpy as np

from alt_jax.data import sources, splits, synthetic, synthetic_files

MOTIONS = ("moving left", "moving right", "moving up", "moving down")


@dataclasses.dataclass(frozen=True)
class SynthActSpec:
    """The sizes of one SynthAct build; every part is seeded by `seed`."""

    num_colors: int = 4
    num_shapes: int = 4
    motions: tuple[str, ...] = MOTIONS
    train_per_class: int = 24
    val_per_class: int = 8
    num_frames: int = 16
    size: int = 112
    seed: int = 0
    shots: tuple[int, ...] = splits.K_SHOTS
    shot_seeds: tuple[int, ...] = (0, 1, 2)


def composition_split(
    num_colors: int, num_shapes: int, motions: Sequence[str] = MOTIONS
) -> tuple[list[synthetic.SyntheticClass], list[synthetic.SyntheticClass]]:
    """(seen, unseen) classes of the colour × shape × motion grid, by the module's split rule."""
    colors = [name for name, _ in synthetic.COLORS]
    if not 2 <= num_colors <= len(colors) or not 2 <= num_shapes <= len(synthetic.SHAPES):
        raise ValueError(
            f"num_colors must be in [2, {len(colors)}] and num_shapes in "
            f"[2, {len(synthetic.SHAPES)}], got {num_colors} and {num_shapes}"
        )
    pair_of = {m: i for i, pair in enumerate(synthetic.MOTION_PAIRS) for m in pair}
    pairs = sorted({pair_of.get(m, -1) for m in motions})
    if -1 in pairs or len(motions) != 2 * len(pairs) or len(set(motions)) != len(motions):
        raise ValueError(
            f"motions must be whole opposite pairs of synthetic.MOTION_PAIRS, got {list(motions)}"
        )
    seen, unseen = [], []
    for c in range(num_colors):
        for s in range(num_shapes):
            held_out = pairs[((c + s) // 2) % len(pairs)] if (c + s) % 2 == 0 else None
            for motion in motions:
                cls = synthetic.SyntheticClass(colors[c], synthetic.SHAPES[s], motion)
                (unseen if pair_of[motion] == held_out else seen).append(cls)
    return seen, unseen


def check_compositional(
    seen: Sequence[synthetic.SyntheticClass], unseen: Sequence[synthetic.SyntheticClass]
) -> None:
    """Raises unless the sets are disjoint and every part of an unseen class occurs in a seen one."""
    overlap = sorted({c.name for c in seen} & {c.name for c in unseen})
    if overlap:
        raise ValueError(f"classes both seen and unseen: {overlap}")
    for part in ("color", "shape", "motion"):
        missing = {getattr(c, part) for c in unseen} - {getattr(c, part) for c in seen}
        if missing:
            raise ValueError(f"unseen classes use {part}s no seen class has: {sorted(missing)}")


def _slug(name: str) -> str:
    return name.replace(" ", "_")


def _render_one(job: tuple[str, synthetic.SyntheticClass, int, int, int, int, bool]) -> None:
    """Renders and writes one clip and its masks (a picklable unit of work for the pool)."""
    path, cls, class_seed, video_index, num_frames, size, masks = job
    # Seeded per (class, video): the pixels do not depend on the split or the worker count.
    rng = np.random.default_rng(np.random.SeedSequence([class_seed, video_index]))
    clip = synthetic.render_clip(cls, rng, num_frames, size, size)
    synthetic_files.write_mp4(path, clip.frames)
    if masks:
        synthetic_files.write_object_masks(path, clip.coverage, clip.names, clip.background)


def _class_seed(seed: int, cls: synthetic.SyntheticClass) -> int:
    return int(np.random.SeedSequence([seed, *map(ord, cls.name)]).generate_state(1)[0])


def make_synthact_dataset(
    out_dir: str | os.PathLike, spec: SynthActSpec, *, workers: int = 0, masks: bool = True
) -> dict[str, object]:
    """Writes the videos (with their object masks if `masks`), class lists, splits and K-shot
    lists of `spec`; returns a summary."""
    if spec.size % 2:
        raise ValueError(f"H.264 yuv420p needs an even size, got {spec.size}")
    if spec.shots and max(spec.shots) > spec.train_per_class:
        raise ValueError(
            f"train_per_class={spec.train_per_class} is fewer than the largest K={max(spec.shots)}"
        )
    seen, unseen = composition_split(spec.num_colors, spec.num_shapes, spec.motions)
    check_compositional(seen, unseen)
    out_dir = os.fspath(out_dir)
    jobs, lists = [], {"train": [], "val": [], "unseen_val": []}
    for group, classes in (("seen", seen), ("unseen", unseen)):
        for label, cls in enumerate(classes):
            folder = os.path.join(out_dir, "videos", _slug(cls.name))
            os.makedirs(folder, exist_ok=True)
            count = spec.train_per_class + spec.val_per_class if group == "seen" else 0
            count = count or spec.val_per_class
            for i in range(count):
                path = os.path.join(folder, f"{_slug(cls.name)}_{i:04d}.mp4")
                class_seed = _class_seed(spec.seed, cls)
                jobs.append((path, cls, class_seed, i, spec.num_frames, spec.size, masks))
                split = "unseen_val" if group == "unseen" else "train"
                if group == "seen" and i >= spec.train_per_class:
                    split = "val"
                lists[split].append(sources.VideoRecord(path, label))
    if workers > 0:
        with futures.ProcessPoolExecutor(workers) as pool:
            list(pool.map(_render_one, jobs, chunksize=max(1, len(jobs) // (4 * workers))))
    else:
        for job in jobs:
            _render_one(job)
    sources.write_class_names(os.path.join(out_dir, "classes.txt"), [c.name for c in seen])
    sources.write_class_names(os.path.join(out_dir, "unseen_classes.txt"), [c.name for c in unseen])
    for split, records in lists.items():
        sources.write_annotation_list(os.path.join(out_dir, f"{split}.txt"), records, out_dir)
    fewshot = splits.write_k_shot_lists(
        lists["train"],
        os.path.join(out_dir, "fewshot"),
        ks=spec.shots,
        seeds=spec.shot_seeds,
        class_names=[c.name for c in seen],
        root=out_dir,
    )
    return {
        "out_dir": out_dir,
        "seen": [c.name for c in seen],
        "unseen": [c.name for c in unseen],
        "num_videos": {split: len(records) for split, records in lists.items()},
        "fewshot_lists": {f"{k}shot_seed{s}": path for (k, s), path in fewshot.items()},
    }


def write_corpus(data_dir: str | os.PathLike, *, python: str = sys.executable) -> str:
    """Runs tools/build_corpus.py on the seen class names and the world's scene entities (as
    `make demo` does) → corpus.json.

    Only seen names go in: zero-shot means the unseen names are used for nothing but their
    class embeddings (the split rule keeps every unseen word among the seen names anyway).
    """
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    output = os.path.join(os.fspath(data_dir), "corpus.json")
    subprocess.run(
        [
            python,
            os.path.join(repo, "tools", "build_corpus.py"),
            f"--labels={os.path.join(os.fspath(data_dir), 'classes.txt')}",
            f"--output={output}",
            f"--scenes={','.join(synthetic.SCENE_ENTITIES)}",
        ],
        check=True,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": repo},
    )
    return output
