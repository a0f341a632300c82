"""Language-model prompts through an OpenAI-compatible chat endpoint, with an on-disk cache.

Standard library only (urllib). Each answer is cached under the hash of (model, prompt) in its
own file, written atomically, so a rerun makes no request and an interrupted run loses nothing.
The API key is read from the environment at request time and never logged or cached: it is not
sent across a redirect to another origin (scheme, host, port), nor over plain http to another
machine unless allowed, and a server reply quoted in an error has it blanked as ***. A password
in the endpoint URL (http://user:password@host/v1) is sent as HTTP basic authentication when no
API key is set, and shown as *** wherever the URL is.
"""

import base64
import dataclasses
import hashlib
import http.client
import ipaddress
import json
import logging
import os
import re
import socket
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

# docs/method.md §3, after the paper.
VISUAL_CHARACTERISTICS_PROMPT = (
    "What are identifying visual characteristics, such as object, body parts, scenes, and roles, "
    "of {article} {label} video action? List them concisely."
)
DESCRIBE_PROMPT = "Concisely describe what {article} {unit} looks like"
# The three description prompts of a phrase unit, after the paper, each with the name a corpus
# entry records in its `prompt` field; the disambiguation step chooses among their answers.
DESCRIBE_PROMPTS = (
    ("look", DESCRIBE_PROMPT),
    ("explanations", "Concisely list potential explanations for {unit}"),
    ("sentence", "Concisely explain {unit} in one sentence"),
)

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
    allow_insecure_http: bool = False  # send credentials over http to another machine

    def __repr__(self) -> str:
        """The fields, the URL's password as *** (a config may end up in a log)."""
        fields = ", ".join(
            f"{f.name}={mask_url(v) if f.name == 'url' else v!r}"
            for f in dataclasses.fields(self)
            for v in [getattr(self, f.name)]
        )
        return f"LLMConfig({fields})"


def indefinite_article(phrase: str) -> str:
    """'an' before a vowel letter, else 'a' (spelling rule; good enough for action names)."""
    return "an" if phrase[:1].lower() in "aeiou" else "a"


def visual_characteristics_prompt(label: str) -> str:
    """docs/method.md §3's prompt asking for the entities of an action."""
    return VISUAL_CHARACTERISTICS_PROMPT.format(article=indefinite_article(label), label=label)


def describe_prompt(unit: str) -> str:
    """docs/method.md §3's prompt asking for the look of an entity."""
    return DESCRIBE_PROMPT.format(article=indefinite_article(unit), unit=unit)


def describe_prompts(unit: str) -> list[tuple[str, str]]:
    """The three description prompts for `unit`, as (name, prompt) in DESCRIBE_PROMPTS order."""
    article = indefinite_article(unit)
    return [(name, text.format(article=article, unit=unit)) for name, text in DESCRIBE_PROMPTS]


def cache_key(model: str, prompt: str) -> str:
    """Hex digest naming the cached answer of `model` to `prompt`."""
    return hashlib.sha256(json.dumps([model, prompt]).encode("utf-8")).hexdigest()


def _cache_path(config: LLMConfig, prompt: str) -> Path:
    return Path(config.cache_dir) / f"{cache_key(config.model, prompt)}.json"


def read_cached(config: LLMConfig, prompt: str) -> str | None:
    """The cached answer to `prompt`, or None; LLMError naming the file when the entry is bad.

    A bad entry is reported rather than re-asked: the cache is what makes reruns reproducible, so
    replacing an entry is the user's decision.
    """
    path = _cache_path(config, prompt)
    if not path.is_file():
        return None

    def bad(problem: str) -> LLMError:
        return LLMError(
            f"Bad cached answer {path} (prompt {prompt[:80]!r}): {problem}; "
            "delete it to ask the model again."
        )

    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise bad(f"not JSON ({e})") from e
    if not isinstance(record, dict):
        raise bad(f"not a JSON object but {type(record).__name__}")
    if "answer" not in record:
        raise bad("no 'answer'")
    answer = record["answer"]
    if not isinstance(answer, str):
        raise bad(f"'answer' is {type(answer).__name__}, not text")
    if not answer.strip():
        raise bad("'answer' is empty")
    if record.get("model") != config.model or record.get("prompt") != prompt:
        raise bad("it belongs to another (model, prompt)")
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


