"""OpenAI CLIP's byte-level BPE tokenizer, read from the merges file shipped in `assets/`."""

from __future__ import annotations

import functools
import gzip
import html
import itertools
import json
import os
from pathlib import Path
from typing import Sequence

import ftfy
import numpy as np
import regex

BPE_PATH = Path(__file__).parent / "assets" / "bpe_simple_vocab_16e6.txt.gz"
VOCAB_SIZE = 49408
START_OF_TEXT = "<|startoftext|>"
END_OF_TEXT = "<|endoftext|>"
_NUM_MERGES = VOCAB_SIZE - 256 - 256 - 2  # bytes, bytes + '</w>', merges, two specials
_PATTERN = regex.compile(
    r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
    regex.IGNORECASE,
)


@functools.lru_cache(maxsize=None)
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from bytes to printable unicode characters."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    chars = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, chars), strict=True))


def clean_text(text: str) -> str:
    """OpenAI's cleaning: ftfy, html unescape (twice), whitespace folding, lower case."""
    text = html.unescape(html.unescape(ftfy.fix_text(text))).strip()
    return regex.sub(r"\s+", " ", text).strip().lower()


class ClipTokenizer:
    """Text → CLIP token ids, exactly as OpenAI's `clip.tokenize(..., truncate=True)`."""

    def __init__(self, bpe_path: str | os.PathLike = BPE_PATH):
        with gzip.open(bpe_path, "rt", encoding="utf-8") as f:
            lines = f.read().split("\n")[1 : _NUM_MERGES + 1]
        self.merges = [tuple(line.split()) for line in lines]
        byte_chars = list(bytes_to_unicode().values())
        vocab = byte_chars + [c + "</w>" for c in byte_chars]
        vocab += ["".join(m) for m in self.merges] + [START_OF_TEXT, END_OF_TEXT]
        if len(vocab) != VOCAB_SIZE:
            raise ValueError(
                f"{bpe_path}: vocabulary has {len(vocab)} entries, expected {VOCAB_SIZE}"
            )
        self.encoder = {token: i for i, token in enumerate(vocab)}
        self.ranks = {merge: i for i, merge in enumerate(self.merges)}
        self.sot_id = self.encoder[START_OF_TEXT]
        self.eot_id = self.encoder[END_OF_TEXT]
        self._cache = {START_OF_TEXT: START_OF_TEXT, END_OF_TEXT: END_OF_TEXT}

    @property
    def vocab_size(self) -> int:
        return len(self.encoder)

    def _bpe(self, token: str) -> str:
        if token in self._cache:
            return self._cache[token]
        word = list(token[:-1]) + [token[-1] + "</w>"]
        while len(word) > 1:
            pairs = set(itertools.pairwise(word))
            best = min(pairs, key=lambda p: self.ranks.get(p, float("inf")))
            if best not in self.ranks:
                break
            merged, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and (word[i], word[i + 1]) == best:
                    merged.append(word[i] + word[i + 1])
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = merged
        out = " ".join(word)
        self._cache[token] = out
        return out

    def encode(self, text: str) -> list[int]:
        """Token ids of one text, without start/end tokens."""
        byte_map = bytes_to_unicode()
        ids = []
        for piece in _PATTERN.findall(clean_text(text)):
            piece = "".join(byte_map[b] for b in piece.encode("utf-8"))
            ids.extend(self.encoder[t] for t in self._bpe(piece).split(" "))
        return ids

    def __call__(self, texts: str | Sequence[str], context_length: int = 77) -> np.ndarray:
        """Texts → int32 [N, context_length]: start, tokens, end, zero padding; long texts cut
        so that the end token is kept."""
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, Sequence):
            raise TypeError(
                f"tokenize takes a string or a sequence of strings, not {type(texts).__name__}"
            )
        out = np.zeros((len(texts), context_length), np.int32)
        for row, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(
                    f"tokenize: item {row} is {type(text).__name__} ({text!r}), not a string"
                )
            ids = [self.sot_id] + self.encode(text) + [self.eot_id]
            if len(ids) > context_length:
                ids = ids[: context_length - 1] + [self.eot_id]
            out[row, : len(ids)] = ids
        return out

    def save_transformers_files(self, folder: str | os.PathLike) -> None:
        """Writes vocab.json, merges.txt, special_tokens_map.json, tokenizer_config.json and
        (with transformers installed) tokenizer.json: what `CLIPTokenizer(Fast)` loads."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "vocab.json").write_text(json.dumps(self.encoder, ensure_ascii=False))
        (folder / "merges.txt").write_text(
            "#version: 0.2\n" + "\n".join(" ".join(m) for m in self.merges) + "\n", encoding="utf-8"
        )
        # transformers pads with the end token where `tokenize` pads with 0 ("!", which as a
        # special token would split every "!" in a text); attention_mask marks the padding.
        special = {
            "bos_token": START_OF_TEXT,
            "eos_token": END_OF_TEXT,
            "unk_token": END_OF_TEXT,
            "pad_token": END_OF_TEXT,
        }
        config = {
            **special,
            "tokenizer_class": "CLIPTokenizer",
            "model_max_length": 77,
            "processor_class": "CLIPProcessor",
        }
        (folder / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n")
        (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
        try:
            from transformers import CLIPTokenizerFast
        except ImportError:  # the slow files above suffice; tokenizer.json is a speed-up
            return
        fast = CLIPTokenizerFast(
            vocab=str(folder / "vocab.json"), merges=str(folder / "merges.txt"), **special
        )
        fast.backend_tokenizer.save(str(folder / "tokenizer.json"))


def save_image_processor_config(folder: str | os.PathLike, image_size: int) -> None:
    """Writes preprocessor_config.json: `CLIPImageProcessor` resizing the short side to
    `image_size` bilinearly, centre-cropping to a square and normalising as
    `alt_jax.data.normalize.normalize_clip` does: the evaluation pipeline's pixels
    (`data.augment.eval_views`), so an export sees what its training saw. One resize everywhere:
    PIL's bilinear (antialiased when shrinking) in training, evaluation, predict and exports."""
    config = {
        "image_processor_type": "CLIPImageProcessor",
        "processor_class": "CLIPProcessor",
        "do_resize": True,
        "size": {"shortest_edge": int(image_size)},
        "resample": 2,  # PIL bilinear, as data/augment.py resizes (CLIP's own used bicubic)
        "do_center_crop": True,
        "crop_size": {"height": int(image_size), "width": int(image_size)},
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        # OpenAI CLIP's statistics (alt_jax.data.normalize; not imported: it needs JAX).
        "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.26862954, 0.26130258, 0.27577711],
        "do_convert_rgb": True,
    }
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "preprocessor_config.json").write_text(json.dumps(config, indent=2) + "\n")


@functools.lru_cache(maxsize=1)
def default_tokenizer() -> ClipTokenizer:
    """The tokenizer built from the shipped merges file (built once per process)."""
    return ClipTokenizer()


def tokenize(texts: str | Sequence[str], context_length: int = 77) -> np.ndarray:
    """Texts → CLIP token ids int32 [N, context_length]."""
    return default_tokenizer()(texts, context_length)


def transformers_tokenizer(folder: str | os.PathLike):
    """A transformers `CLIPTokenizer` built offline from the shipped merges (vocab checked)."""
    from transformers import CLIPTokenizer

    default_tokenizer().save_transformers_files(folder)
    tok = CLIPTokenizer.from_pretrained(str(folder))
    if tok.vocab_size != VOCAB_SIZE:
        raise ValueError(
            f"transformers CLIPTokenizer has vocab_size {tok.vocab_size}, "
            f"expected {VOCAB_SIZE}: it was not built from CLIP's merges"
        )
    return tok
