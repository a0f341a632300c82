"""tools/convert_to_pytorch.py refuses an --out it cannot or should not write, before any work."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[1] / "tools" / "convert_to_pytorch.py"


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("convert_to_pytorch", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _refused(tool, out: Path, capsys) -> str:
    with pytest.raises(SystemExit) as info:
        tool.main(["--random=tiny", "--tome_r=2", "--num_frames=2", f"--out={out}"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err and "Traceback" not in "\n".join(err)
    return err[-1]


def test_out_that_is_a_file_is_refused(tool, tmp_path, capsys):
    out = tmp_path / "model.bin"
    out.write_bytes(b"keep me")
    line = _refused(tool, out, capsys)
    assert line.endswith(f"error: --out={out} is a file; give a folder (new, empty or an export)")
    assert out.read_bytes() == b"keep me"


def test_out_inside_a_file_is_refused(tool, tmp_path, capsys):
    (tmp_path / "model.bin").write_bytes(b"x")
    line = _refused(tool, tmp_path / "model.bin" / "export", capsys)
    assert "model.bin is a file" in line


def test_non_empty_folder_that_is_not_an_export_is_refused(tool, tmp_path, capsys):
    (tmp_path / "config.json").write_text('{"mine": 1}')
    (tmp_path / "notes.txt").write_text("x")
    line = _refused(tool, tmp_path, capsys)
    assert f"--out={tmp_path}" in line and "not an earlier export" in line and "notes.txt" in line
    assert (tmp_path / "config.json").read_text() == '{"mine": 1}'


@pytest.mark.parametrize("names", [[], ["config.json", "model.safetensors", "clip/config.json"]])
def test_new_empty_or_earlier_export_folders_are_accepted(tool, tmp_path, names):
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("{}")
    tool.check_out_folder(tmp_path)  # no error
    tool.check_out_folder(tmp_path / "new" / "export")


@pytest.mark.slow
def test_converts_a_run_from_another_folder(relative_workdir, tmp_path):
    from conftest import run_from

    out = tmp_path / "export"
    proc = run_from(tmp_path, [str(TOOL), f"--workdir={relative_workdir}", f"--out={out}"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "model.safetensors").is_file()


def test_moved_run_needs_its_corpus_named_then_converts(
    tool, moved_workdir, tiny_data, tmp_path, capsys
):
    with pytest.raises(SystemExit) as info:
        tool.main([f"--workdir={moved_workdir}", f"--out={tmp_path / 'a'}"])
    assert info.value.code == 2
    assert "--corpus=FILE" in capsys.readouterr().err
    given = [f"--corpus={tiny_data}/corpus.json", f"--labels={tiny_data}/classes.txt"]
    tool.main([f"--workdir={moved_workdir}", *given, f"--out={tmp_path / 'b'}"])
    assert (tmp_path / "b" / "model.safetensors").is_file()
