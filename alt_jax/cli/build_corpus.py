"""Build the entity corpus S (docs/method.md §3) from action label lists.

Example (the shipped corpus, no language model):
  alt-jax-corpus --labels=k400,ucf101,hmdb51 \
      --output=alt_jax/resources/corpus/actions_wordnet.json
With a language model (OpenAI-compatible endpoint; key from $OPENAI_API_KEY, never logged;
a password in the URL is shown as ***; credentials go over plain http only to this machine
unless --llm-allow-insecure-http):
  alt-jax-corpus --labels=k400 --output=/tmp/k400_llm.json \
      --llm-url=http://localhost:8000/v1 --llm-model=my-model --llm-cache-dir=/tmp/llm_cache
With T5 word-sense disambiguation (a local save_pretrained folder, never downloaded):
  alt-jax-corpus --labels=k400 --output=/tmp/k400_t5.json \
      --wsd-t5=/models/flan-t5-base
"""

import argparse
import logging
import sys
from pathlib import Path

from alt_jax import labels as labels_lib
from alt_jax.corpus_builder import corpus, llm, t5_wsd, wordnet_reader
from alt_jax.progress import phase

_LOGGER = logging.getLogger("build_corpus")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line flags."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--labels",
        required=True,
        help="comma-separated label lists: shipped names "
        f"({', '.join(labels_lib.KNOWN_LISTS)}) or paths to label files",
    )
    parser.add_argument("--output", required=True, type=Path, help="corpus JSON to write")
    parser.add_argument(
        "--wordnet-dir",
        type=Path,
        default=wordnet_reader.DEFAULT_WORDNET_DIR,
        help="WordNet 3.0 dict directory (Debian wordnet-base)",
    )
    parser.add_argument(
        "--attributes",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also extract colour/material words and adjective-noun phrases of the labels "
        "(alt_jax/resources/corpus/README.md); --no-attributes gives nouns and compounds only",
    )
    parser.add_argument(
        "--scenes",
        default="",
        help="extra scene entities (e.g. the backgrounds of a synthetic world): a file with one "
        "per line (make_synthetic.py writes scenes.txt) or a comma-separated list; each is "
        "'unit' or 'unit=SENSE SENSE ...' (a WordNet sense per word; default: the first)",
    )
    parser.add_argument("--llm-url", help="OpenAI-compatible base URL; no language model if unset")
    parser.add_argument("--llm-model", help="model name sent to the endpoint")
    parser.add_argument(
        "--llm-api-key-env",
        default="OPENAI_API_KEY",
        help="name of the environment variable holding the API key",
    )
    parser.add_argument(
        "--llm-cache-dir",
        type=Path,
        default=Path.home() / ".cache" / "alt_jax" / "llm",
        help="where answers are cached (one file per model+prompt)",
    )
    parser.add_argument(
        "--llm-allow-insecure-http",
        action="store_true",
        help="send the API key (or the URL's password) over plain http to another machine; "
        "without it such a URL is refused (http to localhost is always allowed)",
    )
    parser.add_argument("--llm-timeout-s", type=float, default=60.0)
    parser.add_argument("--llm-max-attempts", type=int, default=3)
    parser.add_argument(
        "--wsd-t5",
        type=Path,
        metavar="FOLDER",
        help="local T5 checkpoint folder (save_pretrained: config.json, weights, tokenizer; e.g. "
        "flan-t5) that chooses senses and descriptions, Lesk breaking exact ties; never "
        "downloaded. Default: Lesk alone, without torch",
    )
    args = parser.parse_args(argv)
    if args.llm_url and not args.llm_model:
        parser.error("--llm-url needs --llm-model")
    if args.llm_max_attempts < 1:
        parser.error("--llm-max-attempts must be at least 1")
    return args


def read_scenes(arg: str) -> list[str]:
    """--scenes: the lines of a file, or a comma-separated list."""
    if arg and Path(arg).is_file():
        lines = Path(arg).read_text(encoding="utf-8").splitlines()
        return [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    return [unit.strip() for unit in arg.split(",") if unit.strip()]


def main(argv: list[str] | None = None) -> None:
    """Read the label lists, build the corpus, write it."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    llm_config = None
    if args.llm_url:
        llm_config = llm.LLMConfig(
            url=args.llm_url,
            model=args.llm_model,
            cache_dir=args.llm_cache_dir,
            api_key_env=args.llm_api_key_env,
            timeout_s=args.llm_timeout_s,
            max_attempts=args.llm_max_attempts,
            allow_insecure_http=args.llm_allow_insecure_http,
        )
        try:  # before any work: a refused endpoint costs nothing
            llm.check_transport(llm_config)
        except llm.LLMError as e:
            print(f"build_corpus: error: {e}", file=sys.stderr)
            sys.exit(2)
        shown = llm.mask_url(args.llm_url)
        _LOGGER.info("Language model %s at %s, cache %s", args.llm_model, shown, args.llm_cache_dir)
        if args.llm_allow_insecure_http and llm.plain_http_host(args.llm_url):
            _LOGGER.warning("Plain http to another machine: credentials for %s unencrypted", shown)
    names = [name.strip() for name in args.labels.split(",") if name.strip()]
    all_labels = []
    for name in names:
        all_labels += labels_lib.load_labels(name)
    with phase(f"reading WordNet from {args.wordnet_dir}"):
        wn = wordnet_reader.load_wordnet(args.wordnet_dir)
    try:
        scorer = None
        if args.wsd_t5 is not None:
            with phase(f"loading T5 word-sense disambiguation from {args.wsd_t5}"):
                scorer = t5_wsd.load_t5_scorer(args.wsd_t5)
        scenes = read_scenes(args.scenes)
        entries = corpus.build_corpus(
            wn,
            all_labels,
            llm_config,
            with_attributes=args.attributes,
            wsd_t5=scorer,
            scenes=scenes,
        )
    except (llm.LLMError, t5_wsd.T5ModelError, ValueError) as e:
        # The message names the endpoint, cache file or model folder at fault; a traceback would
        # add nothing.
        print(f"build_corpus: error: {e}", file=sys.stderr)
        sys.exit(1)
    corpus.write_corpus(entries, args.output)
    _LOGGER.info(
        "%d entities from %d labels (%s) -> %s",
        len(entries),
        len(set(all_labels)),
        ", ".join(names),
        args.output,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
