"""Tests of alt_jax.corpus_builder.llm against a stub chat-completions server on 127.0.0.1."""

import http.server
import json
import threading
import time

import pytest

from alt_jax.corpus_builder import corpus, lesk, llm, wordnet_reader, wsd


class _StubHandler(http.server.BaseHTTPRequestHandler):
    """Answers POST /v1/chat/completions: the server's answer to that prompt if it has one, else
    its next scripted behaviour."""

    def do_POST(self):  # pylint: disable=invalid-name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        server = self.server
        server.requests.append(
            {"path": self.path, "body": body, "authorization": self.headers.get("Authorization")}
        )
        prompt = body["messages"][0]["content"]
        if prompt in server.answers:
            kind, payload = "answer", server.answers[prompt]
        else:
            kind, payload = server.script.pop(0) if server.script else server.default
        if kind == "sleep":
            time.sleep(payload)
            kind, payload = "answer", "late"
        if kind == "answer":
            data = json.dumps({"choices": [{"message": {"role": "assistant", "content": payload}}]})
        else:  # 'raw': malformed bytes
            data = payload
        encoded = data.encode("utf-8")
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(encoded)))
            self.end_headers()
            self.wfile.write(encoded)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test)

    def log_message(self, *args):
        del args


@pytest.fixture
def stub():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _StubHandler)
    server.daemon_threads = True
    server.requests, server.script, server.default = [], [], ("answer", "unused")
    server.answers = {}
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _config(stub, tmp_path, **kwargs):
    host, port = stub.server_address
    defaults = {
        "url": f"http://{host}:{port}/v1",
        "model": "stub-model",
        "cache_dir": tmp_path / "cache",
        "api_key_env": "ALT_JAX_TEST_KEY",
        "timeout_s": 2.0,
        "max_attempts": 2,
        "backoff_s": 0.0,
    }
    defaults.update(kwargs)
    return llm.LLMConfig(**defaults)


def test_prompts_follow_spec():
    assert llm.visual_characteristics_prompt("abseiling") == (
        "What are identifying visual characteristics, such as object, body parts, scenes, and "
        "roles, of an abseiling video action? List them concisely."
    )
    assert llm.describe_prompt("golf club") == "Concisely describe what a golf club looks like"
    assert llm.describe_prompts("ice axe") == [
        ("look", "Concisely describe what an ice axe looks like"),
        ("explanations", "Concisely list potential explanations for ice axe"),
        ("sentence", "Concisely explain ice axe in one sentence"),
    ]


def test_parse_listed_description():
    assert llm.parse_listed_description("- A bar game.\n2) **Rodeo** training;\n\n") == (
        "A bar game; Rodeo training"
    )
    # One line is a sentence: kept as written.
    assert llm.parse_listed_description("Fun, or training.") == "Fun, or training."
    with pytest.raises(ValueError, match="empty description"):
        llm.parse_listed_description(" - \n")


def test_parse_listed_units():
    answer = (
        "1. **Objects:** guitar, pick\n- Body parts: hands, fingers\n"
        "* Scene: a stage (concert)\nGuitar strap: a band over the shoulder\n\n"
    )
    assert llm.parse_listed_units(answer) == [
        "guitar",
        "pick",
        "hands",
        "fingers",
        "stage",
        "guitar strap",
    ]
    with pytest.raises(ValueError, match="no entity names"):
        llm.parse_listed_units("   \n")


def test_normal_answer_then_cache(stub, tmp_path, monkeypatch):
    monkeypatch.setenv("ALT_JAX_TEST_KEY", "sk-secret")
    config = _config(stub, tmp_path)
    stub.script.append(("answer", "Objects: guitar, pick"))
    assert llm.complete(config, "prompt one") == "Objects: guitar, pick"
    (request,) = stub.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["body"]["model"] == "stub-model"
    assert request["body"]["messages"] == [{"role": "user", "content": "prompt one"}]
    assert request["authorization"] == "Bearer sk-secret"
    cached = list((tmp_path / "cache").iterdir())
    assert [p.name for p in cached] == [llm.cache_key("stub-model", "prompt one") + ".json"]
    assert "sk-secret" not in cached[0].read_text()
    # Rerun: served from the cache, no request made.
    assert llm.complete(config, "prompt one") == "Objects: guitar, pick"
    assert len(stub.requests) == 1
    # Another model is another cache entry.
    stub.script.append(("answer", "other"))
    assert llm.complete(_config(stub, tmp_path, model="m2"), "prompt one") == "other"
    assert len(stub.requests) == 2


