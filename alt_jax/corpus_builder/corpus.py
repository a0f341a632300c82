"""The entity corpus S (docs/method.md §3): entities of action labels with their descriptions."""

import dataclasses
import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from alt_jax.corpus_builder import (
    attributes,
    fixed_entities,
    label_parse,
    lesk,
    lexicon,
    llm,
    t5_wsd,
    wordnet_reader,
    wsd,
)
from alt_jax.progress import track
from alt_jax.resources import resolve

# Where an entity came from, highest precedence first: an entity found several ways reports the
# first. label: a noun of a label; wordnet: a noun compound of a label that WordNet lists as one
# lemma ("golf club"); attribute: a colour or material adjective of a label ("red", "wooden");
# phrase: an adjective–noun phrase of a label ("red circle"); llm: named by the language model;
# bodypart / scene: the fixed lists.
SOURCES = ("bodypart", "scene", "wordnet", "label", "attribute", "phrase", "llm")


@dataclasses.dataclass(frozen=True)
class Entity:
    """One (unit, description) pair s_i of the corpus, with its provenance."""

    unit: str
    description: str
    source: str
    # WordNet synset name; a phrase's words' synset names, space-separated; None for model text.
    sense: str | None
    label: str | None  # the label it was found in (None for the fixed lists)
    # llm.DESCRIBE_PROMPTS name of the prompt whose answer is the description; None for a gloss.
    prompt: str | None = None


def _gloss_entity(
    synset: wordnet_reader.Synset, unit: str, source: str, label: str | None
) -> Entity:
    return Entity(unit.lower(), synset.definition(), source, synset.name(), label)


def fixed_list_entities(wn: wordnet_reader.WordNet) -> list[Entity]:
    """Body parts, scenes and roles, described by their fixed senses' glosses."""
    entities = [
        _gloss_entity(wn.synset(sense), unit, "bodypart", None)
        for unit, sense in fixed_entities.BODY_PARTS
    ]
    entities += [
        _gloss_entity(wn.synset(sense), unit, "scene", None)
        for unit, sense in fixed_entities.SCENES + fixed_entities.ROLES
    ]
    return entities


def scene_entities(wn: wordnet_reader.WordNet, units: Sequence[str]) -> list[Entity]:
    """Extra scene entities a user names (the backgrounds of a synthetic world, say), each as
    "unit" or "unit=SENSE SENSE …" (a WordNet sense per word, e.g. "striped background=
    striped.s.01 background.n.02"; without them each word's first noun, else adjective, sense).
    The senses' glosses describe it, 'word: gloss' joined by '; ' as label phrases are. A word
    WordNet lacks, or a sense that does not exist or does not fit the words, is refused by name."""
    entities = []
    for item in units:
        unit, _, given = item.partition("=")
        words = unit.lower().split()
        if given and len(given.split()) != len(words):
            raise ValueError(f"scene entity {item!r}: {len(words)} words but senses {given!r}")
        parts, senses = [], []
        for i, word in enumerate(words):
            if given:
                try:
                    synset = wn.synset(given.split()[i])
                except Exception as e:  # nltk raises WordNetError or ValueError
                    raise ValueError(f"scene entity {item!r}: no WordNet sense {e}") from e
            else:
                synsets = wn.synsets(word, pos="n") or wn.synsets(word, pos="a")
                if not synsets:
                    raise ValueError(
                        f"scene entity {unit!r}: WordNet has no noun or adjective {word!r}"
                    )
                synset = synsets[0]
            parts.append(f"{word}: {synset.definition()}")
            senses.append(synset.name())
        description = parts[0].split(": ", 1)[1] if len(parts) == 1 else "; ".join(parts)
        entities.append(Entity(" ".join(words), description, "scene", " ".join(senses), None))
    return entities


def unit_context(wn: wordnet_reader.WordNet, label: str, unit_words: Sequence[str]) -> list[str]:
    """Lesk context of a unit in a label: the label's content words that are not the unit's own
    words in any inflection ("rings" is not context for "still ring")."""
    forms = set().union(*(lexicon.word_forms(wn, w) for w in unit_words))
    return [
        w
        for w in label_parse.label_words(label)
        if w not in lexicon.FUNCTION_WORDS and not lexicon.word_forms(wn, w) & forms
    ]


