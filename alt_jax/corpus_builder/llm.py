"""Language-model prompts through an OpenAI-compatible chat endpoint, with an on-disk cache.

Standard library only (urllib). Each answer is cached under the hash of (model, prompt) in its
own file, written atomically, so a rerun makes no request and an interrupted run loses nothing.
The API key is read from the environment at request time and never logged or cached.
"""

import dataclasses
import hashlib
import http.client
import json
import logging
import os
import re
import socket
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

# SPEC §3, after the paper.
VISUAL_CHARACTERISTICS_PROMPT = (
    "What are identifying visual characteristics, such as object, body parts, scenes, and roles, "
    "of {article} {label} video action? List them concisely."
)
DESCRIBE_PROMPT = "Concisely describe what {article} {unit} looks like"

# Headings a listing answer may group its items under ("Objects: guitar, pick").
_CATEGORY_HEADINGS = re.compile(
    r"^(?:key\s+)?(?:identifying\s+)?(?:visual\s+)?(?:objects?|body\s+parts?|scenes?|settings?|"
    r"roles?|people|persons?|environment|location|equipment|clothing|props?|tools?|actions?|"
    r"movements?|characteristics|features)$"
)
_RETRYABLE_STATUS = (408, 429, 500, 502, 503, 504)
_LOGGER = logging.getLogger(__name__)


class LLMError(RuntimeError):
    """The language model gave no usable answer."""


@dataclasses.dataclass(frozen=True)
class LLMConfig:
    """Where and how to ask: endpoint, model, key variable, cache, time limits, retries."""

    url: str  # base URL; requests go to {url}/chat/completions
    model: str
    cache_dir: Path
    api_key_env: str = "OPENAI_API_KEY"
    timeout_s: float = 60.0  # per request
    max_attempts: int = 3  # requests per prompt before giving up
    backoff_s: float = 2.0  # wait before retry k: backoff_s * 2**(k-1)
    max_tokens: int = 256


def indefinite_article(phrase: str) -> str:
    """'an' before a vowel letter, else 'a' (spelling rule; good enough for action names)."""
    return "an" if phrase[:1].lower() in "aeiou" else "a"


def visual_characteristics_prompt(label: str) -> str:
    """SPEC §3's prompt asking for the entities of an action."""
    return VISUAL_CHARACTERISTICS_PROMPT.format(article=indefinite_article(label), label=label)


def describe_prompt(unit: str) -> str:
    """SPEC §3's prompt asking for the look of an entity."""
    return DESCRIBE_PROMPT.format(article=indefinite_article(unit), unit=unit)


def cache_key(model: str, prompt: str) -> str:
    """Hex digest naming the cached answer of `model` to `prompt`."""
    return hashlib.sha256(json.dumps([model, prompt]).encode("utf-8")).hexdigest()


def _cache_path(config: LLMConfig, prompt: str) -> Path:
    return Path(config.cache_dir) / f"{cache_key(config.model, prompt)}.json"


def read_cached(config: LLMConfig, prompt: str) -> str | None:
    """The cached answer to `prompt`, or None."""
    path = _cache_path(config, prompt)
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        answer = record["answer"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise LLMError(f"Corrupt cache file {path} ({e}); delete it to ask again.") from e
    if record.get("model") != config.model or record.get("prompt") != prompt:
        raise LLMError(f"Cache file {path} belongs to another (model, prompt); delete it.")
    return answer


def write_cached(config: LLMConfig, prompt: str, answer: str) -> None:
    """Store an answer atomically (temporary file + rename)."""
    path = _cache_path(config, prompt)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"model": config.model, "prompt": prompt, "answer": answer}
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", dir=path.parent, suffix=".tmp", delete=False
    ) as tmp:
        json.dump(record, tmp, sort_keys=True, ensure_ascii=False)
        tmp.flush()
        os.fsync(tmp.fileno())
    os.replace(tmp.name, path)


class _Retryable(Exception):
    """A failure worth another attempt: timeout, connection trouble, 408/429/5xx."""


