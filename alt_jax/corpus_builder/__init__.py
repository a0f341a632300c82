"""Offline builder of the entity corpus S (SPEC §3): label nouns, WordNet senses, glosses."""