def test_malformed_answer_is_clear_and_cache_intact(stub, tmp_path):
    config = _config(stub, tmp_path)
    stub.script.append(("answer", "Objects: ball"))
    llm.complete(config, "good prompt")
    before = {p.name: p.read_bytes() for p in (tmp_path / "cache").iterdir()}
    stub.script.append(("raw", '{"choices": []}'))
    with pytest.raises(llm.LLMError, match="Malformed chat-completions response"):
        llm.complete(config, "bad prompt")
    stub.script.append(("raw", "not json at all"))
    with pytest.raises(llm.LLMError, match="Malformed"):
        llm.complete(config, "bad prompt")
    # A well-formed answer that lists nothing fails validation and is not cached either.
    stub.script.append(("answer", "..."))
    with pytest.raises(llm.LLMError, match="Unusable answer"):
        llm.complete(config, "bad prompt", validate=llm.parse_listed_units)
    after = {p.name: p.read_bytes() for p in (tmp_path / "cache").iterdir()}
    assert after == before


def test_timeout_retries_then_clear_error(stub, tmp_path):
    config = _config(stub, tmp_path, timeout_s=0.3, max_attempts=2)
    stub.default = ("sleep", 1.0)
    started = time.monotonic()
    with pytest.raises(llm.LLMError, match=r"after 2 attempts: no answer from .* within 0.3 s"):
        llm.complete(config, "slow prompt")
    assert len(stub.requests) == 2
    assert time.monotonic() - started < 1.5
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())
    # A timeout followed by an answer succeeds on the retry.
    stub.requests.clear()
    stub.script.extend([("sleep", 1.0), ("answer", "Objects: rope")])
    assert llm.complete(config, "slow prompt") == "Objects: rope"
    assert len(stub.requests) == 2


def test_build_corpus_with_llm_then_rerun_from_cache(stub, tmp_path):
    root = wordnet_reader.DEFAULT_WORDNET_DIR
    if not (root / "data.noun").is_file():
        pytest.fail(wordnet_reader.missing_wordnet_message(root))
    wn = wordnet_reader.load_wordnet(root)
    config = _config(stub, tmp_path)
    stub.script.extend(
        [
            (
                "answer",
                (
                    "Objects: guitar, guitar strap, guitar pick\n"
                    "Body parts: fingers\nActions: strumming"
                ),
            ),
            ("answer", "A long band of leather hooked to both ends of a guitar."),
            ("answer", "- Holds the instrument\n- Looks tidy"),
            ("answer", "A band that holds a guitar."),
        ]
    )
    entries = corpus.build_corpus(wn, ["playing guitar"], config)
    assert len(stub.requests) == 4
    assert [r["body"]["messages"][0]["content"] for r in stub.requests[1:]] == [
        prompt for _, prompt in llm.describe_prompts("guitar strap")
    ]
    by_unit = {(e["unit"], e["source"]): e for e in entries}
    strap = by_unit[("guitar strap", "llm")]
    pick = by_unit[("guitar pick", "llm")]
    assert pick["sense"] == "guitar_pick.n.01"  # in WordNet: its gloss
    assert pick["description"] == "a plectrum used to pluck a guitar"
    assert strap["sense"] is None  # not in WordNet: the model's description
    # None of the three answers shares a word with "playing": the first prompt's wins the tie.
    assert strap["description"] == "A long band of leather hooked to both ends of a guitar."
    assert strap["prompt"] == "look" and "prompt" not in pick
    assert strap["labels"] == ["playing guitar"]
    assert by_unit[("guitar", "label")]["sense"] == "guitar.n.01"  # found in the label first
    assert by_unit[("finger", "bodypart")]["labels"] == ["playing guitar"]
    assert not any(unit == "strumming" for unit, _ in by_unit)  # verbs are not entities
    # Rerun: identical output, no request.
    again = corpus.build_corpus(wn, ["playing guitar"], config)
    assert corpus.corpus_json(again) == corpus.corpus_json(entries)
    assert len(stub.requests) == 4