def redact(text: str, *secrets: str | None) -> str:
    """`text` with every occurrence of each secret replaced by ***."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _quote_body(body: bytes, secrets: tuple[str | None, ...], limit: int = 200) -> str:
    # Redact before cutting, so a key split by the cut cannot leak its first half.
    return repr(redact(body.decode("utf-8", errors="replace"), *secrets)[:limit])


def chat_answer(response_body: bytes, url: str, *secrets: str | None) -> str:
    """The assistant message of an OpenAI chat-completions response; LLMError when malformed.

    `secrets` (the API key, the URL's password) are blanked in any part of the response quoted
    in the error.
    """
    url = mask_url(url)
    try:
        response = json.loads(response_body)
        content = response["choices"][0]["message"]["content"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, IndexError, TypeError) as e:
        raise LLMError(
            f"Malformed chat-completions response from {url} ({type(e).__name__}: "
            f"{redact(str(e), *secrets)}); body starts {_quote_body(response_body, secrets)}"
        ) from e
    if not isinstance(content, str) or not content.strip():
        raise LLMError(f"Empty or non-text answer from {url}: {redact(repr(content), *secrets)}")
    return content.strip()


def _split_userinfo(url: str) -> tuple[str, str | None, str]:
    """(scheme + '://', user info or None, the rest): split by hand, so that no URL, however
    malformed, makes the masking itself fail."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "", None, url
    end = min([i for i in (rest.find(c) for c in "/?#") if i >= 0] or [len(rest)])
    userinfo, at, host = rest[:end].rpartition("@")
    if not at:
        return scheme + sep, None, rest
    return scheme + sep, userinfo, host + rest[end:]


def mask_url(url: str) -> str:
    """`url` with the password of its user info as *** (a lone user name, often a token, too)."""
    prefix, userinfo, rest = _split_userinfo(url)
    if userinfo is None:
        return url
    user, colon, _ = userinfo.partition(":")
    return f"{prefix}{user + ':***' if colon else '***'}@{rest}"


def url_credentials(url: str) -> tuple[str, str | None, tuple[str, ...]]:
    """(`url` without user info, the basic-auth token of its user info, the secrets to blank:
    password, or a lone user name, and the token); (url, None, ()) without user info."""
    prefix, userinfo, rest = _split_userinfo(url)
    if userinfo is None:
        return url, None, ()
    user, colon, password = userinfo.partition(":")
    token = base64.b64encode(urllib.parse.unquote(userinfo).encode("utf-8")).decode("ascii")
    shown = (password, urllib.parse.unquote(password)) if colon else (user,)
    return prefix + rest, token, (*(s for s in shown if s), token)


def is_local_host(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1): traffic that never leaves
    this machine. Names are not resolved, so only these literal forms count."""
    host = host.strip("[]").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def plain_http_host(url: str) -> str | None:
    """The host of an http URL to another machine (traffic readable on the way), else None."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as e:
        raise LLMError(f"Bad endpoint URL {mask_url(url)}: {e}") from e
    host = parts.hostname or ""
    return host if parts.scheme.lower() == "http" and not is_local_host(host) else None


def check_transport(config: LLMConfig) -> None:
    """LLMError when the request would carry credentials (the API key, a password in the URL)
    over plain http to another machine, unless `config.allow_insecure_http`."""
    host = plain_http_host(config.url)
    if host is None or config.allow_insecure_http:
        return
    carried = []
    if os.environ.get(config.api_key_env):
        carried.append(f"the API key (${config.api_key_env})")
    if url_credentials(config.url)[1] is not None:
        carried.append("the credentials in the URL")
    if carried:
        raise LLMError(
            f"Refusing to send {' and '.join(carried)} unencrypted over plain http to {host} "
            f"({mask_url(config.url)}): use an https URL, or allow it explicitly "
            "(build_corpus: --llm-allow-insecure-http; LLMConfig: allow_insecure_http=True)."
        )


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of `url`, the port defaulted from the scheme."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or ""), parts.port or {"http": 80, "https": 443}.get(scheme)


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects within the endpoint's origin only.

    urllib copies the Authorization header onto the redirected request wherever it points, so a
    redirect to another origin would hand it the API key; such a redirect is refused instead.
    """

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D102
        if origin(newurl) != origin(req.full_url):
            fp.close()
            raise LLMError(
                f"{mask_url(req.full_url)} redirects (HTTP {code}) to another origin, "
                f"{mask_url(newurl)}; not followed, so the API key is not sent there. Point the "
                "endpoint URL at the server itself."
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_SameOriginRedirects)


def _post_chat(config: LLMConfig, prompt: str) -> str:
    check_transport(config)
    endpoint = config.url.rstrip("/") + "/chat/completions"
    # urllib would take user info for part of the host name: it goes in a header instead.
    url, basic, url_secrets = url_credentials(endpoint)
    shown = mask_url(endpoint)
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
    elif basic is not None:
        headers["Authorization"] = f"Basic {basic}"
    secrets = (api_key, *url_secrets)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _OPENER.open(request, timeout=config.timeout_s) as response:
            response_body = response.read()
    except urllib.error.HTTPError as e:
        # A server may echo the request (headers included) in its error page: quote it redacted.
        detail = f"HTTP {e.code} from {shown}: {_quote_body(e.read(), secrets)}"
        if e.code in _RETRYABLE_STATUS:
            raise _Retryable(detail) from e
        raise LLMError(detail) from e
    except TimeoutError as e:
        raise _Retryable(f"no answer from {shown} within {config.timeout_s} s") from e
    except (urllib.error.URLError, ConnectionError, http.client.HTTPException) as e:
        reason = getattr(e, "reason", e)
        if isinstance(reason, (TimeoutError, socket.timeout)):
            raise _Retryable(f"no answer from {shown} within {config.timeout_s} s") from e
        raise _Retryable(f"cannot reach {shown}: {redact(str(reason), *secrets)}") from e
    return chat_answer(response_body, shown, *secrets)


def complete(
    config: LLMConfig, prompt: str, validate: Callable[[str], object] | None = None
) -> str:
    """The model's answer to `prompt`: from the cache, else asked (with retries) and cached.

    `validate` raises ValueError on an answer that cannot be used; such an answer is an LLMError and
    is not cached, so the cache only ever holds usable answers.
    """
    cached = read_cached(config, prompt)
    if cached is not None:
        if validate is not None:
            try:
                validate(cached)
            except ValueError as e:
                raise LLMError(
                    f"Bad cached answer {_cache_path(config, prompt)} (prompt {prompt[:80]!r}): "
                    f"{e}; delete it to ask the model again."
                ) from e
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
            message = f"Unusable answer from model {config.model!r} to {prompt!r}: {e}"
            secrets = url_credentials(config.url)[2]
            raise LLMError(redact(message, os.environ.get(config.api_key_env), *secrets)) from e
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


def _answer_lines(answer: str) -> list[str]:
    lines = (re.sub(r"^\s*(?:[-*•]+|\d+[.)])\s*", "", line) for line in answer.splitlines())
    return [text for text in (" ".join(line.replace("**", "").split()) for line in lines) if text]


def parse_description(answer: str) -> str:
    """A description answer as one line (whitespace and list marks removed); ValueError if empty."""
    text = " ".join(_answer_lines(answer))
    if not text:
        raise ValueError("empty description")
    return text


def parse_listed_description(answer: str) -> str:
    """A listing answer (lines '- a', '- b.') as one line 'a; b'; ValueError if empty."""
    lines = _answer_lines(answer)
    if len(lines) > 1:
        # Items of a list, not sentences of a paragraph: their end marks would double the '; '.
        lines = [line.rstrip(" .;,") for line in lines]
    text = "; ".join(line for line in lines if line)
    if not text:
        raise ValueError("empty description")
    return text


# How each description prompt's answer is read (the explanations prompt asks for a list).
DESCRIPTION_PARSERS = {
    "look": parse_description,
    "explanations": parse_listed_description,
    "sentence": parse_description,
}
