"""WordNet-based part-of-speech analysis of action labels: which words are verbs, which nouns.

nltk's statistical taggers need model downloads, so the analysis uses WordNet alone. The rules,
applied in this order to the words of a label:

1. Normalise: lower-case; drop parenthesised qualifiers ("petting animal (not cat)": they
   disambiguate between classes, and negated ones name things absent from the video); drop the
   possessive "'s".
2. Function words (FUNCTION_WORDS) are never entities.
3. Compounds: the longest run of 2-4 words that WordNet lists as one noun ("golf club",
   "parallel bars", "jump rope") or one verb ("blow dry"). A compound may not start or end with
   a function word. Runs starting with a gerund are tried only after all others, so
   "playing field hockey" yields "field hockey", while "playing cards" still yields
   "playing card".
4. Gerunds: an '-ing' form of a WordNet verb ("playing", "riding") is a verb: Kinetics labels are
   "<verb>ing <object>", UCF-101 ones also "<object> <verb>ing" ("baby crawling").
5. Any other word, by WordNet's sense-tagged usage counts (SemCor, cntlist.rev):
   - a label of a single content word names the action itself, so it is a verb when WordNet has
     a verb sense for it (HMDB-51's "wave", "golf"), a noun otherwise ("basketball");
   - else, after the label's verb, a noun when WordNet has noun senses: the verb's object
     ("shoot bow", "kick ball", although bow and kick are mostly verbs);
   - else a verb when WordNet has verb senses and its verb usage outnumbers its noun usage
     (HMDB-51's imperative "brush hair", "ride bike" → brush, ride; but "head massage",
     "horse race" → head, horse are nouns);
   - else a noun when WordNet has noun senses and noun usage is at least its adjective and
     adverb usage ("still rings": still is an adverb/adjective, not a noun);
   - else 'other' (adjectives, adverbs, words WordNet lacks).
Verbs are never entities. Nouns and noun compounds are candidates; the corpus keeps those whose
disambiguated sense names something visible (lexicon.VISUAL_LEXNAMES).
"""

import dataclasses
import re

from alt_jax.corpus_builder import lexicon, wordnet_reader

ROLES = ("function", "verb", "noun", "compound", "other")
MAX_COMPOUND_WORDS = 4


@dataclasses.dataclass(frozen=True)
class Span:
    """A word or compound of a label and its role (one of ROLES)."""

    words: tuple[str, ...]
    role: str
    key: str  # WordNet's spelling: the word, or the compound joined by '_' or '-' ("yo-yo")

    @property
    def text(self) -> str:
        return " ".join(self.words)


def label_words(label: str) -> list[str]:
    """Normalised words of a label (parenthesised qualifiers and possessives removed)."""
    text = re.sub(r"\([^)]*\)", " ", label.lower())
    text = re.sub(r"'s\b", "", text)
    return lexicon.tokenize(text)


def _compound_key(wn: wordnet_reader.WordNet, words: list[str], pos: str) -> str | None:
    for joiner in ("_", "-"):
        key = joiner.join(words)
        if wn.synsets(key, pos):
            return key
    return None


def _find_compounds(
    wn: wordnet_reader.WordNet, words: list[str], taken: list[bool], allow_gerund_start: bool
) -> list[tuple[int, int, str, str]]:
    found = []
    start = 0
    while start < len(words):
        hit = None
        for length in range(min(MAX_COMPOUND_WORDS, len(words) - start), 1, -1):
            window = words[start : start + length]
            if any(taken[start : start + length]):
                continue
            if window[0] in lexicon.FUNCTION_WORDS or window[-1] in lexicon.FUNCTION_WORDS:
                continue
            if not allow_gerund_start and lexicon.is_gerund(wn, window[0]):
                continue
            if key := _compound_key(wn, window, "n"):
                hit = (start, length, "compound", key)
            elif key := _compound_key(wn, window, "v"):
                hit = (start, length, "verb", key)
            if hit:
                break
        if hit:
            found.append(hit)
            for i in range(hit[0], hit[0] + hit[1]):
                taken[i] = True
            start += hit[1]
        else:
            start += 1
    return found


def _word_role(
    wn: wordnet_reader.WordNet, word: str, single_content_word: bool, after_verb: bool
) -> str:
    if word in lexicon.FUNCTION_WORDS:
        return "function"
    if lexicon.is_gerund(wn, word):
        return "verb"
    has_noun = lexicon.has_senses(wn, word, "n")
    has_verb = lexicon.has_senses(wn, word, "v")
    if single_content_word:
        return "verb" if has_verb else ("noun" if has_noun else "other")
    if after_verb and has_noun:
        return "noun"  # the verb's object: "shoot bow", "kick ball"
    counts = lexicon.usage_counts(wn, word)
    if has_verb and counts["v"] > counts["n"]:
        return "verb"
    if has_noun and counts["n"] >= max(counts["a"], counts["r"]):
        return "noun"
    return "other"


def parse_label(wn: wordnet_reader.WordNet, label: str) -> list[Span]:
    """The label's words and compounds, in label order, each with its role (module docstring)."""
    words = label_words(label)
    if not words:
        raise ValueError(f"Label {label!r} has no words.")
    taken = [False] * len(words)
    compounds = _find_compounds(wn, words, taken, allow_gerund_start=False) + _find_compounds(
        wn, words, taken, allow_gerund_start=True
    )
    starts = {start: (length, role, key) for start, length, role, key in compounds}
    content = [
        w for w, t in zip(words, taken, strict=False) if not t and w not in lexicon.FUNCTION_WORDS
    ]
    single = not compounds and len(content) == 1
    spans = []
    i = 0
    while i < len(words):
        if i in starts:
            length, role, key = starts[i]
            spans.append(Span(tuple(words[i : i + length]), role, key))
            i += length
        else:
            after_verb = any(span.role == "verb" for span in spans)
            spans.append(Span((words[i],), _word_role(wn, words[i], single, after_verb), words[i]))
            i += 1
    return spans


def context_words(wn: wordnet_reader.WordNet, spans: list[Span], exclude: Span) -> list[str]:
    """Lesk context of one span: the base forms of the label's other content words."""
    context = []
    for span in spans:
        if span is exclude or span.role == "function":
            continue
        for word in span.words:
            context.append(lexicon.verb_lemma(wn, word) if span.role == "verb" else word)
    return context