@pytest.fixture(scope="module")
def wn():
    root = wordnet_reader.DEFAULT_WORDNET_DIR
    if not (root / "data.noun").is_file():
        pytest.fail(wordnet_reader.missing_wordnet_message(root))
    return wordnet_reader.load_wordnet(root)


def _describe(unit, look, explanations, sentence):
    """The stub's answers to the three description prompts of `unit`."""
    prompts = [prompt for _, prompt in llm.describe_prompts(unit)]
    return dict(zip(prompts, (look, explanations, sentence), strict=True))


def _prompts(stub):
    return [r["body"]["messages"][0]["content"] for r in stub.requests]


def test_three_prompts_cached_and_chosen_by_lesk(stub, tmp_path, wn):
    config = _config(stub, tmp_path)
    label = "playing bass guitar"
    listing = llm.visual_characteristics_prompt(label)
    stub.answers[listing] = "Objects: guitar strap"
    answers = _describe(
        "guitar strap",
        "A long band of leather hooked to both ends of the instrument.",
        "- Holds a bass while the musician is playing standing up\n"
        "- Keeps the instrument from falling.",
        "A strap lets a guitarist play standing up.",
    )
    stub.answers.update(answers)
    entries = corpus.build_corpus(wn, [label], config)
    assert _prompts(stub) == [listing, *answers]  # the listing, then all three prompts in order
    # Lesk context of "guitar strap": the label's other content words, playing and bass.
    # Worked by hand: look shares neither; explanations has "bass" and "playing" (2); sentence
    # has "play", a form of playing (1). The explanations answer wins, its items joined by "; ".
    explanations = "Holds a bass while the musician is playing standing up; " + (
        "Keeps the instrument from falling"
    )
    context = ["playing", "bass"]
    assert corpus.unit_context(wn, label, ["guitar", "strap"]) == context
    overlaps = [
        lesk.text_overlap(wn, text, context)
        for text in (
            "A long band of leather hooked to both ends of the instrument.",
            explanations,
            "A strap lets a guitarist play standing up.",
        )
    ]
    assert overlaps == [0, 2, 1]
    (strap,) = [e for e in entries if e["unit"] == "guitar strap"]
    assert strap == {
        "unit": "guitar strap",
        "description": explanations,
        "source": "llm",
        "sense": None,
        "prompt": "explanations",
        "labels": [label],
    }
    assert len(list((tmp_path / "cache").iterdir())) == 4  # one file per prompt
    # Rerun: every answer from the cache, no request, same bytes; the file reads back.
    again = corpus.build_corpus(wn, [label], config)
    assert len(stub.requests) == 4
    assert corpus.corpus_json(again) == corpus.corpus_json(entries)
    corpus.write_corpus(entries, tmp_path / "corpus.json")
    assert corpus.load_corpus(tmp_path / "corpus.json") == entries


def test_label_phrase_described_by_the_model(stub, tmp_path, wn):
    config = _config(stub, tmp_path)
    label = "riding mechanical bull"
    stub.answers[llm.visual_characteristics_prompt(label)] = "Objects: bull"
    stub.answers.update(
        _describe(
            "mechanical bull",
            "A padded machine shaped like a bull that bucks and spins.",
            "- Bar entertainment\n- Training for rodeo riders",
            "A machine ridden by people who try to stay on while it bucks.",
        )
    )
    entries = corpus.build_corpus(wn, [label], config)
    assert len(stub.requests) == 4
    # Context: riding. Only the sentence answer has a form of it ("ridden" -> ride): 1. The
    # words' glosses, still a candidate ("mechanical: using ... tools or devices; bull:
    # uncastrated adult male of domestic cattle"), have none.
    (phrase,) = [e for e in entries if e["source"] == "phrase"]
    assert phrase == {
        "unit": "mechanical bull",
        "description": "A machine ridden by people who try to stay on while it bucks.",
        "source": "phrase",
        "sense": None,
        "prompt": "sentence",
        "labels": [label],
    }
    # Without a model the phrase keeps its words' glosses and senses.
    (plain,) = [e for e in corpus.build_corpus(wn, [label]) if e["source"] == "phrase"]
    assert plain["sense"] == "mechanical.a.01 bull.n.01" and "prompt" not in plain
    assert plain["description"].startswith("mechanical: using (or as if using) mechanisms")


