"""`disco-pyserini serve` as a client meets it: a real server process on 127.0.0.1.

The same server answers every test of this module: its JSON API against the library's own
explanations, 200 concurrent requests against the same requests made one at a time, and bad
requests, after each of which it must still answer.
"""

from __future__ import annotations

import json
import random
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from disco_pyserini.cli import build_parser, main
from disco_pyserini.io.topics import read_topics
from disco_pyserini.pipeline.demo import sample_path
from live_server import LiveServer, build_sample_index, percentile

pytestmark = [pytest.mark.java, pytest.mark.slow]

LIMITS = {"max_turns": 8, "max_characters": 3000, "max_hits": 50}
LOAD_REQUESTS = 200
LOAD_CONCURRENCY = 16


@pytest.fixture(scope="module")
def index(tmp_path_factory, tiny_encoder):
    return build_sample_index(tmp_path_factory.mktemp("serve"), tiny_encoder)


@pytest.fixture(scope="module")
def server(index, tiny_model):
    live = LiveServer(["--index", str(index), "--model", tiny_model, "--topics", sample_path("topics.jsonl"),
                       "--max-turns", str(LIMITS["max_turns"]), "--max-characters", str(LIMITS["max_characters"]),
                       "--max-hits", str(LIMITS["max_hits"])])
    yield live
    assert live.stop() == 0, "".join(live.stderr[-20:])  # stops cleanly on Ctrl-C, Java and all


def topic_body(topic, **extra):
    return {"conversation": [list(pair) for pair in topic.conversation], **extra}


def test_listens_on_loopback_by_default(server):
    assert server.url.startswith("http://127.0.0.1:")
    assert build_parser().parse_args(["serve", "--demo"]).host == "127.0.0.1"


def test_health_and_openapi_schema(server, tiny_model):
    status, health = server.json("/health")
    assert status == 200 and health["status"] == "ok"
    assert health["documents"] == 155 and health["passages"] == 155
    assert health["models"] == [tiny_model] and health["modes"] == ["raw", "disco", "rewrite"]
    assert {k: health["limits"][k] for k in LIMITS} == LIMITS
    status, schema = server.json("/openapi.json")
    assert status == 200 and schema["openapi"].startswith("3.")
    assert {"/search", "/explain", "/health", "/examples"} <= set(schema["paths"])
    for path in ("/search", "/explain"):
        responses = schema["paths"][path]["post"]["responses"]
        assert {"200", "400", "413", "422"} <= set(responses)
    # no request field can name a file: the server alone chooses index, models and collection
    requests = {name: set(schema["components"]["schemas"][name]["properties"])
                for name in ("SearchRequest", "ExplainRequest")}
    assert requests == {"SearchRequest": {"conversation", "rewrite", "modes", "model", "k"},
                        "ExplainRequest": {"conversation", "rewrite", "mode", "model", "k", "doc_ids"}}
    status, examples = server.json("/examples")
    assert status == 200 and len(examples) == 50 and examples[0]["qid"] == "1_1"


def test_the_page_and_its_files_are_served(server):
    status, page = server.request("/")
    assert status == 200 and b"<title>disco-pyserini" in page and b'src="static/app.js"' in page
    for name in ("app.js", "style.css"):
        status, content = server.request(f"/static/{name}")
        assert status == 200 and len(content) > 1000


@pytest.fixture(scope="module")
def reference(index, tiny_model):
    """The library's own explanations, in this process: what the server must answer."""
    from disco_pyserini.search.explain import Explainer

    explainer = Explainer(str(index), tiny_model)
    yield explainer
    explainer.close()


def test_search_answers_the_librarys_explanations(server, reference):
    topic = read_topics(sample_path("topics.jsonl"))[7]  # 2_3: two earlier turns with answers
    status, answer = server.json("/search", topic_body(topic, rewrite=topic.rewrite, k=5))
    assert status == 200 and answer["k"] == 5
    assert [r["mode"] for r in answer["results"]] == ["raw", "disco", "rewrite"]
    for result in answer["results"]:
        expected = reference.explain(topic.conversation, result["mode"], k=5, rewrite=topic.rewrite).to_json()
        shown = {**result, "hits": [{k: v for k, v in hit.items() if k not in ("text", "highlights")}
                                    for hit in result["hits"]], "index": expected["index"]}
        assert shown == expected
        for hit in result["hits"]:
            assert sum(t["contribution"] for t in hit["terms"]) == hit["dot_product"] == round(hit["score"])
            matched = {t["term"] for t in hit["terms"]}
            assert hit["text"] and hit["highlights"]
            for start, end, term in hit["highlights"]:  # each highlighted stretch is a matched term
                assert term in matched
                assert hit["text"][start:end].lower() == term.removeprefix("##")
            # and every token of the passage that is a matched term is highlighted
            tokenizer = reference.encoding.splade.tokenizer
            encoded = tokenizer(hit["text"], add_special_tokens=False, return_offsets_mapping=True)
            tokens = tokenizer.convert_ids_to_tokens(encoded["input_ids"])
            assert hit["highlights"] == [[start, end, token] for token, (start, end)
                                         in zip(tokens, encoded["offset_mapping"]) if token in matched]
    status, without_rewrite = server.json("/search", topic_body(topic, k=5))
    assert [r["mode"] for r in without_rewrite["results"]] == ["raw", "disco"]  # rewrite only when typed


