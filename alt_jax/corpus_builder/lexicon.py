"""Word-level WordNet facts the corpus builder relies on: forms, usage counts, word classes."""

import functools
import re

from alt_jax.corpus_builder import wordnet_reader

# Closed-class words (articles, prepositions, conjunctions, pronouns, particles, auxiliaries) and
# placeholders. WordNet lists some as nouns ('in' = inch, 'or' = operating room, 'a' = ampere),
# so they must be excluded before any part-of-speech look-up.
FUNCTION_WORDS = frozenset(
    {
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "nor",
        "not",
        "no",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "with",
        "without",
        "from",
        "into",
        "onto",
        "off",
        "out",
        "up",
        "down",
        "over",
        "under",
        "through",
        "throughout",
        "across",
        "along",
        "around",
        "about",
        "above",
        "below",
        "behind",
        "between",
        "before",
        "after",
        "during",
        "near",
        "next",
        "than",
        "as",
        "per",
        "via",
        "upon",
        "toward",
        "towards",
        "against",
        "among",
        "within",
        "while",
        "when",
        "where",
        "whose",
        "which",
        "who",
        "whom",
        "that",
        "this",
        "these",
        "those",
        "it",
        "its",
        "itself",
        "they",
        "them",
        "their",
        "he",
        "him",
        "his",
        "she",
        "her",
        "hers",
        "we",
        "us",
        "our",
        "you",
        "your",
        "i",
        "me",
        "my",
        "mine",
        "one",
        "ones",
        "some",
        "any",
        "each",
        "every",
        "all",
        "both",
        "either",
        "neither",
        "other",
        "another",
        "such",
        "own",
        "same",
        "so",
        "very",
        "too",
        "also",
        "just",
        "only",
        "then",
        "there",
        "here",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "am",
        "do",
        "does",
        "did",
        "doing",
        "done",
        "have",
        "has",
        "had",
        "having",
        "can",
        "could",
        "may",
        "might",
        "must",
        "shall",
        "should",
        "will",
        "would",
        "something",
        "someone",
        "somebody",
        "somewhere",
        "anything",
        "anyone",
        "nothing",
        "everything",
        "thing",
        "things",
        "way",
        "etc",
    }
)

# Lexicographer files of senses that name something one can see in a video region: objects,
# body parts, people, animals, plants, food, materials, places, shapes, natural phenomena.
# Acts, events, attributes, states, cognition, time, ... name no region and are not entities;
# neither are groups (noun.group), whose first senses are mostly organisations ("golf club" the
# society); crowd and audience come in through the fixed scene/role list instead.
VISUAL_LEXNAMES = frozenset(
    {
        "noun.Tops",
        "noun.animal",
        "noun.artifact",
        "noun.body",
        "noun.food",
        "noun.location",
        "noun.object",
        "noun.person",
        "noun.phenomenon",
        "noun.plant",
        "noun.shape",
        "noun.substance",
    }
)

# Words so common in glosses ("a person who ...") that matching them says nothing about the sense.
LESK_NEUTRAL_WORDS = frozenset({"person", "people", "human", "individual"})

_POS = ("n", "v", "a", "r")


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens (letters, digits, inner hyphens and apostrophes)."""
    return re.findall(r"[a-z0-9]+(?:['-][a-z0-9]+)*", text.lower())


@functools.cache
def word_forms(wn: wordnet_reader.WordNet, word: str) -> frozenset[str]:
    """The word and its WordNet base form for each part of speech ('played' -> {played, play})."""
    forms = {word}
    for pos in _POS:
        base = wn.morphy(word, pos)
        if base:
            forms.add(base)
    return frozenset(forms)


@functools.cache
def inflection_bases(wn: wordnet_reader.WordNet, word: str, pos: str) -> tuple[str, ...]:
    """Every WordNet lemma the surface form can be an inflection of ('hands' -> hands, hand)."""
    # nltk's public morphy() returns only the first analysis; the reader's _morphy lists them all.
    return tuple(wn._morphy(word, pos))  # pylint: disable=protected-access


@functools.cache
def usage_counts(wn: wordnet_reader.WordNet, word: str) -> dict[str, int]:
    """SemCor tag counts (cntlist.rev) of the word per part of speech: n, v, a (incl. s), r."""
    return {pos: sum(lemma.count() for lemma in wn.lemmas(word, pos)) for pos in _POS}


def has_senses(wn: wordnet_reader.WordNet, word: str, pos: str) -> bool:
    """Whether WordNet lists the word (or a base form of it) with this part of speech."""
    return bool(wn.synsets(word, pos))


def is_gerund(wn: wordnet_reader.WordNet, word: str) -> bool:
    """An '-ing' form of a WordNet verb ('playing' -> play), not a verb that ends in -ing ('ring')."""
    if not word.endswith("ing"):
        return False
    base = wn.morphy(word, "v")
    return base is not None and base != word


def verb_lemma(wn: wordnet_reader.WordNet, word: str) -> str:
    """The verb's base form ('riding' -> ride), or the word when WordNet has no verb for it."""
    return wn.morphy(word, "v") or word


def is_visual(synset: wordnet_reader.Synset) -> bool:
    """Whether the sense names something visible (see VISUAL_LEXNAMES)."""
    return synset.lexname() in VISUAL_LEXNAMES
