"""Visual attributes of action labels: colour and material adjectives, adjective–noun phrases.

The rules, applied to a label already parsed by label_parse (its spans and their roles):

1. Adjective senses are chosen like noun senses, by extended Lesk against the label's other
   content words (lesk.choose_sense with pos 'a', satellites included; ties: SemCor count, then
   WordNet's order). Only the chosen sense is classified, so "blue" in a label means the colour
   unless the label gives evidence for another sense.
2. A sense is a COLOUR sense when WordNet ties it to the colour domain: the `attribute` pointer of
   the sense or of its cluster head (a satellite's `similar_to` head: red.s.01 -> chromatic.a.03)
   names a noun at or below color.n.01 or color_property.n.01 (hue, lightness value: "red",
   "white"), or a derivational pointer of its lemmas names a noun below color.n.01 (red.n.01).
3. A sense is a MATERIAL sense when its gloss says it is made of something ("made of", "made
   from", "made or consisting of") and a derivational or pertainym pointer of it or of its cluster
   head names a material noun: one in noun.substance or below material.n.01 or fabric.n.01
   (wooden.s.01 -> woody.a.01 -> wood.n.01; gold.s.01 -> metallic.a.01 -> alloy.n.01; woolen.a.01
   -> wool.n.01). Both conditions: the pointers alone also link "salty" to salt and "icy" to ice,
   where the relation is containment or covering, not what the thing is made of.
4. Attribute words (colour or material by their chosen sense) are taken from
   - words with label_parse role 'other' (adjectives: "red circle", "wooden bowl");
   - a colour named as a noun, not before a noun ("turning from red to blue"): a one-word noun
     with a noun sense below color.n.01 whose chosen adjective sense is a colour, which is then
     that colour and not a noun entity;
   - a word with role 'noun' directly before a noun or noun compound (a modifier: "orange
     circle", "metal bar"), which is then that adjective and not a noun entity (the colour, not the
     fruit);
   - the leading words of a noun compound whose sense names something visible ("wooden spoon",
     "blue star"): the colour or material is that thing's. Compounds whose sense names nothing
     visible ("red tape" the bureaucracy) give none.
5. An adjective–noun phrase is a run of modifier words (role 'other' with an adjective sense, any
   adjective, or modifier nouns as in 4) directly followed by a noun or noun compound whose chosen
   sense names something visible (lexicon.is_visual): "red circle", "mechanical bull",
   "still rings". Its unit is the modifiers as written and the head's lemma ("still ring").
"""

import dataclasses
import functools

from alt_jax.corpus_builder import label_parse, lesk, lexicon, wordnet_reader

COLOR_ROOTS = ("color.n.01", "color_property.n.01")
MATERIAL_ROOTS = ("material.n.01", "fabric.n.01")
MATERIAL_LEXNAME = "noun.substance"
# Gloss openings of composition ("made or consisting of (entirely or in part) or employing wood").
MADE_OF = ("made of", "made from", "made or consisting of")
HEAD_ROLES = ("noun", "compound")


@dataclasses.dataclass(frozen=True)
class Modifier:
    """A word of a label used as an adjective, with its chosen adjective sense and its kind."""

    word: str  # as written in the label
    choice: lesk.SenseChoice
    kind: str | None  # "colour", "material" or None (another adjective)


@dataclasses.dataclass(frozen=True)
class Phrase:
    """An adjective–noun phrase: modifiers in label order and the head's chosen sense."""

    modifiers: tuple[Modifier, ...]
    head: lesk.SenseChoice

    @property
    def unit(self) -> str:
        """The modifiers as written, then the head's lemma ("still ring")."""
        return " ".join([m.word for m in self.modifiers] + [self.head.lemma.lower()])


@dataclasses.dataclass(frozen=True)
class LabelAttributes:
    """What rules 4 and 5 find in one label; `modifier_nouns` are span indices not to be nouns."""

    attributes: tuple[Modifier, ...]
    phrases: tuple[Phrase, ...]
    modifier_nouns: frozenset[int]


def _under(
    wn: wordnet_reader.WordNet, synset: wordnet_reader.Synset, roots: tuple[str, ...]
) -> bool:
    ancestors = {synset, *synset.closure(lambda s: s.hypernyms() + s.instance_hypernyms())}
    return any(wn.synset(root) in ancestors for root in roots)


def _cluster(synset: wordnet_reader.Synset) -> list[wordnet_reader.Synset]:
    # A satellite's attribute and relational pointers mostly sit on its head adjective.
    return [synset, *synset.similar_tos()] if synset.pos() == "s" else [synset]


def _related_nouns(synset: wordnet_reader.Synset) -> list[wordnet_reader.Synset]:
    nouns = []
    for lemma in synset.lemmas():
        for related in lemma.derivationally_related_forms() + lemma.pertainyms():
            if related.synset().pos() == "n":
                nouns.append(related.synset())
    return nouns


