"""Dataset indexes: annotation lists, Kinetics CSV, UCF-101 / HMDB-51 trees with split files."""

from __future__ import annotations

import os

import pytest

from alt_jax.data import sources


def _touch(path: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "wb").close()


def test_annotation_list(tmp_path):
    lst = tmp_path / "train.txt"
    lst.write_text("a/x.mp4 0\n\n# comment\nb/with space.mp4 2\n")
    records = sources.read_annotation_list(lst, "/data", num_classes=3)
    assert records == [
        sources.VideoRecord("/data/a/x.mp4", 0),
        sources.VideoRecord("/data/b/with space.mp4", 2),
    ]


@pytest.mark.parametrize(
    "line, message",
    [
        ("a/x.mp4", "expected 'path label'"),
        ("a/x.mp4 two", "not an integer"),
        ("a/x.mp4 3", "out of range"),
        ("a/x.mp4 -1", "out of range"),
    ],
)
def test_annotation_list_refuses_bad_lines_naming_file_and_line(tmp_path, line, message):
    lst = tmp_path / "bad.txt"
    lst.write_text(f"ok.mp4 0\n{line}\n")
    with pytest.raises(ValueError, match=f"{lst}:2: .*{message}"):
        sources.read_annotation_list(lst, "", num_classes=3)


def test_annotation_list_round_trip(tmp_path):
    records = [sources.VideoRecord(str(tmp_path / "v" / f"{i}.mp4"), i % 2) for i in range(4)]
    sources.write_annotation_list(tmp_path / "l.txt", records, tmp_path)
    assert (tmp_path / "l.txt").read_text().splitlines()[1] == "v/1.mp4 1"
    assert sources.read_annotation_list(tmp_path / "l.txt", tmp_path) == records


def test_kinetics_csv(tmp_path):
    csv = tmp_path / "train.csv"
    csv.write_text(
        "label,youtube_id,time_start,time_end,split\n"
        "riding a bike,abc,10,20,train\n"
        '"abseiling",xyz,0,10,train\n'
        "riding a bike,q_1,5,15,train\n"
    )
    records, names = sources.read_kinetics_csv(csv, "/k400")
    assert names == ["abseiling", "riding a bike"]  # sorted: the Kinetics label order
    assert records[0] == sources.VideoRecord("/k400/abc_000010_000020.mp4", 1)
    assert records[1] == sources.VideoRecord("/k400/xyz_000000_000010.mp4", 0)
    records, _ = sources.read_kinetics_csv(
        csv,
        "/k",
        class_names=["riding a bike", "abseiling"],
        filename_pattern="{split}/{label_underscored}/{youtube_id}.mp4",
    )
    assert records[0] == sources.VideoRecord("/k/train/riding_a_bike/abc.mp4", 0)
    with pytest.raises(ValueError, match=f"{csv}:3: label 'abseiling' is not a known class"):
        sources.read_kinetics_csv(csv, "", class_names=["riding a bike"])
    bad = tmp_path / "bad.csv"
    bad.write_text("label,youtube_id,time_start,time_end,split\nx,y,1\n")
    with pytest.raises(ValueError, match=f"{bad}:2: malformed"):
        sources.read_kinetics_csv(bad)


def _ucf_tree(tmp_path) -> tuple[str, str]:
    root, splits = str(tmp_path / "UCF-101"), str(tmp_path / "ucfTrainTestlist")
    os.makedirs(splits)
    classes = ["ApplyEyeMakeup", "Basketball", "YoYo"]
    with open(os.path.join(splits, "classInd.txt"), "w") as f:
        f.writelines(f"{i + 1} {c}\n" for i, c in enumerate(classes))
    for fold in (1, 2, 3):
        train = open(os.path.join(splits, f"trainlist0{fold}.txt"), "w")
        test = open(os.path.join(splits, f"testlist0{fold}.txt"), "w")
        for i, c in enumerate(classes):
            for g in range(1, 5):
                rel = f"{c}/v_{c}_g{g:02d}_c01.avi"
                _touch(os.path.join(root, rel))
                # Group g is held out in fold g (g = 4 always trains).
                if g == fold:
                    test.write(f"{rel}\n")
                else:
                    train.write(f"{rel} {i + 1}\n")
        train.close()
        test.close()
    return root, splits


