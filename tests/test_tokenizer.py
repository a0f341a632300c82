"""The tokenizer against open_clip's reference ids and transformers' CLIPTokenizer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from alt_jax.tokenizer import VOCAB_SIZE, ClipTokenizer, tokenize, transformers_tokenizer

CASES = json.loads((Path(__file__).parent / "fixtures" / "tokenizer_cases.json").read_text())[
    "cases"
]


@pytest.mark.parametrize("case", CASES, ids=[c["text"][:24] for c in CASES])
def test_ids_equal_openai_reference(case):
    np.testing.assert_array_equal(tokenize(case["text"])[0], case["ids"])


def test_enough_reference_cases():
    assert len(CASES) >= 20


@pytest.fixture(scope="module")
def hf_tokenizer(tmp_path_factory):
    return transformers_tokenizer(tmp_path_factory.mktemp("tok"))


def test_transformers_tokenizer_is_real(hf_tokenizer):
    assert hf_tokenizer.vocab_size == VOCAB_SIZE == ClipTokenizer().vocab_size


# transformers' fast tokenizer does no ftfy/html clean-up: compare texts that need none.
PLAIN = [c["text"] for c in CASES if "&" not in c["text"] and "â€" not in c["text"]]
PLAIN += ["<|startoftext|> special tokens inside <|endoftext|>", "end<|endoftext|>here"]


@pytest.mark.parametrize("text", PLAIN, ids=[t[:24] for t in PLAIN])
def test_ids_equal_transformers(hf_tokenizer, text):
    enc = hf_tokenizer(text, padding="max_length", truncation=True, max_length=77)
    # transformers pads with the end token, OpenAI with 0: compare under the attention mask.
    ref = np.asarray(enc["input_ids"]) * np.asarray(enc["attention_mask"])
    np.testing.assert_array_equal(tokenize(text)[0], ref)


def test_truncation_keeps_end_token():
    ids = tokenize("word " * 200, context_length=16)[0]
    assert ids.shape == (16,) and ids[0] == 49406 and ids[-1] == 49407
    assert (ids[1:-1] != 0).all()


def test_shape_dtype_and_batch():
    ids = tokenize(["a", "bb", "ccc"])
    assert ids.shape == (3, 77) and ids.dtype == np.int32


@pytest.mark.parametrize("bad", [None, 3, b"bytes", ["ok", 5]])
def test_refuses_non_strings(bad):
    with pytest.raises(TypeError):
        tokenize(bad)