class _FakeScorer:
    """A stand-in for the T5 scorer: fixed scores per description (0 for any other)."""

    def __init__(self, scores):
        self.scores, self.calls = scores, []

    def score(self, unit, label, descriptions):
        self.calls.append((unit, label, list(descriptions)))
        return [self.scores.get(d, 0.0) for d in descriptions]


@pytest.mark.parametrize("tie", [False, True])
def test_scorer_chooses_among_answers_and_visible_glosses(stub, tmp_path, wn, tie):
    config = _config(stub, tmp_path)
    stub.answers[llm.visual_characteristics_prompt("playing guitar")] = "Objects: stage"
    answers = ("A raised wooden floor.", "- Concerts\n- Speeches", "A platform for performers.")
    stub.answers.update(_describe("stage", *answers))
    gloss = {name: wn.synset(name).definition() for name in ("stage.n.04", "stage.n.03")}
    # The scorer's best sense of "stage" is the theatre profession, which names nothing visible,
    # so the model describes it; then the platform gloss outscores the answers (or ties them).
    scorer = _FakeScorer(
        {gloss["stage.n.04"]: 9.0}
        if tie
        else {gloss["stage.n.04"]: 9.0, gloss["stage.n.03"]: 5.0, answers[2]: 3.0}
    )
    entries = corpus.build_corpus(wn, ["playing guitar"], config, wsd_t5=scorer)
    (stage,) = [e for e in entries if e["unit"] == "stage" and e["labels"]]
    senses_call, description_call = [c for c in scorer.calls if c[0] == "stage"]
    ranked = lesk.rank_senses(wn, "stage", ["playing", "guitar"])
    assert senses_call == ("stage", "playing guitar", [c.synset.definition() for _, c in ranked])
    # Answers first (none shares a word with the label: equal Lesk overlap, answers before
    # glosses), then the visible senses' glosses in Lesk order (SemCor counts 15, 2, 1, 0).
    visible = ("stage.n.03", "stagecoach.n.01", "stage.n.07", "stage.n.08")
    assert description_call == (
        "stage",
        "playing guitar",
        [
            answers[0],
            "Concerts; Speeches",
            answers[2],
            *(wn.synset(n).definition() for n in visible),
        ],
    )
    if tie:
        # All scores equal: Lesk order decides, the first prompt's answer.
        assert (stage["description"], stage["sense"], stage["prompt"]) == (answers[0], None, "look")
    else:
        assert stage["sense"] == "stage.n.03" and stage["description"] == gloss["stage.n.03"]
        # stage.n.03 is also a fixed scene: one entry, which gains the label.
        assert "prompt" not in stage and stage["source"] == "scene"


def test_choose_breaks_exact_score_ties_by_lesk():
    candidates = [
        wsd.Candidate("b", (0, 0, 1), prompt="explanations"),
        wsd.Candidate("a", (-2, 0, 0), prompt="look"),
        wsd.Candidate("c", (-1, 1, 0), sense="x.n.01"),
    ]
    assert wsd.choose(candidates, "u", "l").description == "a"  # Lesk alone: overlap 2
    assert wsd.choose(candidates, "u", "l", _FakeScorer({"b": 1.0})).description == "b"
    # b and c tie on score: c has the larger overlap.
    assert wsd.choose(candidates, "u", "l", _FakeScorer({"b": 1.0, "c": 1.0})).description == "c"
    with pytest.raises(ValueError, match="no candidate description for 'u'"):
        wsd.choose([], "u", "l")


class _FaultHandler(http.server.BaseHTTPRequestHandler):
    """Records every request's headers; answers with the server's `reply(handler)`."""

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.server.seen.append({"method": self.command, "headers": dict(self.headers)})
        code, headers, body = self.server.reply(self)
        encoded = body.encode("utf-8")
        self.send_response(code)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(encoded)))
        self.end_headers()
        self.wfile.write(encoded)

    do_GET = do_POST = _handle  # noqa: N815 (http.server's naming)

    def log_message(self, *args):
        del args


@pytest.fixture
def fault_servers():
    """Two servers: `first` on 127.0.0.1, `second` on localhost (another origin)."""
    servers = []
    for host in ("127.0.0.1", "localhost"):
        server = http.server.ThreadingHTTPServer((host, 0), _FaultHandler)
        server.daemon_threads = True
        server.seen = []
        server.reply = lambda handler: (200, {}, _ANSWER)
        threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True).start()
        servers.append(server)
    yield servers
    for server in servers:
        server.shutdown()
        server.server_close()


