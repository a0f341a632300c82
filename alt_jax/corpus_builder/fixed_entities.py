"""Entities every corpus holds: body parts (docs/method.md §3.4) and a few scenes and roles [ours]."""

# (unit, WordNet 3.0 sense). The senses are fixed rather than disambiguated: out of context,
# Lesk would have nothing to go on. Their descriptions are the senses' glosses.
BODY_PARTS = (
    ("head", "head.n.01"),
    ("face", "face.n.01"),
    ("eye", "eye.n.01"),
    ("mouth", "mouth.n.01"),
    ("hair", "hair.n.01"),
    ("neck", "neck.n.01"),
    ("shoulder", "shoulder.n.01"),
    ("arm", "arm.n.01"),
    ("elbow", "elbow.n.01"),
    ("wrist", "wrist.n.01"),
    ("hand", "hand.n.01"),
    ("finger", "finger.n.01"),
    ("torso", "torso.n.01"),
    ("back", "back.n.01"),
    ("hip", "hip.n.01"),
    ("leg", "leg.n.01"),
    ("knee", "knee.n.01"),
    ("foot", "foot.n.01"),
)

SCENES = (
    ("room", "room.n.01"),
    ("kitchen", "kitchen.n.01"),
    ("floor", "floor.n.01"),
    ("table", "table.n.02"),
    ("stage", "stage.n.03"),
    ("gymnasium", "gymnasium.n.02"),
    ("playing field", "playing_field.n.02"),
    ("court", "court.n.04"),
    ("swimming pool", "swimming_pool.n.01"),
    ("water", "water.n.01"),
    ("snow", "snow.n.02"),
    ("grass", "grass.n.01"),
    ("sky", "sky.n.01"),
    ("road", "road.n.01"),
    ("street", "street.n.01"),
    ("beach", "beach.n.01"),
    ("mountain", "mountain.n.01"),
    ("tree", "tree.n.01"),
)

ROLES = (
    ("person", "person.n.01"),
    ("man", "man.n.01"),
    ("woman", "woman.n.01"),
    ("child", "child.n.01"),
    ("player", "player.n.01"),
    ("athlete", "athlete.n.01"),
    ("crowd", "crowd.n.01"),
    ("audience", "audience.n.01"),
)
