"""Class-name lists of the action datasets, in official class-index order."""

from pathlib import Path

from alt_jax import resources

# Inside the installed package (alt_jax/resources/labels), whatever the current folder.
LABELS_DIR = resources.packaged("labels")
KNOWN_LISTS = ("hmdb51", "k400", "k600", "k600_novel", "ssv2", "ucf101")


def label_list_path(name_or_path: str | Path) -> Path:
    """The file of a shipped list ('k400', ...) or the given path to a label file."""
    text = str(name_or_path)
    if text in KNOWN_LISTS:
        return LABELS_DIR / f"{text}.txt"
    if resources.is_packaged(text):
        return Path(resources.resolve(text))
    path = Path(text)
    # A bare word that is not a shipped list is a typo far more often than a file in the cwd.
    if path.suffix or path.parent != Path(".") or path.exists():
        return path
    raise ValueError(
        f"Unknown label list {text!r}; valid names: {', '.join(KNOWN_LISTS)} "
        "(or give a path to a text file with one class name per line)."
    )


def load_labels(name_or_path: str | Path) -> list[str]:
    """Class names, one per line of the list's file; line i is class i."""
    path = label_list_path(name_or_path)
    if not path.is_file():
        raise FileNotFoundError(f"Label file {path} does not exist.")
    names = [line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines()]
    for line_number, name in enumerate(names, start=1):
        if not name:
            raise ValueError(f"{path}:{line_number}: empty class name.")
    seen: dict[str, int] = {}
    for line_number, name in enumerate(names, start=1):
        if name in seen:
            raise ValueError(
                f"{path}:{line_number}: class name {name!r} repeats line {seen[name]}."
            )
        seen[name] = line_number
    if not names:
        raise ValueError(f"Label file {path} is empty.")
    return names