def chat_answer(response_body: bytes, url: str) -> str:
    """The assistant message of an OpenAI chat-completions response; LLMError when malformed."""
    try:
        response = json.loads(response_body)
        content = response["choices"][0]["message"]["content"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, IndexError, TypeError) as e:
        raise LLMError(
            f"Malformed chat-completions response from {url} ({type(e).__name__}: {e}); "
            f"body starts {response_body[:200]!r}"
        ) from e
    if not isinstance(content, str) or not content.strip():
        raise LLMError(f"Empty or non-text answer from {url}: {content!r}")
    return content.strip()


def _post_chat(config: LLMConfig, prompt: str) -> str:
    url = config.url.rstrip("/") + "/chat/completions"
    body = json.dumps(
        {
            "model": config.model,
            "temperature": 0,
            "max_tokens": config.max_tokens,
            "messages": [{"role": "user", "content": prompt}],
        }
    ).encode("utf-8")
    headers = {"Content-Type": "application/json"}
    api_key = os.environ.get(config.api_key_env)
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=config.timeout_s) as response:
            response_body = response.read()
    except urllib.error.HTTPError as e:
        detail = f"HTTP {e.code} from {url}"
        if e.code in _RETRYABLE_STATUS:
            raise _Retryable(detail) from e
        raise LLMError(f"{detail}: {e.read()[:200]!r}") from e
    except TimeoutError as e:
        raise _Retryable(f"no answer from {url} within {config.timeout_s} s") from e
    except (urllib.error.URLError, ConnectionError, http.client.HTTPException) as e:
        reason = getattr(e, "reason", e)
        if isinstance(reason, (TimeoutError, socket.timeout)):
            raise _Retryable(f"no answer from {url} within {config.timeout_s} s") from e
        raise _Retryable(f"cannot reach {url}: {reason}") from e
    return chat_answer(response_body, url)


def complete(
    config: LLMConfig, prompt: str, validate: Callable[[str], object] | None = None
) -> str:
    """The model's answer to `prompt`: from the cache, else asked (with retries) and cached.

    `validate` raises ValueError on an answer that cannot be used; such an answer is an LLMError and
    is not cached, so the cache only ever holds usable answers.
    """
    cached = read_cached(config, prompt)
    if cached is not None:
        return cached
    failure = None
    for attempt in range(1, config.max_attempts + 1):
        try:
            answer = _post_chat(config, prompt)
            break
        except _Retryable as e:
            failure = e
            _LOGGER.warning("LLM attempt %d/%d failed: %s", attempt, config.max_attempts, e)
            if attempt < config.max_attempts:
                time.sleep(config.backoff_s * 2 ** (attempt - 1))
    else:
        raise LLMError(
            f"No answer from model {config.model!r} after {config.max_attempts} "
            f"attempts: {failure}. Prompt: {prompt!r}"
        )
    if validate is not None:
        try:
            validate(answer)
        except ValueError as e:
            raise LLMError(f"Unusable answer from model {config.model!r} to {prompt!r}: {e}") from e
    write_cached(config, prompt, answer)
    return answer


def parse_listed_units(answer: str, max_words: int = 4) -> list[str]:
    """Entity names in a listing answer (bullets, numbers, 'Heading: a, b'); ValueError if none."""
    units: list[str] = []
    for line in answer.splitlines():
        line = re.sub(r"^\s*(?:[-*•]+|\d+[.)])\s*", "", line).replace("**", "").strip()
        if ":" in line:
            head, tail = (part.strip() for part in line.split(":", 1))
            # "Objects: guitar, pick" lists under a heading; "Guitar: a stringed ..." names then glosses.
            line = tail if _CATEGORY_HEADINGS.match(head.lower()) else head
        line = re.sub(r"\([^)]*\)", "", line)
        for item in re.split(r"[,;]", line):
            item = re.sub(r"^(?:a|an|the)\s+", "", item.strip(" \t.!\"'").lower())
            if item and len(item.split()) <= max_words and item not in units:
                units.append(item)
    if not units:
        raise ValueError(f"no entity names found in {answer[:200]!r}")
    return units


def parse_description(answer: str) -> str:
    """A description answer as one line (whitespace and list marks removed); ValueError if empty."""
    text = " ".join(
        re.sub(r"^\s*(?:[-*•]+|\d+[.)])\s*", "", line).strip() for line in answer.splitlines()
    )
    text = " ".join(text.replace("**", "").split())
    if not text:
        raise ValueError("empty description")
    return text
