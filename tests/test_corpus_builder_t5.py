"""Tests of T5 word-sense disambiguation (alt_jax.corpus_builder.t5_wsd) with a tiny random T5.

The model is random: these tests check the plumbing (offline loading, the score formula, the
choice of the best-scoring candidate, refusals), not the quality of any choice.
"""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from alt_jax.corpus_builder import (
    corpus,
    label_parse,
    lesk,
    lexicon,
    t5_wsd,
    wordnet_reader,
    wsd,
)

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

REPO = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def wn():
    root = wordnet_reader.DEFAULT_WORDNET_DIR
    if not (root / "data.noun").is_file():
        pytest.fail(wordnet_reader.missing_wordnet_message(root))
    return wordnet_reader.load_wordnet(root)


def _tokenizer():
    """A byte-level BPE tokenizer trained on two strings (no unknown tokens), closing with </s>."""
    model = tokenizers.Tokenizer(tokenizers.models.BPE(unk_token="<unk>"))
    model.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=True)
    model.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<pad>", "</s>", "<unk>"],
        initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet(),
    )
    model.train_from_iterator(
        ["a weapon for shooting arrows", "which meaning fits the action"], trainer
    )
    model.post_processor = tokenizers.processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", 1)]
    )
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=model, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )


def _config(vocab_size):
    return transformers.T5Config(
        vocab_size=vocab_size,
        d_model=16,
        d_ff=32,
        num_layers=1,
        num_decoder_layers=1,
        num_heads=2,
        d_kv=8,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )


@pytest.fixture(scope="module")
def t5_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny_t5")
    tokenizer = _tokenizer()
    torch.manual_seed(0)
    transformers.T5ForConditionalGeneration(_config(len(tokenizer))).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def scorer(t5_folder):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")  # any attempt to reach the hub would fail
        return t5_wsd.load_t5_scorer(t5_folder)


@pytest.fixture(scope="module")
def fresh(t5_folder):
    """The folder's model and tokenizer loaded again, independently of t5_wsd."""
    tokenizer = transformers.AutoTokenizer.from_pretrained(t5_folder, local_files_only=True)
    model = transformers.T5ForConditionalGeneration.from_pretrained(
        t5_folder, local_files_only=True
    )
    return tokenizer, model


def _by_hand(fresh, unit, label, description):
    """Mean log-probability of the description's tokens, unbatched, from the model's logits."""
    tokenizer, model = fresh
    source = tokenizer(f"Which meaning of '{unit}' fits the video action '{label}'?").input_ids
    target = tokenizer(description).input_ids
    assert target[-1] == tokenizer.eos_token_id  # the closing </s> counts
    with torch.no_grad():
        # labels=: the model shifts the target right itself (decoder_start_token_id first).
        out = model(input_ids=torch.tensor([source]), labels=torch.tensor([target]))
    log_probs = torch.log_softmax(out.logits[0], dim=-1)
    by_hand = sum(log_probs[t, token].item() for t, token in enumerate(target)) / len(target)
    assert by_hand == pytest.approx(-out.loss.item(), abs=1e-5)  # the model's own mean loss
    return by_hand


def test_scores_are_the_mean_token_log_likelihood(fresh, scorer):
    assert isinstance(scorer.model, transformers.T5ForConditionalGeneration)
    descriptions = ["a weapon for shooting arrows", "bow", "the front of a ship, longer text here"]
    scores = scorer.score("bow", "shoot bow", descriptions)  # one padded batch
    expected = [_by_hand(fresh, "bow", "shoot bow", d) for d in descriptions]
    assert scores == pytest.approx(expected, abs=1e-5)
    assert t5_wsd.source_text("bow", "shoot bow") == (
        "Which meaning of 'bow' fits the video action 'shoot bow'?"
    )


