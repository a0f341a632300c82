"""Tests of alt_jax.corpus_builder on WordNet 3.0 (Debian wordnet-base; `make wordnet`)."""

import json
from pathlib import Path

import pytest

from alt_jax import labels as labels_lib
from alt_jax import resources
from alt_jax.corpus_builder import (
    attributes,
    corpus,
    fixed_entities,
    label_parse,
    lesk,
    wordnet_reader,
)

REPO = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def wn():
    root = wordnet_reader.DEFAULT_WORDNET_DIR
    if not (root / "data.noun").is_file():
        pytest.fail(wordnet_reader.missing_wordnet_message(root))  # a failure, never a skip
    return wordnet_reader.load_wordnet(root)


def test_reader_lexnames_and_glosses(wn):
    # WordNet 3.0 facts: lexicographer files and glosses of well-known senses.
    assert wn.synset("guitar.n.01").lexname() == "noun.artifact"
    assert wn.synset("hand.n.01").lexname() == "noun.body"
    assert wn.synset("run.v.01").lexname() == "verb.motion"
    assert wn.synset("dog.n.01").lexname() == "noun.animal"
    assert wn.synset("guitar.n.01").definition().startswith("a stringed instrument usually having")


def test_missing_wordnet_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="install Debian.s wordnet-base"):
        wordnet_reader.load_wordnet(tmp_path)


def _roles(wn, label):
    return [(span.text, span.role) for span in label_parse.parse_label(wn, label)]


def test_part_of_speech_rules(wn):
    assert _roles(wn, "playing guitar") == [("playing", "verb"), ("guitar", "noun")]
    # HMDB imperative: brush is used more as a verb; after the verb, bow is its object.
    assert _roles(wn, "brush hair") == [("brush", "verb"), ("hair", "noun")]
    assert _roles(wn, "shoot bow") == [("shoot", "verb"), ("bow", "noun")]
    # UCF noun-first label: head is mostly a noun.
    assert _roles(wn, "head massage")[0] == ("head", "noun")
    assert _roles(wn, "riding or walking with horse") == [
        ("riding", "verb"),
        ("or", "function"),
        ("walking", "verb"),
        ("with", "function"),
        ("horse", "noun"),
    ]
    # Compounds: WordNet lemmas; gerund-initial ones only after the others.
    assert _roles(wn, "playing cards") == [("playing cards", "compound")]
    assert _roles(wn, "playing field hockey") == [("playing", "verb"), ("field hockey", "compound")]
    assert _roles(wn, "blow dry hair") == [("blow dry", "verb"), ("hair", "noun")]
    # Qualifiers in parentheses are dropped; a single-word label with a verb sense is the action.
    assert _roles(wn, "petting animal (not cat)") == [("petting", "verb"), ("animal", "noun")]
    assert _roles(wn, "wave") == [("wave", "verb")]
    assert _roles(wn, "still rings")[0] == ("still", "other")


def _sense(wn, label, word):
    spans = label_parse.parse_label(wn, label)
    span = next(s for s in spans if s.text == word)
    return lesk.choose_sense(wn, span.key, label_parse.context_words(wn, spans, span))


def test_lesk_senses(wn):
    # guitar has one noun sense; the others were chosen by overlap with the label's verb:
    # bow.n.04 "a weapon for shooting arrows", ball.n.01 "... hit or thrown or kicked in games",
    # horse.n.01 via its hyponym "riding horse", poker.n.01 (fire iron) loses to the card game
    # whose hypernym gloss is "a game played with playing cards".
    assert _sense(wn, "playing guitar", "guitar").synset.name() == "guitar.n.01"
    assert _sense(wn, "shoot bow", "bow").synset.name() == "bow.n.04"
    assert _sense(wn, "kick ball", "ball").synset.name() == "ball.n.01"
    assert _sense(wn, "riding or walking with horse", "horse").synset.name() == "horse.n.01"
    assert _sense(wn, "playing poker", "poker").synset.name() == "poker.n.02"
    # Plural forms resolve to the singular lemma's sense.
    teeth = _sense(wn, "brushing teeth", "teeth")
    assert (teeth.synset.name(), teeth.lemma) == ("tooth.n.01", "tooth")