@functools.cache
def attribute_kind(wn: wordnet_reader.WordNet, synset_name: str) -> str | None:
    """'colour' or 'material' for an adjective sense of that domain (module rules 2, 3), else None."""
    synset = wn.synset(synset_name)
    if synset.pos() not in ("a", "s"):
        return None
    cluster = _cluster(synset)
    if any(_under(wn, noun, COLOR_ROOTS) for adj in cluster for noun in adj.attributes()):
        return "colour"
    if any(_under(wn, noun, ("color.n.01",)) for noun in _related_nouns(synset)):
        return "colour"
    if any(phrase in synset.definition() for phrase in MADE_OF) and any(
        noun.lexname() == MATERIAL_LEXNAME or _under(wn, noun, MATERIAL_ROOTS)
        for adj in cluster
        for noun in _related_nouns(adj)
    ):
        return "material"
    return None


def _colour_noun(wn: wordnet_reader.WordNet, word: str) -> bool:
    """Whether the word has a noun sense below color.n.01 ("red" the colour, red.n.01)."""
    return any(_under(wn, s, ("color.n.01",)) for s in wn.synsets(word, pos="n"))


def _context(
    wn: wordnet_reader.WordNet, spans: list[label_parse.Span], index: int, word: str
) -> list[str]:
    # The label's other content words, including the rest of the word's own span (the head of a
    # compound is evidence for its modifier's sense).
    context = label_parse.context_words(wn, spans, spans[index])
    return context + [w for w in spans[index].words if w != word]


def _modifier(
    wn: wordnet_reader.WordNet, spans: list[label_parse.Span], index: int, word: str
) -> Modifier | None:
    choice = lesk.choose_sense(wn, word, _context(wn, spans, index, word), pos="a")
    if choice is None:
        return None
    return Modifier(word, choice, attribute_kind(wn, choice.synset.name()))


def _head(
    wn: wordnet_reader.WordNet, spans: list[label_parse.Span], index: int
) -> lesk.SenseChoice | None:
    span = spans[index]
    choice = lesk.choose_sense(wn, span.key, label_parse.context_words(wn, spans, span))
    return choice if choice is not None and lexicon.is_visual(choice.synset) else None


def label_attributes(wn: wordnet_reader.WordNet, spans: list[label_parse.Span]) -> LabelAttributes:
    """Colour and material words and adjective–noun phrases of a parsed label (module docstring)."""
    modifiers: dict[int, Modifier] = {}  # span index -> the span's word used as an adjective
    attributes: list[Modifier] = []
    modifier_nouns = set()
    for index, span in enumerate(spans):
        before_head = index + 1 < len(spans) and spans[index + 1].role in HEAD_ROLES
        if span.role == "other" and len(span.words) == 1:
            modifier = _modifier(wn, spans, index, span.words[0])
            if modifier is not None:
                modifiers[index] = modifier
        elif span.role == "noun" and before_head:
            modifier = _modifier(wn, spans, index, span.words[0])
            if modifier is not None and modifier.kind is not None:
                modifiers[index] = modifier
                modifier_nouns.add(index)
        elif span.role == "noun" and len(span.words) == 1 and _colour_noun(wn, span.words[0]):
            modifier = _modifier(wn, spans, index, span.words[0])
            if modifier is not None and modifier.kind == "colour":
                attributes.append(modifier)
                modifier_nouns.add(index)
        elif span.role == "compound" and _head(wn, spans, index) is not None:
            for word in span.words[:-1]:
                modifier = _modifier(wn, spans, index, word)
                if modifier is not None and modifier.kind is not None:
                    attributes.append(modifier)
    attributes += [m for m in modifiers.values() if m.kind is not None]
    phrases = []
    index = 0
    while index < len(spans):
        start = index
        while index in modifiers:
            index += 1
        if index > start and index < len(spans) and spans[index].role in HEAD_ROLES:
            head = _head(wn, spans, index)
            if head is not None:
                run = tuple(modifiers[i] for i in range(start, index))
                phrases.append(Phrase(run, head))
        index = max(index, start + 1)
    return LabelAttributes(tuple(attributes), tuple(phrases), frozenset(modifier_nouns))


def phrase_description(phrase: Phrase) -> str:
    """A phrase's description from its words' glosses: 'red: <gloss>; circle: <gloss>'."""
    parts = [(m.word, m.choice.synset.definition()) for m in phrase.modifiers]
    parts.append((phrase.head.lemma.lower(), phrase.head.synset.definition()))
    return "; ".join(f"{word}: {gloss}" for word, gloss in parts)


def phrase_sense(phrase: Phrase) -> str:
    """A phrase's senses: its words' synset names in label order, space-separated."""
    return " ".join(
        [m.choice.synset.name() for m in phrase.modifiers] + [phrase.head.synset.name()]
    )
