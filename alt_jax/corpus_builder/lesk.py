"""Word-sense disambiguation by (extended) Lesk overlap with the words of an action label."""

import dataclasses
import functools
from collections.abc import Iterable

from alt_jax.corpus_builder import lexicon, wordnet_reader


@dataclasses.dataclass(frozen=True)
class SenseChoice:
    """A chosen sense: the synset, the lemma that matched the word, and the evidence."""

    synset: wordnet_reader.Synset
    lemma: str  # lemma name in the synset, spaces for underscores ('golf club')
    overlap: int  # number of context words found in the sense's signature
    count: int  # SemCor count of the matched lemma (the tie-breaker)


def _name_words(name: str) -> list[str]:
    return lexicon.tokenize(name.replace("_", " ").replace("-", " "))


@functools.cache
def sense_signature(wn: wordnet_reader.WordNet, synset_name: str) -> frozenset[str]:
    """Word forms of a sense's and its hypernyms' glosses and examples, and of the lemma names of it,
    its hypernyms and its hyponyms."""
    # Neighbours ("riding_horse" under horse.n.01; "a game played with playing cards" above poker
    # the game) tie a sense to the action's verb where its own gloss does not (extended Lesk,
    # after Banerjee & Pedersen 2002).
    synset = wn.synset(synset_name)
    words = []
    for glossed in [synset, *synset.hypernyms()]:
        words += lexicon.tokenize(glossed.definition())
        for example in glossed.examples():
            words += lexicon.tokenize(example)
    for related in [synset, *synset.hypernyms(), *synset.hyponyms()]:
        for lemma_name in related.lemma_names():
            words += _name_words(lemma_name)
    forms = set()
    for word in words:
        if word not in lexicon.FUNCTION_WORDS and word not in lexicon.LESK_NEUTRAL_WORDS:
            forms |= lexicon.word_forms(wn, word)
    return frozenset(forms)


def lesk_overlap(
    wn: wordnet_reader.WordNet, synset: wordnet_reader.Synset, context: Iterable[str]
) -> int:
    """How many context words (any inflection) occur in the sense's signature."""
    signature = sense_signature(wn, synset.name())
    return sum(1 for word in set(context) if lexicon.word_forms(wn, word) & signature)


def text_overlap(wn: wordnet_reader.WordNet, text: str, context: Iterable[str]) -> int:
    """How many context words (any inflection) occur in a free text's content words (Lesk overlap
    of a description that is not a WordNet gloss, such as a language model's answer)."""
    signature = set()
    for word in lexicon.tokenize(text):
        if word not in lexicon.FUNCTION_WORDS and word not in lexicon.LESK_NEUTRAL_WORDS:
            signature |= lexicon.word_forms(wn, word)
    return sum(1 for word in set(context) if lexicon.word_forms(wn, word) & signature)


def _content(context: Iterable[str]) -> list[str]:
    return [
        c
        for c in context
        if c not in lexicon.FUNCTION_WORDS and c not in lexicon.LESK_NEUTRAL_WORDS
    ]


def rank_senses(
    wn: wordnet_reader.WordNet, word: str, context: Iterable[str], pos: str = "n"
) -> list[tuple[tuple, SenseChoice]]:
    """Every sense of `word` with its Lesk ranking key, best first (see choose_sense)."""
    context = _content(context)
    forms = [f.lower() for f in lexicon.inflection_bases(wn, word, pos)] or [word.lower()]
    ranked = []
    for order, synset in enumerate(wn.synsets(word, pos)):
        if synset.instance_hypernyms():
            continue
        matched = [lemma for lemma in synset.lemmas() if lemma.name().lower() in forms]
        # Prefer the lemma spelled like the word's own base form, then the most used one.
        matched.sort(key=lambda lemma: (forms.index(lemma.name().lower()), -lemma.count()))
        lemma = matched[0] if matched else synset.lemmas()[0]
        overlap = lesk_overlap(wn, synset, context)
        visual = lexicon.is_visual(synset)
        ranked.append(
            (
                (-overlap, -lemma.count(), not visual, order),
                SenseChoice(synset, lemma.name().replace("_", " "), overlap, lemma.count()),
            )
        )
    return sorted(ranked, key=lambda pair: pair[0])


def choose_sense(
    wn: wordnet_reader.WordNet, word: str, context: Iterable[str], pos: str = "n"
) -> SenseChoice | None:
    """The sense of `word` (a lemma; compounds joined by '_') that best fits the context words.

    Ranking: larger Lesk overlap; then the more frequent sense (SemCor count of the matched lemma,
    the usual back-off of Lesk); then a sense naming something visible (lexicon.is_visual), since a
    video label without evidence either way more likely means the concrete thing; then WordNet's
    own sense order. So the choice is deterministic. Named individuals (instance senses: "Burger"
    the jurist) are skipped: labels name kinds of things. None if WordNet lacks the word.
    """
    ranked = rank_senses(wn, word, context, pos)
    return ranked[0][1] if ranked else None