# The four noun senses of "kite" in WordNet 3.0 and what Lesk compares the context with: the
# sense's and its hypernyms' glosses (and examples), and the lemma names of the sense, its
# hypernyms and its hyponyms.
#   kite.n.01  "a bank check that has been fraudulently altered to increase its face value";
#              hypernym check.n.01 (check, bank check, cheque) "a written order directing a bank
#              to pay money", example "he paid all his bills by check"; no hyponyms.
#   kite.n.02  "a bank check drawn on insufficient funds at another bank in order to take
#              advantage of the float"; hypernym check.n.01 as above; no hyponyms.
#   kite.n.03  "plaything consisting of a light frame covered with tissue paper; flown in wind at
#              end of a string"; hypernym plaything.n.01 (plaything, toy) "an artifact designed to
#              be played with"; hyponyms sport kite, stunt kite, box kite.
#   kite.n.04  "any of several small graceful hawks of the family Accipitridae having long pointed
#              wings and feeding on insects and small animals"; hypernym hawk.n.01 "diurnal bird
#              of prey typically having short rounded wings and a long tail"; hyponyms
#              white-tailed kite, black kite, swallow-tailed kite, ... (and Latin names).
# Context words match in any inflection (flying ~ flown: both "fly"; insects ~ insect).
KITE_CONTEXT = ["feeding", "insects", "flying", "playing", "box", "cheque", "tail"]
# By hand, per sense, which context words occur where:
#   n.01: cheque (hypernym lemma)                                                   → 1
#   n.02: cheque (hypernym lemma)                                                   → 1
#   n.03: flying (own gloss: flown), playing (hypernym gloss: played), box (hyponym) → 3
#   n.04: feeding, insects (own gloss), tail (hypernym gloss: long tail)            → 3
KITE_OVERLAPS = {"kite.n.01": 1, "kite.n.02": 1, "kite.n.03": 3, "kite.n.04": 3}


def test_lesk_overlap_counts_worked_by_hand(wn):
    overlaps = {s.name(): lesk.lesk_overlap(wn, s, KITE_CONTEXT) for s in wn.synsets("kite", "n")}
    assert overlaps == KITE_OVERLAPS
    # A context word counts once however often it occurs.
    hawk = wn.synset("kite.n.04")
    assert lesk.lesk_overlap(wn, hawk, ["insects", "insects", "flying"]) == 1
    # Overlap decides against WordNet's order: feeding on insects is the hawk (2 vs 0 each).
    choice = lesk.choose_sense(wn, "kite", ["feeding", "insects"])
    assert (choice.synset.name(), choice.overlap) == ("kite.n.04", 2)
    # One word each for the toy and the hawk: a tie; every kite lemma has SemCor count 0 and both
    # are visible things, so WordNet's order decides: the toy (n.03) before the hawk (n.04). A
    # repeated "insects" must not break the tie.
    choice = lesk.choose_sense(wn, "kite", ["insects", "insects", "flying"])
    assert (choice.synset.name(), choice.overlap) == ("kite.n.03", 1)


def test_shipped_bow_and_kite_are_the_senses_worked_by_hand(wn):
    # "shoot bow" gives bow the context {shoot}. Of bow's nine noun senses only bow.n.04 "a
    # weapon for shooting arrows, ..." has a form of it (in its own gloss: overlap 1). The others,
    # with their hypernyms' glosses and neighbours' names, have none: n.01 knot (knot: "...
    # looping and tying a rope ..."), n.02 violin bow (stick; fiddlestick), n.03 front of a
    # vessel (front), n.05 something curved (curve; rainbow), n.06 bending the head (gesture,
    # reverence; salaam, kowtow, ...), n.07 curtain call (thanks), n.08 interlacing of ribbons
    # (decoration), n.09 a stroke with a bow (stroke; down-bow, up-bow). Without Lesk the SemCor
    # count would pick n.01 (count 4 against n.04's 1).
    # "flying kite" gives kite {fly}: only kite.n.03's gloss ("flown") has it (see above).
    shipped = corpus.load_corpus(resources.packaged("corpus/actions_wordnet.json"))
    by_unit = {e["unit"]: e for e in shipped if e["unit"] in ("bow", "kite")}
    assert by_unit["bow"] == {
        "unit": "bow",
        "sense": "bow.n.04",
        "source": "label",
        "labels": ["shoot bow"],
        "description": "a weapon for shooting arrows, composed of a curved piece of resilient "
        "wood with a taut cord to propel the arrow",
    }
    assert by_unit["kite"] == {
        "unit": "kite",
        "sense": "kite.n.03",
        "source": "label",
        "labels": ["flying kite"],
        "description": "plaything consisting of a light frame covered with tissue paper; "
        "flown in wind at end of a string",
    }