def test_explain_endpoint_explains_documents_asked_for(server, reference):
    topic = read_topics(sample_path("topics.jsonl"))[12]
    status, answer = server.json("/explain", topic_body(topic, mode="raw", k=3, doc_ids=["tea-01"]))
    assert status == 200
    assert answer == reference.explain(topic, "raw", k=3, doc_ids=["tea-01"]).to_json() | {"query_id": None}
    assert answer["hits"][-1]["doc_id"] == "tea-01" or "tea-01" in [h["doc_id"] for h in answer["hits"][:3]]


def load_bodies():
    """Mixed requests: each conversation at each of its depths, with and without a rewrite, in
    different modes and with different k, to /search and /explain."""
    topics = read_topics(sample_path("topics.jsonl"))
    rng = random.Random(15)
    bodies = []
    for number, topic in enumerate(topics):
        if number % 2 == 0:
            bodies.append(("/search", topic_body(topic, rewrite=topic.rewrite, k=rng.choice([3, 10, 20]))))
        elif number % 4 == 1:
            bodies.append(("/search", topic_body(topic, modes=["disco"], k=rng.choice([5, 10]))))
        else:
            bodies.append(("/explain", topic_body(topic, mode=rng.choice(["raw", "disco"]), k=rng.choice([1, 10]),
                                                  doc_ids=[rng.choice(["bees-01", "tea-03", "run-02"])])))
    return bodies


def test_concurrent_requests_answer_as_sequential_ones(server, capsys):
    bodies = load_bodies()
    sequential, alone = {}, []
    for number, (path, body) in enumerate(bodies):
        started = time.perf_counter()
        status, content = server.request(path, body)
        alone.append(time.perf_counter() - started)
        assert status == 200, content[:300]
        sequential[number] = content
    rng = random.Random(200)
    plan = [rng.randrange(len(bodies)) for _ in range(LOAD_REQUESTS)]

    def one(number):
        path, body = bodies[number]
        started = time.perf_counter()
        status, content = server.request(path, body, timeout=300)
        return number, status, content, time.perf_counter() - started

    started = time.perf_counter()
    with ThreadPoolExecutor(LOAD_CONCURRENCY) as pool:
        answers = list(pool.map(one, plan))
    elapsed = time.perf_counter() - started
    errors = [(number, status, content[:200]) for number, status, content, _ in answers if status != 200]
    assert not errors
    differing = [number for number, _, content, _ in answers if content != sequential[number]]
    assert not differing, f"{len(differing)} answers differ from the sequential ones"
    latencies = [seconds for *_, seconds in answers]
    with capsys.disabled():
        print(f"\nload: {LOAD_REQUESTS} requests ({len(bodies)} different), {LOAD_CONCURRENCY} at a time: "
              f"{elapsed:.1f} s, {LOAD_REQUESTS / elapsed:.1f} requests/s, latency p50 "
              f"{percentile(latencies, 0.5):.3f} s, p95 {percentile(latencies, 0.95):.3f} s, "
              f"max {max(latencies):.3f} s; one at a time: p50 {percentile(alone, 0.5):.3f} s, "
              f"p95 {percentile(alone, 0.95):.3f} s")


