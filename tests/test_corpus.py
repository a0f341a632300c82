"""Entity embeddings S against transformers' text features, and the on-disk cache."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from alt_jax import corpus, resources
from alt_jax.tokenizer import tokenize
from alt_jax.weights import load_clip

SHIPPED = resources.packaged("corpus/actions_wordnet.json")
ENTRIES = [
    {"unit": "hand", "description": "the end of the arm"},
    {"unit": "guitar", "description": "a stringed instrument", "source": "label"},
    {"unit": "bike", "description": "a wheeled vehicle with two wheels"},
]


def write(path, entries):
    path.write_text(json.dumps(entries))
    return path


def torch_text_features(model, texts):
    """transformers' text features of `texts`, L2-normalised [N, d]."""
    with torch.no_grad():
        ref = model.get_text_features(input_ids=torch.tensor(tokenize(texts))).pooler_output
    ref = ref.numpy().astype(np.float64)
    return ref / np.linalg.norm(ref, axis=-1, keepdims=True)


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_embeddings_are_normalised_clip_text_features(saved_clip, tmp_path):
    torch_model, folder = saved_clip("tiny")
    path = write(tmp_path / "corpus.json", ENTRIES)
    ours = corpus.entity_embeddings(path, load_clip(folder), cache_dir=None, batch_size=2)
    ref = torch_text_features(torch_model, [f"{e['unit']}: {e['description']}" for e in ENTRIES])
    assert ours.dtype == np.float32 and ours.shape == (3, 32)
    np.testing.assert_allclose(ours, ref, atol=1e-5)


TEMPLATES = ("a photo of a {}.", "a {} in the scene.")


@pytest.mark.parametrize("form", ["unit", "templates", "pair+templates"])
def test_text_forms_average_normalised_transformers_features(saved_clip, tmp_path, form):
    torch_model, folder = saved_clip("tiny")
    path = write(tmp_path / "corpus.json", ENTRIES)
    ours = corpus.entity_embeddings(
        path, load_clip(folder), cache_dir=None, batch_size=4, text_form=form, templates=TEMPLATES
    )
    units = [e["unit"] for e in ENTRIES]
    pair = torch_text_features(torch_model, [f"{e['unit']}: {e['description']}" for e in ENTRIES])
    prompts = [torch_text_features(torch_model, [t.format(u) for u in units]) for t in TEMPLATES]
    ensemble = unit(np.mean(prompts, axis=0))  # CLIP's prompt ensembling
    expected = {
        "unit": torch_text_features(torch_model, units),
        "templates": ensemble,
        "pair+templates": unit(pair + ensemble),  # the pair weighs as much as the ensemble
    }[form]
    np.testing.assert_allclose(ours, expected, atol=1e-5)


def test_text_forms_are_refused_by_name_and_keyed_apart(saved_clip, tmp_path):
    _, folder = saved_clip("tiny")
    model = load_clip(folder)
    path = write(tmp_path / "corpus.json", ENTRIES)
    with pytest.raises(ValueError, match=r"one of \('unit', 'templates'"):
        corpus.entity_embeddings(path, model, cache_dir=None, text_form="gloss")
    with pytest.raises(ValueError, match="no '{}' placeholder"):
        corpus.entity_embeddings(
            path, model, cache_dir=None, text_form="templates", templates=("x",)
        )
    cache = tmp_path / "cache"
    a = corpus.entity_embeddings(path, model, cache_dir=cache, text_form="unit")
    b = corpus.entity_embeddings(path, model, cache_dir=cache, text_form="templates")
    assert len(list(cache.glob("*.npz"))) == 2 and not np.allclose(a, b)


def test_second_load_reads_the_cache_and_a_changed_corpus_misses(saved_clip, tmp_path, monkeypatch):
    _, folder = saved_clip("tiny")
    model = load_clip(folder)
    path = write(tmp_path / "corpus.json", ENTRIES)
    cache = tmp_path / "cache"
    first = corpus.entity_embeddings(path, model, cache_dir=cache, batch_size=4)
    assert len(list(cache.glob("*.npz"))) == 1

    calls = []

    def refuse(*args, **kwargs):
        calls.append(args)
        raise AssertionError("encoder called although the cache holds these embeddings")

    monkeypatch.setattr(corpus, "encode_texts", refuse)
    np.testing.assert_array_equal(
        corpus.entity_embeddings(path, model, cache_dir=cache, batch_size=4), first
    )
    # A changed description, or another checkpoint id, must not be served the old entry.
    changed = [dict(ENTRIES[0], description="the hand of a person"), *ENTRIES[1:]]
    with pytest.raises(AssertionError, match="encoder called"):
        corpus.entity_embeddings(write(path, changed), model, cache_dir=cache)
    write(path, ENTRIES)
    with pytest.raises(AssertionError, match="encoder called"):
        corpus.entity_embeddings(path, model, cache_dir=cache, model_id="another checkpoint")
    assert len(calls) == 2


def test_text_tower_id_follows_the_text_weights(saved_clip):
    _, folder = saved_clip("tiny")
    model = load_clip(folder)
    before = corpus.text_tower_id(model)
    assert before == corpus.text_tower_id(load_clip(folder))
    vision = model.vision_model.post_layernorm.scale
    vision.set_value(vision[...] + 1)  # the vision tower does not change text embeddings
    assert corpus.text_tower_id(model) == before
    proj = model.text_projection.kernel
    proj.set_value(proj[...].at[0, 0].add(1e-3))
    assert corpus.text_tower_id(model) != before


def test_reads_the_shipped_corpus_and_refuses_malformed_entries(tmp_path):
    entries = corpus.read_entities(SHIPPED)
    assert len(entries) > 100
    texts = corpus.entity_texts(entries)
    assert texts[0] == [f"{entries[0]['unit']}: {entries[0]['description']}"]
    with pytest.raises(ValueError, match="entry 1"):
        corpus.read_entities(write(tmp_path / "bad.json", [ENTRIES[0], {"unit": "x"}]))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[{"unit": "ball", "description": "a ball"},\n {"unit": "bat",}]', r"line 2 column 17"),
        ("", r"line 1 column 1"),
        ('{"unit": "ball", "description": "a ball"}', r"a JSON list of entries, not a dict"),
        ("[]", r"empty"),
        ('[{"unit": "ball", "description": "a ball"}, "bat"]', r"entry 1: a str, not an object"),
        ('[{"unit": "ball", "description": 3}]', r"entry 0 \('ball'\): 'description' is int"),
        ('[{"unit": " ", "description": "x"}]', r"entry 0: 'unit' is empty"),
    ],
)
def test_malformed_corpus_names_file_and_place(tmp_path, text, expected):
    path = tmp_path / "corpus.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=expected) as info:
        corpus.read_entities(path)
    assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value)


def test_corpus_that_is_not_utf8_names_the_file(tmp_path):
    path = tmp_path / "corpus.json"
    path.write_bytes(b'[{"unit": "caf\xe9", "description": "x"}]')
    with pytest.raises(ValueError, match=rf"^{path}: not UTF-8 text"):
        corpus.read_entities(path)
