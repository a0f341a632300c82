"""Choosing a unit's description among candidates, against the action label it was found in.

Candidates are the glosses of the unit's WordNet senses, the composed glosses of an adjective–noun
phrase, and the language model's answers to the three description prompts (llm.DESCRIBE_PROMPTS).
Every candidate carries a Lesk ranking key, smaller first: (-overlap, group, tie-breakers...).
The overlap counts the label's other content words found in the candidate: in a sense's extended
signature for a gloss (lesk.lesk_overlap), in the text's own words otherwise (lesk.text_overlap).
`group` orders exact overlap ties between kinds of candidate (each call site says which first);
within glosses the tie-breakers are lesk.choose_sense's (SemCor count, visible sense, WordNet
order), within model answers the prompt order.

- Lesk (default): the candidate with the smallest key.
- T5 (a `Scorer`, t5_wsd.T5Scorer): the candidate with the highest T5 score; candidates whose
  scores are exactly equal are ordered by the Lesk key. A unit with one candidate is not scored.
"""

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Protocol

from alt_jax.corpus_builder import lesk, wordnet_reader


class Scorer(Protocol):
    """Scores candidate descriptions of a unit given its action label (higher fits better)."""

    def score(self, unit: str, label: str, descriptions: Sequence[str]) -> list[float]:
        """One score per description."""
        ...


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One candidate description of a unit, with where it comes from and its Lesk key."""

    description: str
    lesk_key: tuple  # smaller ranks first: (-overlap, group, tie-breakers...)
    sense: str | None = None  # WordNet synset name(s) of a gloss; None for model text
    prompt: str | None = None  # llm.DESCRIBE_PROMPTS name of a model answer
    choice: lesk.SenseChoice | None = None  # the WordNet sense of a single-sense gloss

    @property
    def overlap(self) -> int:
        """Lesk overlap with the label's other content words."""
        return -self.lesk_key[0]


def gloss_candidates(
    ranked: Iterable[tuple[tuple, lesk.SenseChoice]], group: int = 0
) -> list[Candidate]:
    """Candidates of the senses ranked by lesk.rank_senses, keeping their Lesk order."""
    return [
        Candidate(
            choice.synset.definition(),
            (key[0], group, *key[1:]),
            choice.synset.name(),
            None,
            choice,
        )
        for key, choice in ranked
    ]


def answer_candidates(
    wn: wordnet_reader.WordNet,
    answers: Iterable[tuple[str, str]],
    context: Sequence[str],
    group: int = 0,
) -> list[Candidate]:
    """Candidates of model answers, (prompt name, description) in prompt order."""
    return [
        Candidate(text, (-lesk.text_overlap(wn, text, context), group, order), None, name)
        for order, (name, text) in enumerate(answers)
    ]


def choose(
    candidates: Sequence[Candidate], unit: str, label: str, scorer: Scorer | None = None
) -> Candidate:
    """The best candidate: by Lesk key, or by `scorer` with Lesk breaking exact ties."""
    if not candidates:
        raise ValueError(f"no candidate description for {unit!r}")
    ordered = sorted(candidates, key=lambda c: c.lesk_key)
    if scorer is None or len(ordered) == 1:
        return ordered[0]
    scores = scorer.score(unit, label, [c.description for c in ordered])
    # max() keeps the first of equal keys, and -index makes it the Lesk-best of equal scores.
    best = max(range(len(ordered)), key=lambda i: (scores[i], -i))
    return ordered[best]


def choose_sense(
    wn: wordnet_reader.WordNet,
    word: str,
    context: Iterable[str],
    label: str,
    scorer: Scorer | None = None,
    pos: str = "n",
) -> lesk.SenseChoice | None:
    """The sense of `word` for the label: lesk.choose_sense, or T5 over its senses' glosses."""
    if scorer is None:
        return lesk.choose_sense(wn, word, context, pos)
    ranked = lesk.rank_senses(wn, word, context, pos)
    if not ranked:
        return None
    return choose(gloss_candidates(ranked), word.replace("_", " "), label, scorer).choice