def model_description(
    wn: wordnet_reader.WordNet,
    config: llm.LLMConfig,
    unit: str,
    label: str,
    glosses: Sequence[wsd.Candidate] = (),
    scorer: wsd.Scorer | None = None,
) -> wsd.Candidate:
    """The description of `unit` for `label` among the model's answers to the three description
    prompts (each cached) and `glosses`, chosen by wsd.choose; on equal Lesk overlap the answers
    come first, in prompt order."""
    answers: list[tuple[str, str]] = []
    for name, prompt in llm.describe_prompts(unit):
        parse = llm.DESCRIPTION_PARSERS[name]
        text = parse(llm.complete(config, prompt, validate=parse))
        if text not in [known for _, known in answers]:
            answers.append((name, text))
    context = unit_context(wn, label, label_parse.label_words(unit))
    candidates = wsd.answer_candidates(wn, answers, context, group=0)
    return wsd.choose([*candidates, *glosses], unit, label, scorer)


def label_entities(
    wn: wordnet_reader.WordNet,
    label: str,
    with_attributes: bool = True,
    llm_config: llm.LLMConfig | None = None,
    scorer: wsd.Scorer | None = None,
) -> list[Entity]:
    """Visible nouns and noun compounds of one label, each with its chosen sense's gloss (Lesk, or
    `scorer`'s pick among the glosses); with `with_attributes`, also its colour/material words
    and adjective–noun phrases (described by the model when `llm_config` is given)."""
    spans = label_parse.parse_label(wn, label)
    found = attributes.label_attributes(wn, spans) if with_attributes else None
    entities = []
    for index, span in enumerate(spans):
        if span.role not in ("noun", "compound"):
            continue
        if found is not None and index in found.modifier_nouns:
            continue  # "orange circle": the colour (below), not the fruit
        context = label_parse.context_words(wn, spans, span)
        choice = wsd.choose_sense(wn, span.key, context, label, scorer)
        # Activity compounds ("ice skating") and abstract nouns name no region: not entities.
        if choice is None or not lexicon.is_visual(choice.synset):
            continue
        source = "wordnet" if span.role == "compound" else "label"
        entities.append(_gloss_entity(choice.synset, choice.lemma, source, label))
    if found is not None:
        for modifier in found.attributes:
            entities.append(
                _gloss_entity(modifier.choice.synset, modifier.choice.lemma, "attribute", label)
            )
        for phrase in found.phrases:
            description = attributes.phrase_description(phrase)
            sense = attributes.phrase_sense(phrase)
            prompt = None
            if llm_config is not None:
                # A phrase unit is described by the model; its words' glosses stay a candidate.
                context = unit_context(wn, label, label_parse.label_words(phrase.unit))
                composed = wsd.Candidate(
                    description, (-lesk.text_overlap(wn, description, context), 1, 0), sense
                )
                chosen = model_description(wn, llm_config, phrase.unit, label, [composed], scorer)
                description, sense, prompt = chosen.description, chosen.sense, chosen.prompt
            entities.append(Entity(phrase.unit, description, "phrase", sense, label, prompt))
    return entities


def llm_entities(
    wn: wordnet_reader.WordNet,
    label: str,
    config: llm.LLMConfig,
    scorer: wsd.Scorer | None = None,
) -> list[Entity]:
    """Entities the language model names for a label: WordNet glosses where WordNet has a visible
    sense for them, else the model's descriptions (model_description)."""
    answer = llm.complete(
        config, llm.visual_characteristics_prompt(label), validate=llm.parse_listed_units
    )
    entities = []
    for unit in llm.parse_listed_units(answer):
        words = label_parse.label_words(unit)
        if not words:
            continue
        # The model was asked for things, so a lone word is a noun unless it is a gerund
        # ("strumming") or WordNet has no noun for it: verbs are not entities.
        if len(words) == 1 and (
            lexicon.is_gerund(wn, words[0]) or not lexicon.has_senses(wn, words[0], "n")
        ):
            continue
        key = "_".join(words)
        context = unit_context(wn, label, words)
        choice = wsd.choose_sense(wn, key, context, label, scorer)
        if choice is not None and lexicon.is_visual(choice.synset):
            entities.append(_gloss_entity(choice.synset, choice.lemma, "llm", label))
            continue
        # Phrases (and words WordNet only knows abstractly) are described by the model itself;
        # the glosses of the unit's visible senses stay candidates. On equal overlap the answers
        # win: the best-supported sense names nothing visible, so a visible one is a guess.
        ranked = [
            pair for pair in lesk.rank_senses(wn, key, context) if lexicon.is_visual(pair[1].synset)
        ]
        glosses = wsd.gloss_candidates(ranked, group=1)
        chosen = model_description(wn, config, " ".join(words), label, glosses, scorer)
        if chosen.choice is not None:
            entities.append(_gloss_entity(chosen.choice.synset, chosen.choice.lemma, "llm", label))
        else:
            entities.append(
                Entity(" ".join(words), chosen.description, "llm", None, label, chosen.prompt)
            )
    return entities


