"""Tests of alt_jax.labels against the datasets' published class counts and names."""

import pytest

from alt_jax import labels


@pytest.mark.parametrize(
    "name,count",
    [
        ("k400", 400),
        ("k600", 600),
        ("ucf101", 101),
        ("hmdb51", 51),
        ("ssv2", 174),
        ("k600_novel", 220),
    ],
)
def test_counts(name, count):
    names = labels.load_labels(name)
    assert len(names) == count
    assert len(set(names)) == count


def test_official_order_first_and_last():
    # Hand-checked against the datasets' own index files.
    assert labels.load_labels("k400")[:2] == ["abseiling", "air drumming"]
    assert labels.load_labels("k400")[-1] == "zumba"
    assert labels.load_labels("ucf101")[0] == "apply eye makeup"  # classInd 1 ApplyEyeMakeup
    assert labels.load_labels("ucf101")[100] == "yo yo"  # classInd 101 YoYo
    assert labels.load_labels("hmdb51")[:2] == ["brush hair", "cartwheel"]
    assert labels.load_labels("hmdb51")[20:22] == ["kick", "kick ball"]
    assert labels.load_labels("ssv2")[0] == "Approaching something with your camera"
    assert labels.load_labels("ssv2")[173] == "Wiping something off of something"


def test_k600_novel_is_k600_minus_k400_and_renames():
    k400 = set(labels.load_labels("k400"))
    k600 = labels.load_labels("k600")
    novel = labels.load_labels("k600_novel")
    assert not set(novel) & k400
    assert set(novel) <= set(k600)
    assert novel == [name for name in k600 if name in set(novel)]  # K600 order
    # Renamed K400 classes are not novel.
    for renamed in ("dyeing hair", "waking up", "tying necktie", "hugging (not baby)"):
        assert renamed in k600 and renamed not in novel
    for new in ("acting in play", "spelunking", "pillow fight", "yarn spinning"):
        assert new in novel


def test_path_and_errors(tmp_path):
    path = tmp_path / "mine.txt"
    path.write_text("a b\nc\n")
    assert labels.load_labels(path) == ["a b", "c"]
    with pytest.raises(ValueError, match="valid names: hmdb51, k400"):
        labels.load_labels("k700")
    path.write_text("a\n\nb\n")
    with pytest.raises(ValueError, match="mine.txt:2: empty"):
        labels.load_labels(path)
    path.write_text("a\nb\na\n")
    with pytest.raises(ValueError, match="mine.txt:3: class name 'a' repeats line 1"):
        labels.load_labels(path)
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        labels.load_labels(tmp_path / "missing.txt")


def test_byte_order_mark_is_not_part_of_the_first_class(tmp_path):
    path = tmp_path / "classes.txt"
    path.write_bytes(b"\xef\xbb\xbfrun\nwalk\n")  # saved by an editor that writes a UTF-8 BOM
    assert labels.load_labels(str(path)) == ["run", "walk"]