def test_highest_score_is_chosen(wn, t5_folder, fresh, scorer):
    label = "shoot bow"
    spans = label_parse.parse_label(wn, label)
    (span,) = [s for s in spans if s.key == "bow"]
    context = label_parse.context_words(wn, spans, span)
    ranked = lesk.rank_senses(wn, "bow", context)
    glosses = [choice.synset.definition() for _, choice in ranked]
    expected = [_by_hand(fresh, "bow", label, g) for g in glosses]
    best = ranked[max(range(len(ranked)), key=lambda i: (expected[i], -i))][1]
    chosen = wsd.choose_sense(wn, "bow", context, label, scorer)
    assert chosen.synset == best.synset
    # Lesk alone chooses the weapon; the random T5 chooses whatever it scores highest.
    assert wsd.choose_sense(wn, "bow", context, label).synset.name() == "bow.n.04"
    entries = corpus.build_corpus(wn, [label], wsd_t5=t5_folder)
    bows = [e for e in entries if e["unit"] == "bow"]
    assert bows == (
        [
            {
                "unit": "bow",
                "description": best.synset.definition(),
                "source": "label",
                "sense": best.synset.name(),
                "labels": [label],
            }
        ]
        if lexicon.is_visual(best.synset)
        else []
    )


def test_refused_folders_are_named(tmp_path, t5_folder):
    missing = tmp_path / "nowhere"
    with pytest.raises(t5_wsd.T5ModelError, match="does not exist") as info:
        t5_wsd.load_t5_scorer(missing)
    assert str(missing) in str(info.value)
    no_config = tmp_path / "no_config"
    no_config.mkdir()
    (no_config / "model.safetensors").write_bytes((t5_folder / "model.safetensors").read_bytes())
    with pytest.raises(t5_wsd.T5ModelError, match="no config.json") as info:
        t5_wsd.load_t5_scorer(no_config)
    assert str(no_config) in str(info.value)
    bert = tmp_path / "bert"
    transformers.BertConfig(
        vocab_size=10, hidden_size=8, num_hidden_layers=1, num_attention_heads=2
    ).save_pretrained(bert)
    with pytest.raises(t5_wsd.T5ModelError, match="'bert' model, not a T5") as info:
        t5_wsd.load_t5_scorer(bert)
    assert str(bert) in str(info.value)
    encoder_only = tmp_path / "encoder_only"
    transformers.T5EncoderModel(_config(300)).save_pretrained(encoder_only)
    _tokenizer().save_pretrained(encoder_only)
    with pytest.raises(t5_wsd.T5ModelError, match="encoder-only 't5' model") as info:
        t5_wsd.load_t5_scorer(encoder_only)
    assert str(encoder_only) in str(info.value)
    # An encoder-decoder config over encoder-only weights: transformers would fill the decoder
    # with random values.
    (encoder_only / "config.json").write_text((t5_folder / "config.json").read_text())
    with pytest.raises(t5_wsd.T5ModelError, match="missing from the checkpoint") as info:
        t5_wsd.load_t5_scorer(encoder_only)
    assert str(encoder_only) in str(info.value)
    # A folder without weights.
    no_weights = tmp_path / "no_weights"
    no_weights.mkdir()
    (no_weights / "config.json").write_text((t5_folder / "config.json").read_text())
    with pytest.raises(t5_wsd.T5ModelError, match="cannot load") as info:
        t5_wsd.load_t5_scorer(no_weights)
    assert str(no_weights) in str(info.value)


def _tool():
    spec = importlib.util.spec_from_file_location(
        "build_corpus", REPO / "tools" / "build_corpus.py"
    )
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


@pytest.mark.slow
def test_cli_wsd_t5(tmp_path, t5_folder, scorer, capsys):
    labels = tmp_path / "labels.txt"
    labels.write_text("shoot bow\n")
    tool = _tool()
    output = tmp_path / "corpus.json"
    tool.main([f"--labels={labels}", f"--output={output}", f"--wsd-t5={t5_folder}"])
    entries = json.loads(output.read_text())
    assert entries == corpus.build_corpus(
        wordnet_reader.load_wordnet(), ["shoot bow"], wsd_t5=scorer
    )
    with pytest.raises(SystemExit) as info:
        tool.main([f"--labels={labels}", f"--output={output}", f"--wsd-t5={tmp_path / 'none'}"])
    assert info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("build_corpus: error: T5 model folder ")
    assert str(tmp_path / "none") in err[-1]


@pytest.mark.slow
def test_default_path_never_imports_torch(tmp_path):
    # A fresh interpreter: this test process has imported torch already.
    labels = tmp_path / "labels.txt"
    labels.write_text("shoot bow\nplaying guitar\n")
    script = f"""
import importlib.util, sys
spec = importlib.util.spec_from_file_location("build_corpus", "tools/build_corpus.py")
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)
tool.main(["--labels={labels}", "--output={tmp_path / "corpus.json"}"])
print(sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers")))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "corpus.json").is_file()
