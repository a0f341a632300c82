"""tools/visualize_alignment.py: the PNG grid and the GIF of a trained run on a real clip."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

TOOL = Path(__file__).resolve().parents[1] / "tools" / "visualize_alignment.py"


def run_tool(monkeypatch, *args: str) -> int:
    spec = importlib.util.spec_from_file_location("visualize_alignment", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(sys, "argv", [str(TOOL), *args])
    return module.main()


@pytest.mark.slow
def test_picture_and_gif(tiny_workdir, bikes_video, tmp_path, monkeypatch):
    out = tmp_path / "pictures" / "alignment.png"
    code = run_tool(
        monkeypatch,
        f"--workdir={tiny_workdir}",
        bikes_video,
        f"--out={out}",
        "--columns=2",
        "--gif",
    )
    assert code == 0
    picture = np.asarray(Image.open(out).convert("RGB"))
    # 4 frames of 32 px in rows of 2 → 64 × 64, over a legend of 16 px per entity shown (≤ 4).
    assert picture.shape[1] == 64
    legend_rows = (picture.shape[0] - 64) / 16
    assert legend_rows in (1, 2, 3, 4)
    # The legend swatches (8 px in, one per row) are the region colours: at least two differ.
    swatches = {tuple(picture[64 + 16 * row + 8, 8]) for row in range(int(legend_rows))}
    assert len(swatches) >= 2
    gif = Image.open(out.with_suffix(".gif"))
    assert gif.n_frames == 4


def test_missing_video_exit_code(tmp_path, monkeypatch, capsys):
    missing = tmp_path / "none.mp4"
    assert run_tool(monkeypatch, f"--workdir={tmp_path}", str(missing), "--out=x.png") == 2
    assert str(missing) in capsys.readouterr().err


@pytest.mark.slow
def test_runs_from_another_folder(relative_workdir, bikes_video, tmp_path):
    from conftest import run_from

    args = [str(TOOL), f"--workdir={relative_workdir}", bikes_video, "--out=picture.png"]
    proc = run_from(tmp_path, args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "picture.png").is_file()


def test_moved_run_loads_with_its_corpus_given_again(
    moved_workdir, bikes_video, tiny_data, tmp_path, monkeypatch, capsys
):
    args = [f"--workdir={moved_workdir}", bikes_video, f"--out={tmp_path / 'p.png'}"]
    assert run_tool(monkeypatch, *args) == 2
    assert "--corpus=FILE" in capsys.readouterr().err
    given = [f"--corpus={tiny_data}/corpus.json", f"--labels={tiny_data}/classes.txt"]
    assert run_tool(monkeypatch, *args, *given) == 0
