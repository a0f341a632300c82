"""T5 word-sense disambiguation: scores a unit's candidate descriptions given its action label.

The score of a candidate description d of unit u found in label l is the mean per-token
log-likelihood of d as the T5 target sequence, given the source text x:

    x = "Which meaning of '{u}' fits the video action '{l}'?"      (SOURCE_TEMPLATE)
    score(d) = (1 / |y|) * sum_t log p(y_t | x, y_<t)

where y are the tokens of d as the model's tokenizer encodes it (T5's tokenizers close it with
</s>, which is counted) and the decoder starts from the model's decoder start token (T5: <pad>).
The mean, not the sum, so that a long description is not ranked down for its length alone.
wsd.choose takes the highest score; candidates with exactly equal scores go by Lesk.

The model is a local folder written by transformers' `save_pretrained` (config.json, weights,
tokenizer files), e.g. a flan-t5 checkpoint saved on a machine with network access. It is loaded
with local_files_only=True: nothing is ever downloaded. torch and transformers are imported only
when a folder is loaded, so the default builder needs neither.
"""

import os
from collections.abc import Sequence
from pathlib import Path

SOURCE_TEMPLATE = "Which meaning of '{unit}' fits the video action '{label}'?"
# Model types whose checkpoints are T5 encoder-decoders (flan-t5 is "t5").
T5_MODEL_TYPES = ("t5", "mt5", "umt5")
MAX_TOKENS = 512  # T5's usual context; longer sources or descriptions are truncated
BATCH = 32  # candidates per forward pass


class T5ModelError(ValueError):
    """The T5 folder is missing, is not a T5 encoder-decoder, or cannot be loaded."""


def source_text(unit: str, label: str) -> str:
    """The T5 source text for a unit of a label (SOURCE_TEMPLATE)."""
    return SOURCE_TEMPLATE.format(unit=unit, label=label)


class T5Scorer:
    """A loaded T5 model and tokenizer that score candidate descriptions (module docstring)."""

    def __init__(self, model, tokenizer, path: Path):
        self.model = model
        self.tokenizer = tokenizer
        self.path = path
        config = model.config
        start = getattr(config, "decoder_start_token_id", None)
        # T5 starts decoding from <pad>; older configs leave decoder_start_token_id unset.
        self.decoder_start = config.pad_token_id if start is None else start

    def score(self, unit: str, label: str, descriptions: Sequence[str]) -> list[float]:
        """Mean per-token log-likelihood of each description given source_text(unit, label)."""
        import torch  # pylint: disable=import-outside-toplevel

        scores: list[float] = []
        for first in range(0, len(descriptions), BATCH):
            batch = list(descriptions[first : first + BATCH])
            source = self.tokenizer(
                [source_text(unit, label)] * len(batch),
                return_tensors="pt",
                truncation=True,
                max_length=MAX_TOKENS,
            )
            target = self.tokenizer(
                batch,
                return_tensors="pt",
                padding=True,
                padding_side="right",
                truncation=True,
                max_length=MAX_TOKENS,
            )
            ids, mask = target.input_ids, target.attention_mask
            # Teacher forcing: the decoder sees the start token then the target shifted right.
            # Padding sits at the end, where the causal decoder cannot let it change earlier steps.
            start = torch.full_like(ids[:, :1], self.decoder_start)
            decoder_input_ids = torch.cat([start, ids[:, :-1]], dim=1)
            with torch.no_grad():
                logits = self.model(
                    input_ids=source.input_ids,
                    attention_mask=source.attention_mask,
                    decoder_input_ids=decoder_input_ids,
                ).logits
            log_probs = torch.log_softmax(logits.float(), dim=-1)
            token = log_probs.gather(-1, ids.unsqueeze(-1)).squeeze(-1)
            weights = mask.to(token.dtype)
            scores += ((token * weights).sum(dim=1) / weights.sum(dim=1)).tolist()
        return scores


def load_t5_scorer(folder: str | os.PathLike) -> T5Scorer:
    """The T5 model and tokenizer in a local `save_pretrained` folder; T5ModelError naming it."""
    path = Path(folder).expanduser()
    hint = "give a local folder written by transformers' save_pretrained (nothing is downloaded)"
    if not path.is_dir():
        raise T5ModelError(f"T5 model folder {path} does not exist or is not a folder; {hint}.")
    if not (path / "config.json").is_file():
        raise T5ModelError(f"{path} has no config.json, so it is not a transformers model; {hint}.")
    # pylint: disable=import-outside-toplevel
    import transformers

    try:
        config = transformers.AutoConfig.from_pretrained(path, local_files_only=True)
    except Exception as e:  # transformers raises many kinds; the path is what the user needs
        raise T5ModelError(f"{path}/config.json cannot be read as a model config: {e}") from e
    if config.model_type not in T5_MODEL_TYPES:
        raise T5ModelError(
            f"{path} holds a {config.model_type!r} model, not a T5 encoder-decoder (model_type one "
            f"of {', '.join(T5_MODEL_TYPES)}, e.g. a flan-t5 checkpoint)."
        )
    if not getattr(config, "is_encoder_decoder", False):
        raise T5ModelError(
            f"{path} holds an encoder-only {config.model_type!r} model (is_encoder_decoder is "
            "false); scoring descriptions needs the decoder (e.g. a flan-t5 checkpoint)."
        )
    try:
        model, info = transformers.AutoModelForSeq2SeqLM.from_pretrained(
            path, local_files_only=True, output_loading_info=True
        )
        tokenizer = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
    except Exception as e:  # as above: missing weights or tokenizer files, unreadable files
        raise T5ModelError(f"cannot load the T5 model or tokenizer from {path}: {e}") from e
    missing = sorted(info.get("missing_keys") or ())
    if missing:
        # transformers would fill them with random values (an encoder-only checkpoint has no
        # decoder): its scores would be noise.
        raise T5ModelError(
            f"{path}: {len(missing)} weight tensors are missing from the checkpoint (e.g. "
            f"{missing[0]}); a T5 encoder-decoder with all its weights is needed."
        )
    if tokenizer.pad_token_id is None:
        raise T5ModelError(f"{path}: the tokenizer has no pad token (T5's is <pad>).")
    model.eval()
    return T5Scorer(model, tokenizer, path)