_ANSWER = json.dumps({"choices": [{"message": {"role": "assistant", "content": "Objects: ball"}}]})


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_redirect_to_another_origin_never_gets_the_key(fault_servers, tmp_path, monkeypatch, code):
    monkeypatch.setenv("ALT_JAX_TEST_KEY", "sk-secret-redirect")
    first, second = fault_servers
    target = f"http://localhost:{second.server_address[1]}/v1/chat/completions"
    first.reply = lambda handler: (code, {"Location": target}, "")
    config = _config(first, tmp_path)
    with pytest.raises(llm.LLMError, match="another origin") as info:
        llm.complete(config, "redirected prompt")
    assert "localhost" in str(info.value) and "\n" not in str(info.value)
    assert [r["headers"].get("Authorization") for r in first.seen] == ["Bearer sk-secret-redirect"]
    assert not second.seen  # refused before any request to the other origin
    assert not (tmp_path / "cache").exists()


def test_redirect_within_the_origin_is_followed(fault_servers, tmp_path, monkeypatch):
    monkeypatch.setenv("ALT_JAX_TEST_KEY", "sk-secret-redirect")
    first, _ = fault_servers
    port = first.server_address[1]

    def reply(handler):
        if handler.path == "/old/chat/completions":
            return 302, {"Location": f"http://127.0.0.1:{port}/v1/chat/completions"}, ""
        return 200, {}, _ANSWER

    first.reply = reply
    config = _config(first, tmp_path, url=f"http://127.0.0.1:{port}/old")
    assert llm.complete(config, "moved prompt") == "Objects: ball"
    assert len(first.seen) == 2


@pytest.mark.parametrize("code", [400, 401, 500])
def test_error_replies_echoing_the_key_are_redacted(
    fault_servers, tmp_path, monkeypatch, caplog, code
):
    key = "sk-secret-" + "x" * 300  # longer than any quoted snippet: cut keys must not leak either
    monkeypatch.setenv("ALT_JAX_TEST_KEY", key)
    first, _ = fault_servers
    first.reply = lambda handler: (code, {}, "You sent: " + json.dumps(dict(handler.headers)))
    config = _config(first, tmp_path)
    with caplog.at_level("DEBUG"), pytest.raises(llm.LLMError) as info:
        llm.complete(config, "echo prompt")
    message = str(info.value)
    assert "sk-secret" not in message and "sk-secret" not in caplog.text
    assert "***" in message  # the reply is still quoted, with the key blanked
    assert f"HTTP {code}" in message


def test_malformed_reply_echoing_the_key_is_redacted(fault_servers, tmp_path, monkeypatch):
    monkeypatch.setenv("ALT_JAX_TEST_KEY", "sk-secret-echo")
    first, _ = fault_servers
    first.reply = lambda handler: (200, {}, "oops " + handler.headers["Authorization"])
    with pytest.raises(llm.LLMError, match=r"Malformed.*\*\*\*") as info:
        llm.complete(_config(first, tmp_path), "echo prompt")
    assert "sk-secret" not in str(info.value)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("", "Expecting value"),
        ('{"model": "stub-model", "prompt": "p", "answer": ""}', "empty"),
        ('{"model": "stub-model", "prompt": "p", "answer": 7}', "'answer' is int"),
        ('{"model": "stub-model", "prompt": "p", "answer": null}', "'answer' is NoneType"),
        ('{"model": "stub-model", "prompt": "p"}', "no 'answer'"),
        ('["stub-model", "p", "x"]', "not a JSON object"),
        ('{"model": "stub-model", "prompt": "p", "answer": "..."}', "no entity names"),
    ],
)
def test_bad_cache_entries_are_clear(stub, tmp_path, content, problem):
    config = _config(stub, tmp_path)
    path = tmp_path / "cache" / (llm.cache_key("stub-model", "p") + ".json")
    path.parent.mkdir()
    path.write_text(content)
    with pytest.raises(llm.LLMError) as info:
        llm.complete(config, "p", validate=llm.parse_listed_units)
    message = str(info.value)
    assert str(path) in message and problem in message and "delete it" in message
    assert "\n" not in message
    assert not stub.requests  # a bad entry is reported, not silently re-asked