def _entities(wn, label):
    return {(e.unit, e.sense, e.source) for e in corpus.label_entities(wn, label)}


def test_label_entities(wn):
    assert _entities(wn, "playing guitar") == {("guitar", "guitar.n.01", "label")}
    assert _entities(wn, "playing bass guitar") == {("bass guitar", "bass_guitar.n.01", "wordnet")}
    assert _entities(wn, "kick ball") == {("ball", "ball.n.01", "label")}
    assert _entities(wn, "walking the dog") == {("dog", "dog.n.01", "label")}
    # Activities (noun.act) and games are not entities.
    assert _entities(wn, "ice skating") == set()
    assert _entities(wn, "playing poker") == set()


HANDFUL = [
    "playing guitar",
    "riding or walking with horse",
    "brush hair",
    "shoot bow",
    "ice skating",
    "kick ball",
    "playing bass guitar",
    "walking the dog",
    "brushing teeth",
]


def test_build_on_handful(wn):
    entries = corpus.build_corpus(wn, HANDFUL)
    by_unit = {}
    for entry in entries:
        by_unit.setdefault(entry["unit"], []).append(entry)
    # Body parts always present, with their fixed senses.
    for unit, sense in fixed_entities.BODY_PARTS:
        assert sense in [e["sense"] for e in by_unit[unit]]
    (guitar,) = by_unit["guitar"]
    assert guitar == {
        "unit": "guitar",
        "sense": "guitar.n.01",
        "source": "label",
        "labels": ["playing guitar"],
        "description": wn.synset("guitar.n.01").definition(),
    }
    (hair,) = by_unit["hair"]
    assert (hair["source"], hair["labels"]) == ("bodypart", ["brush hair"])
    # No verb of any label is an entity, and every sense is a noun sense.
    for verb in (
        "play",
        "playing",
        "ride",
        "riding",
        "walk",
        "walking",
        "brush",
        "shoot",
        "kick",
        "skate",
        "skating",
        "ice skating",
    ):
        assert verb not in by_unit
    assert all(e["sense"] is None or wn.synset(e["sense"]).pos() == "n" for e in entries)
    assert entries == sorted(entries, key=lambda e: (e["unit"], e["sense"] or "", e["description"]))


def test_deterministic_bytes(wn, tmp_path):
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    corpus.write_corpus(corpus.build_corpus(wn, HANDFUL), first)
    corpus.write_corpus(corpus.build_corpus(wn, list(reversed(HANDFUL))), second)
    assert first.read_bytes() == second.read_bytes()


def test_shipped_corpus_is_reproducible(wn):
    shipped = resources.packaged("corpus/actions_wordnet.json")
    union = []
    for name in ("k400", "ucf101", "hmdb51"):
        union += labels_lib.load_labels(name)
    rebuilt = corpus.corpus_json(corpus.build_corpus(wn, union))
    assert shipped.read_text(encoding="utf-8") == rebuilt
    entries = corpus.load_corpus(shipped)
    assert {"guitar", "horse", "hand", "head", "torso"} <= {e["unit"] for e in entries}
    # The Kinetics/UCF/HMDB labels hold no colour or material adjective; their two
    # adjective–noun phrases are "riding mechanical bull" and "still rings".
    phrases = {e["unit"] for e in entries if e["source"] == "phrase"}
    assert phrases == {"mechanical bull", "still ring"}
    assert not [e for e in entries if e["source"] == "attribute"]