GOOD = {"conversation": [["How do honeybees find food?", "They dance."], ["How far do they fly?", None]]}
TOO_MANY_TURNS = [[f"question {i}?", "answer."] for i in range(LIMITS["max_turns"])] + [["last?", None]]
BAD_REQUESTS = [
    # (name, path, JSON body or raw bytes, status, error code, words of the message)
    ("malformed JSON", "/search", b'{"conversation": [["q", null]', 400, "invalid_json", "not valid JSON"),
    ("not an object", "/search", b"[1, 2]", 422, "invalid_request", "valid dictionary"),
    ("no conversation", "/search", {}, 422, "invalid_request", "conversation: Field required"),
    ("conversation is text", "/search", {"conversation": "hello"}, 422, "invalid_request", "conversation"),
    ("question is a number", "/search", {"conversation": [[5, None]]}, 422, "invalid_request", "valid string"),
    ("answer is true", "/search", {"conversation": [["q?", True], ["q2?", None]]}, 422, "invalid_request",
     "valid string"),
    ("a turn of three", "/search", {"conversation": [["q?", "a", "b"]]}, 422, "invalid_request", "at most 2 items"),
    ("k is text", "/search", {**GOOD, "k": "10"}, 422, "invalid_request", "k: Input should be a valid integer"),
    ("unknown field", "/search", {**GOOD, "index": "/etc"}, 422, "invalid_request", "index: Extra inputs"),
    ("empty conversation", "/search", {"conversation": []}, 422, "invalid_request", "has no turns"),
    ("last turn answered", "/search", {"conversation": [["q?", "an answer"]]}, 422, "invalid_request",
     "already has an answer"),
    ("blank question", "/search", {"conversation": [["  ", None]]}, 422, "invalid_request", "no question text"),
    ("too many turns", "/search", {"conversation": TOO_MANY_TURNS}, 413, "too_large", "at most 8"),
    ("too many characters", "/search", {"conversation": [["word " * 700, None]]}, 413, "too_large",
     "at most 3000"),
    ("body too large", "/search", {"conversation": [["q?", None]], "rewrite": "x" * 200_000}, 413, "too_large",
     "request body is over"),
    ("k zero", "/search", {**GOOD, "k": 0}, 422, "invalid_request", "between 1 and 50"),
    ("k over the limit", "/search", {**GOOD, "k": 51}, 422, "invalid_request", "between 1 and 50"),
    ("unknown mode", "/search", {**GOOD, "modes": ["bm25"]}, 422, "invalid_request", "modes.0"),
    ("mode not served", "/explain", {**GOOD, "mode": "history"}, 422, "invalid_request", "this server searches"),
    ("rewrite without one", "/search", {**GOOD, "modes": ["rewrite"]}, 422, "invalid_request", "needs a rewrite"),
    ("unknown model", "/search", {**GOOD, "model": "bert-base"}, 422, "invalid_request", "unknown model"),
    ("model is a path", "/search", {**GOOD, "model": "/etc/passwd"}, 422, "invalid_request", "unknown model"),
    ("unknown document", "/explain", {**GOOD, "doc_ids": ["no-such-doc"]}, 422, "invalid_request",
     "not in the index"),
    ("too many documents", "/explain", {**GOOD, "doc_ids": ["bees-01"] * 21}, 413, "too_large", "at most 20"),
    ("lone surrogate in a question", "/search", b'{"conversation": [["bees \\ud800?", null]]}', 422,
     "invalid_request", "lone surrogate"),
    ("lone surrogate in a rewrite", "/search", b'{"conversation": [["q?", null]], "rewrite": "\\udc00"}', 422,
     "invalid_request", "lone surrogate"),
    ("no such page", "/nowhere", None, 404, "not_found", "Not Found"),
    ("wrong method", "/search", "GET", 405, "method_not_allowed", "Method Not Allowed"),
]


@pytest.mark.parametrize(("path", "body", "status", "code", "words"), [case[1:] for case in BAD_REQUESTS],
                         ids=[case[0] for case in BAD_REQUESTS])
def test_bad_requests_get_a_json_error_and_the_server_keeps_serving(server, path, body, status, code, words):
    if body == "GET":
        got, content = server.request(path, method="GET")
    elif isinstance(body, bytes):
        got, content = server.request(path, raw=body)
    else:
        got, content = server.request(path, body)
    error = json.loads(content)["error"]
    assert (got, error["status"], error["code"]) == (status, status, code), error
    assert words in error["message"], error["message"]
    assert "\n" not in error["message"] and "Traceback" not in error["message"]
    assert server.json("/health")[0] == 200
    assert server.json("/search", {**GOOD, "k": 2})[0] == 200