def test_build_corpus_tool_reports_llm_errors_in_one_line(fault_servers, tmp_path, capsys):
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "build_corpus", Path(__file__).parents[1] / "tools" / "build_corpus.py"
    )
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    first, second = fault_servers
    target = f"http://localhost:{second.server_address[1]}/v1/chat/completions"
    first.reply = lambda handler: (302, {"Location": target}, "")
    labels = tmp_path / "labels.txt"
    labels.write_text("playing guitar\n")
    with pytest.raises(SystemExit) as info:
        tool.main(
            [
                f"--labels={labels}",
                f"--output={tmp_path / 'corpus.json'}",
                f"--llm-url=http://127.0.0.1:{first.server_address[1]}/v1",
                "--llm-model=m",
                f"--llm-cache-dir={tmp_path / 'cache'}",
            ]
        )
    assert info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("build_corpus: error: ") and "another origin" in err[-1]
    assert not (tmp_path / "corpus.json").exists()


def _load_tool():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "build_corpus", Path(__file__).parents[1] / "tools" / "build_corpus.py"
    )
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def test_url_password_goes_as_basic_auth_and_is_masked_in_errors(
    fault_servers, tmp_path, monkeypatch, caplog
):
    """http://user:password@host/v1: the server gets the pair as HTTP basic authentication;
    errors and logs show the URL with the password as ***."""
    import base64

    monkeypatch.delenv("ALT_JAX_TEST_KEY", raising=False)
    first, _ = fault_servers
    port = first.server_address[1]
    config = _config(first, tmp_path, url=f"http://user:hunter2-pw@127.0.0.1:{port}/v1")
    assert llm.complete(config, "basic prompt") == "Objects: ball"
    basic = base64.b64encode(b"user:hunter2-pw").decode()
    assert first.seen[0]["headers"]["Authorization"] == f"Basic {basic}"
    first.reply = lambda handler: (500, {}, "You sent: " + json.dumps(dict(handler.headers)))
    with caplog.at_level("DEBUG"), pytest.raises(llm.LLMError) as info:
        llm.complete(config, "failing prompt")
    message = str(info.value)
    assert f"HTTP 500 from http://user:***@127.0.0.1:{port}/v1/chat/completions" in message
    for shown in (message, caplog.text, repr(config)):
        assert "hunter2" not in shown and basic not in shown


def test_build_corpus_tool_never_shows_the_url_password(
    stub, fault_servers, tmp_path, monkeypatch, capsys, caplog, wn
):
    """Not in the log, the output, the error line, the corpus or the cache."""
    del wn  # WordNet must be installed
    monkeypatch.delenv("ALT_JAX_TEST_KEY", raising=False)
    tool = _load_tool()
    stub.answers[llm.visual_characteristics_prompt("playing guitar")] = "Objects: guitar pick"
    labels = tmp_path / "labels.txt"
    labels.write_text("playing guitar\n")
    common = [f"--labels={labels}", f"--llm-cache-dir={tmp_path / 'cache'}", "--llm-model=m"]
    host, port = stub.server_address
    url = f"http://u:hunter2@{host}:{port}/v1"
    with caplog.at_level("INFO"):
        tool.main([*common, f"--output={tmp_path / 'c.json'}", f"--llm-url={url}"])
    assert len(stub.requests) == 1 and stub.requests[0]["authorization"].startswith("Basic ")
    assert f"http://u:***@{host}:{port}/v1" in caplog.text
    bad = fault_servers[0]
    bad.reply = lambda handler: (500, {}, "down")
    url = f"http://u:hunter2@127.0.0.1:{bad.server_address[1]}/v1"
    with caplog.at_level("INFO"), pytest.raises(SystemExit) as info:
        # Another model: its answers are not cached, so the failing server is asked.
        tool.main(
            [
                *common,
                "--llm-model=m2",
                "--llm-max-attempts=1",
                f"--output={tmp_path / 'd.json'}",
                f"--llm-url={url}",
            ]
        )
    assert info.value.code == 1
    out, err = capsys.readouterr()
    assert "HTTP 500 from http://u:***@127.0.0.1" in err.strip().splitlines()[-1]
    stored = [p.read_text() for p in [tmp_path / "c.json", *(tmp_path / "cache").iterdir()]]
    for text in (caplog.text, out, err, *stored):
        assert "hunter2" not in text