def test_load_corpus_rejects_bad_entries(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(
        json.dumps(
            [{"unit": "x", "description": "y", "source": "magic", "sense": None, "labels": []}]
        )
    )
    with pytest.raises(ValueError, match="bad.json: entry 0 has source 'magic'"):
        corpus.load_corpus(path)
    entry = {"unit": "x", "description": "y", "source": "llm", "sense": None, "labels": []}
    path.write_text(json.dumps([{**entry, "prompt": "look"}, {**entry, "prompt": "magic"}]))
    with pytest.raises(ValueError, match="bad.json: entry 1 has prompt 'magic'"):
        corpus.load_corpus(path)


# Attributes (alt_jax/corpus_builder/attributes.py). Expectations are WordNet 3.0 facts: red.s.01 "of
# a color at the end of the color spectrum ... resembling the color of blood", a satellite of
# chromatic.a.03 whose attribute is hue.n.01; blue.s.02 is the Union side of the Civil War.


def _by_unit(entries):
    by_unit = {}
    for entry in entries:
        by_unit.setdefault(entry["unit"], []).append(entry)
    return by_unit


def test_attribute_kinds_follow_wordnet_domains(wn):
    # Colours: chromatic (hue) and achromatic (lightness value) senses.
    for sense in ("red.s.01", "blue.s.01", "green.s.01", "yellow.s.01", "white.a.01", "black.a.01"):
        assert attributes.attribute_kind(wn, sense) == "colour", sense
    # Materials: "made ... of" a substance or fabric (wood, gold via metallic.a.01, wool).
    for sense in ("wooden.s.01", "gold.s.01", "woolen.a.01", "metallic.a.01"):
        assert attributes.attribute_kind(wn, sense) == "material", sense
    # Other adjectives, and other senses of colour words, are neither.
    for sense in ("mechanical.a.01", "large.a.01", "left.a.01", "blue.s.02", "crimson.s.02"):
        assert attributes.attribute_kind(wn, sense) is None, sense
    # Linked to a substance but not made of it: "containing or filled with salt".
    assert attributes.attribute_kind(wn, "salty.a.02") is None
    assert attributes.attribute_kind(wn, "salt.n.01") is None  # nouns are not attributes


def test_colours_and_phrases_of_synthact_names(wn):
    entries = corpus.build_corpus(wn, ["red circle moving left", "blue square moving up"])
    by_unit = _by_unit(entries)
    assert {"red", "blue", "red circle", "blue square", "circle", "square"} <= set(by_unit)
    (red,) = by_unit["red"]
    assert (red["source"], red["sense"], red["labels"]) == (
        "attribute",
        "red.s.01",
        ["red circle moving left"],
    )
    # The colour sense, not the political one ("red" the communist is a noun; the adjective's
    # other senses are bloodshed and a flushed face).
    assert "color" in red["description"] and "blood" in red["description"]
    (blue,) = by_unit["blue"]
    assert blue["sense"] == "blue.s.01" and "color" in blue["description"]
    assert "Union" not in blue["description"]
    (red_circle,) = by_unit["red circle"]
    assert (red_circle["source"], red_circle["sense"]) == ("phrase", "red.s.01 circle.n.01")
    assert red_circle["description"].startswith("red: of a color at the end of the color spectrum")
    assert (
        "; circle: ellipse in which the two axes are of equal length" in red_circle["description"]
    )
    (blue_square,) = by_unit["blue square"]
    assert blue_square["sense"] == "blue.s.01 square.n.01"
    assert (
        "square: (geometry) a plane rectangle with four equal sides" in blue_square["description"]
    )
    # No crossed compositions: the phrases are the labels' own.
    assert "red square" not in by_unit and "blue circle" not in by_unit
    assert all(e["description"].strip() for e in entries)


def test_material_and_modifier_nouns(wn):
    assert _entities(wn, "carrying wooden box") == {
        ("box", "box.n.01", "label"),
        ("wooden", "wooden.s.01", "attribute"),
        ("wooden box", "wooden.s.01 box.n.01", "phrase"),
    }
    (wooden,) = [e for e in corpus.label_entities(wn, "carrying wooden box") if e.unit == "wooden"]
    assert wooden.description == "made or consisting of (entirely or in part) or employing wood"
    # "orange" is more often a noun (SemCor), but before a noun it is the colour, not the fruit.
    orange = {e.unit: e for e in corpus.label_entities(wn, "orange circle moving left")}
    assert orange["orange"].sense == "orange.s.01" and orange["orange"].source == "attribute"
    assert "orange circle" in orange
    # The colour word of a WordNet compound naming a visible thing ("blue star", a plant).
    assert ("blue", "blue.s.01", "attribute") in _entities(wn, "blue star moving up")


def test_other_adjectives_make_phrases_not_attributes(wn):
    # mechanical.a.01 "using (or as if using) mechanisms ..." is neither colour nor material.
    assert _entities(wn, "riding mechanical bull") == {
        ("bull", "bull.n.01", "label"),
        ("mechanical bull", "mechanical.a.01 bull.n.01", "phrase"),
    }
    # A size adjective beside a colour: one phrase for the run, only the colour as an attribute.
    assert _entities(wn, "big red ball") == {
        ("ball", "ball.n.01", "label"),
        ("red", "red.s.01", "attribute"),
        ("big red ball", "large.a.01 red.s.01 ball.n.01", "phrase"),
    }


def test_without_attributes_only_nouns(wn):
    # Before attributes, the SynthAct names gave the fixed lists plus circle, square and left.
    labels = ["red circle moving left", "blue square moving up"]
    entries = corpus.build_corpus(wn, labels, with_attributes=False)
    fixed = fixed_entities.BODY_PARTS + fixed_entities.SCENES + fixed_entities.ROLES
    assert {e["unit"] for e in entries} == {u for u, _ in fixed} | {"circle", "square", "left"}
    assert {e["source"] for e in entries} <= {"bodypart", "scene", "label"}


def test_cli_attributes_flag():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "build_corpus", REPO / "tools" / "build_corpus.py"
    )
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    base = ["--labels=k400", "--output=/tmp/x.json"]
    assert tool.parse_args(base).attributes is True
    assert tool.parse_args([*base, "--no-attributes"]).attributes is False


