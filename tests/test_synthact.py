"""SynthAct: the compositional split, the written lists and K-shot draws, and the table command
end to end at its smallest size."""

from __future__ import annotations

import collections
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from alt_jax.data import sources, synthact, synthetic_files
from alt_jax.data.synthetic import MOTION_PAIRS

ROOT = Path(__file__).resolve().parents[1]


def parts(cls):
    return cls.color, cls.shape, cls.motion


def test_unseen_compositions_are_new_but_made_of_seen_parts():
    seen, unseen = synthact.composition_split(4, 4)
    assert (len(seen), len(unseen)) == (48, 16)
    seen_parts, unseen_parts = {parts(c) for c in seen}, {parts(c) for c in unseen}
    assert len(seen_parts) == 48 and len(unseen_parts) == 16 and not seen_parts & unseen_parts
    grid = {
        (c, s, m)
        for c in ("red", "blue", "green", "yellow")
        for s in ("circle", "square", "triangle", "star")
        for m in synthact.MOTIONS
    }
    assert seen_parts | unseen_parts == grid
    for i in range(3):  # every colour, shape and motion of an unseen class is seen somewhere
        assert {p[i] for p in unseen_parts} <= {p[i] for p in seen_parts}
    objects = collections.defaultdict(set)
    for color, shape, motion in unseen_parts:
        objects[(color, shape)].add(motion)
    opposite = {a: b for pair in MOTION_PAIRS for a, b in (pair, pair[::-1])}
    for (color, shape), motions in objects.items():
        # Each unseen object loses both directions of one pair (a frame cannot tell them apart)
        # and keeps the other pair among the seen classes.
        assert len(motions) == 2 and opposite[min(motions)] == max(motions)
        kept = {m for c, s, m in seen_parts if (c, s) == (color, shape)}
        assert kept == set(synthact.MOTIONS) - motions


def test_the_split_check_refuses_overlap_and_unseen_parts():
    seen, unseen = synthact.composition_split(2, 2, ("moving left", "moving right"))
    synthact.check_compositional(seen, unseen)
    with pytest.raises(ValueError, match="both seen and unseen"):
        synthact.check_compositional(seen, unseen + seen[:1])
    with pytest.raises(ValueError, match="colors no seen class has"):
        synthact.check_compositional([c for c in seen if c.color != "red"], unseen)
    with pytest.raises(ValueError, match="opposite pairs"):
        synthact.composition_split(2, 2, ("moving left", "moving up"))


def test_written_lists_and_k_shot_counts(tmp_path):
    spec = synthact.SynthActSpec(
        num_colors=2,
        num_shapes=2,
        motions=("moving left", "moving right"),
        train_per_class=4,
        val_per_class=2,
        num_frames=4,
        size=16,
        shots=(2, 4),
        shot_seeds=(0, 1),
    )
    made = synthact.make_synthact_dataset(tmp_path, spec)
    seen = sources.read_class_names(tmp_path / "classes.txt")
    unseen = sources.read_class_names(tmp_path / "unseen_classes.txt")
    assert seen == made["seen"] and unseen == made["unseen"] and not set(seen) & set(unseen)
    read = lambda name: sources.read_annotation_list(tmp_path / name, tmp_path)
    train, val, unseen_val = read("train.txt"), read("val.txt"), read("unseen_val.txt")
    assert collections.Counter(r.label for r in train) == {i: 4 for i in range(len(seen))}
    assert collections.Counter(r.label for r in val) == {i: 2 for i in range(len(seen))}
    assert collections.Counter(r.label for r in unseen_val) == {i: 2 for i in range(len(unseen))}
    assert not {r.path for r in train} & {r.path for r in val}
    for r in train + val:  # labels name the class whose folder holds the video
        assert os.path.basename(os.path.dirname(r.path)) == seen[r.label].replace(" ", "_")
        assert os.path.getsize(r.path) > 0
    for r in unseen_val:
        assert os.path.basename(os.path.dirname(r.path)) == unseen[r.label].replace(" ", "_")
    for records, names in ((train + val, seen), (unseen_val, unseen)):
        for r in records:  # masks beside every video: the class's object in every frame
            coverage, object_names = synthetic_files.read_object_masks(r.path)
            assert coverage.shape == (4, 1, 16, 16) and coverage.max() > 0.5
            assert object_names[:, 0].tolist() == [" ".join(names[r.label].split()[:2])] * 4
    train_paths = {r.path: r.label for r in train}
    for seed in (0, 1):
        two, four = (read(f"fewshot/{k}shot_seed{seed}.txt") for k in (2, 4))
        for k, shot in ((2, two), (4, four)):
            assert collections.Counter(r.label for r in shot) == {i: k for i in range(len(seen))}
            assert all(train_paths[r.path] == r.label for r in shot)  # drawn from train only
        assert {r.path for r in two} <= {r.path for r in four}  # nested within a seed
    assert read("fewshot/2shot_seed0.txt") != read("fewshot/2shot_seed1.txt")
    synthact.make_synthact_dataset(tmp_path / "plain", spec, masks=False)
    assert list((tmp_path / "plain").rglob("*.mp4")) and not list(tmp_path.glob("plain/**/*.npz"))
    with pytest.raises(ValueError, match="largest K"):
        synthact.make_synthact_dataset(tmp_path / "x", synthact.SynthActSpec(train_per_class=8))