class _FakeOpener:
    """Stands in for the HTTP opener: records each request, answers, or raises `failure`."""

    def __init__(self, failure=None):
        self.requests, self.failure = [], failure

    def open(self, request, timeout):
        del timeout
        self.requests.append(
            {"url": request.full_url, "authorization": request.get_header("Authorization")}
        )
        if self.failure is not None:
            raise self.failure
        import io

        return io.BytesIO(_ANSWER.encode())


@pytest.mark.parametrize(
    ("url", "key", "allow", "refused"),
    [
        ("http://llm.example.com/v1", "sk-plain", False, True),
        ("http://user:pw@llm.example.com/v1", None, False, True),  # the URL's password
        ("http://10.1.2.3:8000/v1", "sk-plain", False, True),  # another machine on the LAN
        ("http://llm.example.com/v1", "sk-plain", True, False),  # allowed explicitly
        ("http://llm.example.com/v1", None, False, False),  # no credential to expose
        ("https://llm.example.com/v1", "sk-plain", False, False),
    ],
)
def test_credentials_over_plain_http_to_another_machine_are_refused(
    tmp_path, monkeypatch, url, key, allow, refused
):
    if key:
        monkeypatch.setenv("ALT_JAX_TEST_KEY", key)
    else:
        monkeypatch.delenv("ALT_JAX_TEST_KEY", raising=False)
    opener = _FakeOpener()
    monkeypatch.setattr(llm, "_OPENER", opener)
    config = llm.LLMConfig(
        url=url,
        model="m",
        cache_dir=tmp_path / "cache",
        api_key_env="ALT_JAX_TEST_KEY",
        allow_insecure_http=allow,
    )
    if refused:
        with pytest.raises(llm.LLMError, match="plain http") as info:
            llm.complete(config, "p")
        message = str(info.value)
        assert "https" in message and "--llm-allow-insecure-http" in message
        assert "\n" not in message and "pw" not in message.replace("pw@", "")
        assert not opener.requests  # nothing was sent
    else:
        assert llm.complete(config, "p") == "Objects: ball"
        (request,) = opener.requests
        assert request["authorization"] == (f"Bearer {key}" if key else None)


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("localhost", True),
        ("127.0.0.1", True),
        ("127.3.2.1", True),
        ("::1", True),
        ("[::1]", True),
        ("example.com", False),
        ("localhost.example.com", False),
        ("127.0.0.1.example.com", False),
        ("10.0.0.1", False),
        ("0.0.0.0", False),
    ],
)
def test_local_hosts_are_known_by_their_literal_form(host, local):
    assert llm.is_local_host(host) is local


def test_build_corpus_tool_refuses_insecure_http_before_any_work(tmp_path, monkeypatch, capsys):
    """One error line and exit 2, before WordNet is read (here it does not even exist); with
    --llm-allow-insecure-http the request is made, the key with it."""
    import urllib.error

    monkeypatch.setenv("ALT_JAX_TEST_KEY", "sk-plain")
    opener = _FakeOpener(failure=urllib.error.URLError("no network in tests"))
    monkeypatch.setattr(llm, "_OPENER", opener)
    tool = _load_tool()
    labels = tmp_path / "labels.txt"
    labels.write_text("playing guitar\n")
    args = [
        f"--labels={labels}",
        f"--output={tmp_path / 'corpus.json'}",
        "--llm-url=http://llm.example.com/v1",
        "--llm-model=m",
        "--llm-api-key-env=ALT_JAX_TEST_KEY",
        f"--llm-cache-dir={tmp_path / 'cache'}",
        "--llm-max-attempts=1",
    ]
    with pytest.raises(SystemExit) as info:
        tool.main([*args, f"--wordnet-dir={tmp_path / 'no-wordnet'}"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("build_corpus: error: Refusing to send the API key")
    assert "--llm-allow-insecure-http" in err[0] and not opener.requests
    with pytest.raises(SystemExit) as info:
        tool.main([*args, "--llm-allow-insecure-http"])
    assert info.value.code == 1
    assert "cannot reach http://llm.example.com/v1" in capsys.readouterr().err
    assert opener.requests == [
        {"url": "http://llm.example.com/v1/chat/completions", "authorization": "Bearer sk-plain"}
    ]
    assert not (tmp_path / "corpus.json").exists()