def test_ucf101_split_files(tmp_path):
    root, splits = _ucf_tree(tmp_path)
    train, names = sources.read_ucf101_split(root, splits, fold=2, subset="train")
    test, _ = sources.read_ucf101_split(root, splits, fold=2, subset="test")
    assert names == ["ApplyEyeMakeup", "Basketball", "YoYo"]
    assert len(train) == 9 and len(test) == 3
    assert all("_g02_" in r.path for r in test) and not any("_g02_" in r.path for r in train)
    for r in train + test:
        assert os.path.exists(r.path) and names[r.label] in r.path
    scanned, scanned_names = sources.scan_class_folders(root)
    assert scanned_names == names and len(scanned) == 12
    with open(os.path.join(splits, "trainlist01.txt"), "a") as f:
        f.write("YoYo/v_YoYo_g09_c01.avi 1\n")  # label says ApplyEyeMakeup
    with pytest.raises(ValueError, match="trainlist01.txt:10: label 1 disagrees"):
        sources.read_ucf101_split(root, splits, fold=1)


def test_hmdb51_split_files(tmp_path):
    root, splits = str(tmp_path / "hmdb51"), str(tmp_path / "splits")
    os.makedirs(splits)
    for c in ("brush_hair", "cartwheel"):
        for fold in (1, 2, 3):
            with open(os.path.join(splits, f"{c}_test_split{fold}.txt"), "w") as f:
                for v in range(6):
                    f.write(f"{c}_{v}.avi {(v + fold) % 3}\n")  # 0 unused, 1 train, 2 test
    train, names = sources.read_hmdb51_split(root, splits, fold=1, subset="train")
    test, _ = sources.read_hmdb51_split(root, splits, fold=1, subset="test")
    assert names == ["brush_hair", "cartwheel"]
    assert [os.path.basename(r.path) for r in train if r.label == 0] == [
        "brush_hair_0.avi",
        "brush_hair_3.avi",
    ]
    assert [os.path.basename(r.path) for r in test if r.label == 1] == [
        "cartwheel_1.avi",
        "cartwheel_4.avi",
    ]
    assert train[0].path == os.path.join(root, "brush_hair", "brush_hair_0.avi")


def test_humanize_class_name():
    assert sources.humanize_class_name("ApplyEyeMakeup") == "apply eye makeup"
    assert sources.humanize_class_name("brush_hair") == "brush hair"
    assert sources.humanize_class_name("YoYo") == "yo yo"


def _latin1_line3(path) -> None:
    """A list whose third line is Latin-1 (b'\\xe9' is not UTF-8), the others ASCII."""
    path.write_bytes(b"a.mp4 0\nb.mp4 1\ncaf\xe9.mp4 0\nd.mp4 1\n")


def test_non_utf8_annotation_list_names_file_and_line(tmp_path):
    lst = tmp_path / "latin1.txt"
    _latin1_line3(lst)
    with pytest.raises(ValueError, match=rf"^{lst}:3: not UTF-8 text \(byte 0xe9 at column 4\)"):
        sources.read_annotation_list(lst, "", num_classes=2)


def test_non_utf8_csv_and_split_files_name_file_and_line(tmp_path):
    csv = tmp_path / "k.csv"
    csv.write_bytes(b"label,youtube_id,time_start,time_end\nbike,a,0,10\ncaf\xe9,b,0,10\n")
    with pytest.raises(ValueError, match=rf"^{csv}:3: not UTF-8"):
        sources.read_kinetics_csv(csv, "/k")
    root, splits = _ucf_tree(tmp_path)
    with open(os.path.join(splits, "testlist01.txt"), "ab") as f:
        f.write(b"YoYo/v_\xff.avi\n")
    lineno = len(open(os.path.join(splits, "testlist01.txt"), "rb").read().splitlines())
    with pytest.raises(ValueError, match=rf"testlist01.txt:{lineno}: not UTF-8"):
        sources.read_ucf101_split(root, splits, fold=1, subset="test")
    hmdb = tmp_path / "hmdb_splits"
    hmdb.mkdir()
    (hmdb / "run_test_split1.txt").write_bytes(b"ok.avi 1\n\xff.avi 2\n")
    with pytest.raises(ValueError, match=r"run_test_split1.txt:2: not UTF-8"):
        sources.read_hmdb51_split(tmp_path, hmdb, fold=1)


