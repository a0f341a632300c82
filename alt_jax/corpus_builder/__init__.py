"""Offline builder of the entity corpus S (docs/method.md §3): label nouns, WordNet senses, glosses."""