def merge_entities(entities: Iterable[Entity]) -> list[dict]:
    """Corpus entries: one per (unit, sense, description, prompt), sorted, labels and source
    merged. `prompt` is written only for a model's description, so gloss entries keep 5 keys."""
    merged: dict[tuple[str, str, str, str], dict] = {}
    for entity in entities:
        key = (entity.unit, entity.sense or "", entity.description, entity.prompt or "")
        entry = merged.setdefault(
            key,
            {
                "unit": entity.unit,
                "description": entity.description,
                "sense": entity.sense,
                "prompt": entity.prompt,
                "sources": set(),
                "labels": set(),
            },
        )
        entry["sources"].add(entity.source)
        if entity.label is not None:
            entry["labels"].add(entity.label)
    entries = []
    for key in sorted(merged):
        entry = merged[key]
        source = next(s for s in SOURCES if s in entry["sources"])
        entries.append(
            {
                "unit": entry["unit"],
                "description": entry["description"],
                "source": source,
                "sense": entry["sense"],
                "labels": sorted(entry["labels"]),
            }
        )
        if entry["prompt"] is not None:
            entries[-1]["prompt"] = entry["prompt"]
    return entries


def build_corpus(
    wn: wordnet_reader.WordNet,
    labels: Sequence[str],
    llm_config: llm.LLMConfig | None = None,
    with_attributes: bool = True,
    wsd_t5: str | os.PathLike | wsd.Scorer | None = None,
    scenes: Sequence[str] = (),
) -> list[dict]:
    """The corpus entries for the given action labels (docs/method.md §3), without a model when
    none is set; `scenes` adds scene entities by name (`scene_entities`).

    `wsd_t5`: a local T5 folder (t5_wsd.load_t5_scorer; never downloaded) or a loaded scorer;
    it then chooses senses and descriptions (wsd module docstring) instead of Lesk alone.
    """
    scorer = wsd_t5
    if isinstance(wsd_t5, (str, os.PathLike)):
        scorer = t5_wsd.load_t5_scorer(wsd_t5)
    entities = fixed_list_entities(wn) + scene_entities(wn, scenes)
    # Seconds per label with a language model or T5: hours for a large list, so it reports.
    unique = sorted(set(labels))
    for label in track(unique, "building the entity corpus", unit="labels"):
        entities += label_entities(wn, label, with_attributes, llm_config, scorer)
        if llm_config is not None:
            entities += llm_entities(wn, label, llm_config, scorer)
    return merge_entities(entities)


def corpus_json(entries: list[dict]) -> str:
    """The canonical text of a corpus: sorted keys, fixed indentation, trailing newline."""
    return json.dumps(entries, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def write_text_atomically(path: str | Path, text: str) -> None:
    """Write `text` to `path` through a temporary file and a rename: readers never see half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
    ) as tmp:
        tmp.write(text)
        tmp.flush()
        os.fsync(tmp.fileno())
    os.replace(tmp.name, path)


def write_corpus(entries: list[dict], path: str | Path) -> None:
    """Write the corpus JSON to `path` atomically."""
    write_text_atomically(path, corpus_json(entries))


def load_corpus(path: str | Path) -> list[dict]:
    """Read a corpus JSON file (a path or `alt_jax:...`), checking every entry's fields."""
    path = Path(resolve(path))
    entries = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(entries, list):
        raise TypeError(f"{path}: expected a JSON list of entries, got {type(entries).__name__}.")
    fields = {"unit", "description", "source", "sense", "labels"}
    prompts = [name for name, _ in llm.DESCRIBE_PROMPTS]
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or set(entry) - {"prompt"} != fields:
            raise ValueError(
                f"{path}: entry {index} must have exactly the keys {sorted(fields)} (and "
                f"'prompt' for a model's description): {entry!r}"
            )
        if "prompt" in entry and entry["prompt"] not in prompts:
            raise ValueError(
                f"{path}: entry {index} has prompt {entry['prompt']!r}, expected one of {prompts}."
            )
        if entry["source"] not in SOURCES:
            raise ValueError(
                f"{path}: entry {index} has source {entry['source']!r}, expected one of {SOURCES}."
            )
    return entries
