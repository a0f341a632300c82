"""Offline WordNet 3.0 (Debian's wordnet-base), read with nltk's WordNet reader."""

import functools
import io
import warnings
from pathlib import Path

import nltk.data
from nltk.corpus.reader import wordnet

DEFAULT_WORDNET_DIR = Path("/usr/share/wordnet")

# WordNet 3.0's lexicographer files, in file-number order (lexnames(5WN)). Debian's wordnet-base
# ships the data and index files but not the `lexnames` file that nltk's reader opens first.
LEXNAMES = (
    "adj.all",
    "adj.pert",
    "adv.all",
    "noun.Tops",
    "noun.act",
    "noun.animal",
    "noun.artifact",
    "noun.attribute",
    "noun.body",
    "noun.cognition",
    "noun.communication",
    "noun.event",
    "noun.feeling",
    "noun.food",
    "noun.group",
    "noun.location",
    "noun.motive",
    "noun.object",
    "noun.person",
    "noun.phenomenon",
    "noun.plant",
    "noun.possession",
    "noun.process",
    "noun.quantity",
    "noun.relation",
    "noun.shape",
    "noun.state",
    "noun.substance",
    "noun.time",
    "verb.body",
    "verb.change",
    "verb.cognition",
    "verb.communication",
    "verb.competition",
    "verb.consumption",
    "verb.contact",
    "verb.creation",
    "verb.emotion",
    "verb.motion",
    "verb.perception",
    "verb.possession",
    "verb.social",
    "verb.stative",
    "verb.weather",
    "adj.ppl",
)
_SYNTACTIC_CATEGORY = {"adj": 3, "adv": 4, "noun": 1, "verb": 2}
_REQUIRED_FILES = ("data.noun", "index.noun", "data.verb", "index.verb", "data.adj", "noun.exc")

WordNet = wordnet.WordNetCorpusReader
Synset = wordnet.Synset


def lexnames_text() -> str:
    """The `lexnames` file of WordNet 3.0: number, name, syntactic category per line."""
    return "".join(
        f"{number:02d}\t{name}\t{_SYNTACTIC_CATEGORY[name.split('.')[0]]}\n"
        for number, name in enumerate(LEXNAMES)
    )


class _DebianWordNetReader(wordnet.WordNetCorpusReader):
    """nltk's reader over a bare WordNet 3.0 dict directory (no lexnames, no nltk_data)."""

    def open(self, file):
        if file == "lexnames":
            return io.StringIO(lexnames_text())
        return super().open(file)

    def map_wn(self, version="wordnet"):
        # Only maps nltk_data's WordNet onto this one for multilingual (OMW) data, which we never use;
        # nltk's default looks that corpus up in nltk_data and fails offline.
        del version


def missing_wordnet_message(root: Path) -> str:
    """What to do when WordNet is not at `root`."""
    return (
        f"WordNet 3.0 not found at {root}: install Debian's wordnet-base "
        "(`apt-get install -y wordnet-base`, or `make wordnet`)."
    )


@functools.cache
def load_wordnet(root: str | Path = DEFAULT_WORDNET_DIR) -> WordNet:
    """nltk WordNet reader over the WordNet 3.0 dict directory `root` (loaded once per root)."""
    root = Path(root).resolve()
    missing = [name for name in _REQUIRED_FILES if not (root / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{missing_wordnet_message(root)} Missing: {', '.join(missing)}.")
    # nltk refuses corpus roots outside its data path; registering the directory is its opt-in.
    if str(root) not in [str(p) for p in nltk.data.path]:
        nltk.data.path.append(str(root))
    with warnings.catch_warnings():
        # "The multilingual functions are not available": expected, we read English WordNet only.
        warnings.simplefilter("ignore", UserWarning)
        reader = _DebianWordNetReader(str(root), None)
    if reader.get_version() != "3.0":
        raise ValueError(f"{root} holds WordNet {reader.get_version()}, expected 3.0.")
    return reader