def test_a_body_streamed_without_its_length_is_cut_off_at_the_limit(server):
    """Chunked transfer: no Content-Length to refuse by; the body is counted as it arrives."""
    import http.client
    from urllib.parse import urlsplit

    address = urlsplit(server.url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=120)
    chunks = [b'{"conversation": [["q?", null]], "rewrite": "'] + [b"x" * 10_000] * 20 + [b'"}']
    connection.request("POST", "/search", body=iter(chunks), headers={"Content-Type": "application/json"},
                       encode_chunked=True)
    response = connection.getresponse()
    error = json.loads(response.read())["error"]
    connection.close()
    assert (response.status, error["code"]) == (413, "too_large") and "request body is over" in error["message"]
    assert server.json("/health")[0] == 200


def test_the_command_line_loads_no_web_framework_to_parse_its_options():
    import subprocess
    import sys

    code = ("import sys; from disco_pyserini.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('fastapi', 'uvicorn', 'torch', 'jnius') if m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "[]"


def test_the_server_survives_the_bad_requests_unchanged(server, reference):
    status, answer = server.json("/explain", {**GOOD, "k": 4})
    assert status == 200 and answer == reference.explain(GOOD["conversation"], "disco", k=4).to_json()


def test_serve_demo_without_the_demo_says_how_to_build_it(tmp_path, capsys):
    assert main(["-q", "serve", "--demo", "--output", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert "make demo" in error and len(error.strip().splitlines()) == 1


@pytest.mark.parametrize(("body", "field"), [
    (b'{"conversation": [["q?", "a"], ["bees \\ud800?", null]]}', "conversation.1.0"),
    (b'{"conversation": [["q?", "an \\udfff answer"], ["more?", null]]}', "conversation.0.1"),
    (b'{"conversation": [["q?", null]], "rewrite": "\\ud800"}', "rewrite"),
    (b'{"conversation": [["q?", null]], "doc_ids": ["\\ud800"]}', "doc_ids.0"),
])
def test_a_lone_surrogate_is_refused_naming_its_field(server, body, field):
    path = "/explain" if b"doc_ids" in body else "/search"
    status, content = server.request(path, raw=body)
    error = json.loads(content)["error"]
    assert (status, error["field"]) == (422, field), error


def raw_http(server, path, host, method="GET"):
    """``(status, body)`` of a request whose Host header is ``host`` (a rebound name sends its own)."""
    import http.client
    from urllib.parse import urlsplit

    address = urlsplit(server.url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=120)
    body = json.dumps(GOOD).encode() if method == "POST" else None
    connection.putrequest(method, path, skip_host=True)
    connection.putheader("Host", host)
    if body is not None:
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(len(body)))
    connection.endheaders(body)
    response = connection.getresponse()
    answer = response.status, response.read()
    connection.close()
    return answer


@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:{port}", "127.0.0.1.attacker.example",
                                  "localhost.attacker.example:{port}", "10.0.0.1:{port}", ""])
@pytest.mark.parametrize(("method", "path"), [("POST", "/search"), ("GET", "/health"), ("GET", "/")])
def test_a_rebound_host_name_is_refused(server, host, method, path):
    """DNS rebinding: a page of attacker.example whose name now resolves to 127.0.0.1 sends its own
    name in Host; the server bound to loopback answers only loopback names."""
    from urllib.parse import urlsplit

    status, content = raw_http(server, path, host.format(port=urlsplit(server.url).port), method)
    assert status == 400, content[:200]
    error = json.loads(content)["error"]
    assert error["code"] == "invalid_host" and "--host" in error["message"]


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST:{port}", "[::1]:{port}",
                                  "127.0.0.1", "localhost"])
def test_loopback_host_names_are_served(server, host):
    from urllib.parse import urlsplit

    status, content = raw_http(server, "/search", host.format(port=urlsplit(server.url).port), "POST")
    assert status == 200 and json.loads(content)["results"]


def test_health_answers_while_searches_queue(server):
    """40 of the heaviest searches at once (every mode, the most hits) fill the server's request threads;
    /health must not wait behind them. A bound on a blocked endpoint, not a speed measurement:
    /health does no work."""
    heavy = {**GOOD, "rewrite": "How far do honeybees fly?", "k": LIMITS["max_hits"]}
    with ThreadPoolExecutor(40) as pool:
        searches = [pool.submit(server.json, "/search", heavy, timeout=600) for _ in range(40)]
        time.sleep(0.5)  # let them reach the server
        assert not all(search.done() for search in searches), "the searches ended before /health was asked"
        status, health = server.json("/health", timeout=1)  # raises on a timeout
        assert status == 200 and health["status"] == "ok"
        assert not all(search.done() for search in searches)
        assert all(search.result()[0] == 200 for search in searches)