@pytest.mark.slow
def test_table_command_at_its_smallest_size_writes_every_cell(tmp_path):
    out = tmp_path / "synthact.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [
        sys.executable,
        str(ROOT / "benchmarks" / "synthact.py"),
        "--size=smallest",
        "--clip=random",
        f"--workdir={tmp_path / 'work'}",
        f"--out={out}",
        "--workers=0",
        "--rows=frame_average_clip,alt,victr,alt_learned_queries",
    ]
    subprocess.run(command, check=True, env=env, cwd=ROOT, capture_output=True, timeout=600)
    results = json.loads(out.read_text())
    assert results["columns"] == ["supervised", "2shot", "zeroshot"]
    rows = results["rows"]
    assert set(rows) == {"frame_average_clip", "alt", "victr", "alt_learned_queries"}
    for row, cells in rows.items():
        assert set(cells) == set(results["columns"]), row
        for cell in cells.values():
            runs = cell["runs"]
            assert len(runs) == (1 if row == "frame_average_clip" else 2)
            assert math.isclose(cell["mean"], sum(runs) / len(runs))
            assert (cell["min"], cell["max"]) == (min(runs), max(runs))
    # Every trained cell holds, in %, its setting's per-seed top-1 listed in "runs": the seen
    # val top-1 of the supervised (shots 0) and 2-shot runs, the unseen top-1 of the supervised.
    for row, cells in rows.items():
        if row == "frame_average_clip":  # untrained: one seen top-1 fills every seen column
            assert cells["supervised"] == cells["2shot"]
            continue
        of = lambda shots, key, row=row: [
            100 * r[key] for r in results["runs"] if (r["model"], r["shots"]) == (row, shots)
        ]
        assert [r["seed"] for r in results["runs"] if r["model"] == row] == [0, 1, 0, 1]
        assert cells["supervised"]["runs"] == pytest.approx(of(0, "seen_val_top1")), row
        assert cells["2shot"]["runs"] == pytest.approx(of(2, "seen_val_top1")), row
        assert cells["zeroshot"]["runs"] == pytest.approx(of(0, "unseen_top1")), row
    # 2 seen val videos per class: top-1 is a multiple of 1 / (2 × 4 classes).
    for run in results["runs"]:
        assert (8 * run["seen_val_top1"]).is_integer() and (8 * run["unseen_top1"]).is_integer()
    assert len(results["runs"]) == 3 * 2 * 2  # trained models × (supervised, 2 shots) × seeds
    # Names of one object differ only in the motion: the text tower's cosines are recorded (their
    # arithmetic: test_text_separability_by_hand). Seen and unseen classes are two objects × two
    # motions, so knowing the object leaves a coin toss: a 50 % ceiling.
    for split in ("seen", "unseen"):
        separability = results["text_separability"][split]
        assert separability["object_only_top1_ceiling"] == 50.0
        assert (
            separability["max_cosine_same_object"]
            >= separability["cosine_same_object_other_motion"]
        )
    # ALT with its aligned entities replaced: a cell per kind and column, each of both seeds.
    ablations = results["entity_ablations"]
    assert set(ablations) == {"constant", "shuffle", "random"}
    for cols in ablations.values():
        assert set(cols) == {"supervised", "2shot", "zeroshot"}
        assert all(len(c["runs"]) == 2 for c in cols.values())
    wall = results["wall_time_s"]
    for part in ("data_generation", "feature_extraction", "frame_average_clip", "total"):
        assert wall[part] > 0
    assert all(wall[f"train_and_eval_{row}"] > 0 for row in rows if row != "frame_average_clip")


def test_text_separability_by_hand():
    """Cosines and the object-only ceiling of benchmarks/synthact.py on three made-up names."""
    from benchmarks.synthact import text_separability

    names = ["red circle moving left", "red circle moving right", "blue square moving left"]
    # Unit directions (1, 0, 0), (.6, .8, 0), (0, .6, .8); the first is given at length 2, as
    # cosines must not depend on the norm.
    emb = np.array([[2.0, 0.0, 0.0], [0.6, 0.8, 0.0], [0.0, 3.0, 4.0]])
    got = text_separability(emb, names)
    # Same object: the two red circles, cos = .6. Other objects: each red circle vs the blue
    # square, cos = 0 and .8 · .6 = .48; mean .24.
    assert got["cosine_same_object_other_motion"] == pytest.approx(0.6)
    assert got["max_cosine_same_object"] == pytest.approx(0.6)
    assert got["cosine_other_object"] == pytest.approx(0.24)
    # Knowing the object: 1/2 for each red circle (two names share it), 1 for the blue square.
    assert got["object_only_top1_ceiling"] == pytest.approx(100 * (0.5 + 0.5 + 1) / 3)


def test_k_shot_runs_make_the_same_passes_over_their_videos():
    """With `passes`, the steps follow the training set: K videos per class × classes ×
    passes / batch (16), rounded up, so every K sees its videos equally often."""
    from benchmarks.synthact import SIZES, steps_for

    full = SIZES["full"]
    assert full["passes"] == 16
    assert steps_for(full, 48 * 24) == 16 * 48 * 24 // 16  # supervised: 1152 steps
    assert steps_for(full, 48 * 2) == 96  # 2-shot
    assert steps_for(full, 10) == math.ceil(16 * 10 / 16)
    assert steps_for({**full, "passes": 0}, 48 * 2) == full["steps"]  # fixed budget
    assert steps_for(SIZES["smallest"], 500) == SIZES["smallest"]["steps"]  # no passes: fixed