def test_scene_entities_take_given_senses_and_refuse_by_name(wn, tmp_path):
    from alt_jax.data import synthetic

    entries = corpus.build_corpus(wn, ["red circle moving left"], scenes=synthetic.SCENE_ENTITIES)
    scenes = {e["unit"]: e for e in entries if "background" in e["unit"]}
    assert sorted(scenes) == ["checkered background", "cloudy background", "striped background"]
    striped = scenes["striped background"]
    assert striped["sense"] == "striped.s.01 background.n.02" and striped["source"] == "scene"
    assert striped["description"] == (
        f"striped: {wn.synset('striped.s.01').definition()}; "
        f"background: {wn.synset('background.n.02').definition()}"
    )
    # Without senses: each word's first noun sense, a single word described by its gloss alone.
    (sky,) = corpus.scene_entities(wn, ["sky"])
    assert (sky.description, sky.sense) == (wn.synsets("sky", "n")[0].definition(), "sky.n.01")
    with pytest.raises(ValueError, match="no noun or adjective 'qzxv'"):
        corpus.scene_entities(wn, ["qzxv background"])
    with pytest.raises(ValueError, match="2 words but senses"):
        corpus.scene_entities(wn, ["striped background=striped.s.01"])
    with pytest.raises(ValueError, match="no WordNet sense"):
        corpus.scene_entities(wn, ["striped background=striped.s.01 background.n.99"])
    # The tool reads them from a file (make_synthetic.py's scenes.txt) or a list.
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "build_corpus", REPO / "tools" / "build_corpus.py"
    )
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    listing = tmp_path / "scenes.txt"
    listing.write_text(
        "# the world's backgrounds\nstriped background=striped.s.01 background.n.02\n\nsky\n"
    )
    assert tool.read_scenes(str(listing)) == [
        "striped background=striped.s.01 background.n.02",
        "sky",
    ]
    assert tool.read_scenes("sky, grass") == ["sky", "grass"]


def test_colours_named_as_nouns_are_colour_attributes(wn):
    # "from red to blue": both colours, as attributes (red.n.01 and blue.n.01 are colours), and
    # neither a noun entity; "a red herring" kind of nouns without a colour sense stay nouns.
    entities = {e.unit: e for e in corpus.label_entities(wn, "circle turning from red to blue")}
    assert {u: e.source for u, e in entities.items()} == {
        "circle": "label",
        "red": "attribute",
        "blue": "attribute",
    }
    assert attributes.attribute_kind(wn, entities["red"].sense) == "colour"
    units = {e.unit for e in corpus.label_entities(wn, "kicking ball to goal")}
    assert "goal" in units  # a noun without a colour sense is untouched