def test_non_utf8_class_names_file_names_file_and_line(tmp_path):
    names = tmp_path / "classes.txt"
    names.write_bytes(b"run\n\nwalk\n\xe9t\xe9\n")
    with pytest.raises(ValueError, match=rf"^{names}:4: not UTF-8"):
        sources.read_class_names(names)


def _add_byte_order_mark(path) -> None:
    """Re-saves a UTF-8 file with a byte-order mark in front (as Windows Notepad saves)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    with open(path, "w", encoding="utf-8-sig") as f:
        f.write(text)
    with open(path, "rb") as f:
        assert f.read(3) == b"\xef\xbb\xbf"


def test_byte_order_mark_does_not_hide_the_first_video_or_class(tmp_path):
    root = tmp_path / "videos"
    for name in ("a.mp4", "b.mp4"):
        _touch(str(root / name))
    lst = tmp_path / "train.txt"
    lst.write_text("a.mp4 0\nb.mp4 1\n")
    _add_byte_order_mark(lst)
    records = sources.read_annotation_list(lst, root, num_classes=2)
    assert records[0] == sources.VideoRecord(str(root / "a.mp4"), 0)
    assert all(os.path.isfile(r.path) for r in records)
    names = tmp_path / "classes.txt"
    names.write_text("run\nwalk\n")
    _add_byte_order_mark(names)
    assert sources.read_class_names(names) == ["run", "walk"]


def test_byte_order_mark_in_csv_and_split_files(tmp_path):
    csv = tmp_path / "k.csv"
    csv.write_text("label,youtube_id,time_start,time_end\nbike,abc,0,10\n")
    _add_byte_order_mark(csv)
    records, names = sources.read_kinetics_csv(csv, "/k")
    assert names == ["bike"] and records == [sources.VideoRecord("/k/abc_000000_000010.mp4", 0)]
    root, splits = _ucf_tree(tmp_path)
    for name in ("classInd.txt", "trainlist01.txt", "testlist01.txt"):
        _add_byte_order_mark(os.path.join(splits, name))
    for subset, count in (("train", 9), ("test", 3)):
        records, names = sources.read_ucf101_split(root, splits, fold=1, subset=subset)
        assert names[0] == "ApplyEyeMakeup" and len(records) == count
        assert all(os.path.isfile(r.path) for r in records)
    hmdb = tmp_path / "hmdb_splits"
    hmdb.mkdir()
    (hmdb / "run_test_split1.txt").write_text("first.avi 1\nsecond.avi 2\n")
    _add_byte_order_mark(hmdb / "run_test_split1.txt")
    (train,), names = sources.read_hmdb51_split(tmp_path / "h", hmdb, fold=1, subset="train")
    assert names == ["run"]
    assert train == sources.VideoRecord(str(tmp_path / "h" / "run" / "first.avi"), 0)


def test_duplicate_class_name_is_refused_naming_both_lines(tmp_path):
    names = tmp_path / "classes.txt"
    names.write_text("run\nwalk\n\n  run \njump\n")
    with pytest.raises(ValueError, match=rf"^{names}:4: class name 'run' repeats line 1"):
        sources.read_class_names(names)
    names.write_text("run\n\nwalk\njump\n")
    assert sources.read_class_names(names) == ["run", "walk", "jump"]


def test_one_kinetics_file_name_default_for_configs_and_readers():
    # Flat, as the CVDF Kinetics archives unpack: ROOT/{youtube_id}_{start:06d}_{end:06d}.mp4.
    from alt_jax.configs_lib import DATASET_DEFAULTS

    assert DATASET_DEFAULTS["filename_pattern"] == sources.DEFAULT_KINETICS_PATTERN
    fields = dict(youtube_id="abc", time_start=5, time_end=15, label="x y", label_underscored="x_y")
    assert sources.DEFAULT_KINETICS_PATTERN.format(**fields) == "abc_000005_000015.mp4"
