"""The web application: a static page and a JSON API over a :class:`~disco_pyserini.serve.backend.Backend`.

FastAPI (on Starlette) validates requests against the models below and writes the OpenAPI schema
(``/openapi.json``) from them. Its interactive documentation pages load their scripts from a CDN,
which a machine without network cannot reach, so they are switched off; the schema is all there.

Every error is JSON, ``{"error": {"status", "code", "message", "field"}}``, with a 4xx status
for what the client can fix: 400 for a body that is not JSON or a ``Host`` that is not the server's
(DNS rebinding, see :class:`HostCheck`), 413 for a request over a limit
(body bytes, turns, characters, documents), 422 for a request that breaks a rule (wrong types, an
empty conversation, a last turn with an answer, an unknown mode or model, ``k`` out of range).
Nothing a client sends names a file: the index, the models, the collection and the examples are
chosen by whoever starts the server.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from importlib import resources
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr
from starlette.exceptions import HTTPException as StarletteHTTPException

from .backend import Backend, RequestError

logger = logging.getLogger(__name__)

Mode = Literal["raw", "disco", "history", "rewrite"]
Origin = Literal["question", "earlier_question", "earlier_answer", "rewrite", "expansion"]
Pair = tuple[StrictStr, StrictStr | None]  # strict: no number or boolean passes for text


# -- requests -------------------------------------------------------------------------------------------
class RequestModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SearchRequest(RequestModel):
    """A conversation as topics files write it: ``[question, answer]`` pairs, oldest first, the
    current question last with answer ``null``."""

    conversation: list[Pair] = Field(description="[[question, answer], ..., [current question, null]]",
                                     examples=[[["How do honeybees find food?", "They dance."],
                                                ["How far do they fly?", None]]])
    rewrite: StrictStr | None = Field(None, description="the current question rewritten to stand alone (mode rewrite)")
    modes: list[Mode] | None = Field(None, description="default: every mode of the server, rewrite only when a "
                                                       "rewrite is given")
    model: StrictStr | None = Field(None, description="a query model of the server (GET /health); default: the first")
    k: StrictInt = Field(10, description="hits per mode (at most the server's max_hits)")


class ExplainRequest(RequestModel):
    conversation: list[Pair] = Field(description="[[question, answer], ..., [current question, null]]")
    rewrite: StrictStr | None = None
    mode: Mode = "disco"
    model: StrictStr | None = None
    k: StrictInt = 10
    doc_ids: list[StrictStr] = Field([], description="documents to explain too, wherever they rank")


# -- answers ---------------------------------------------------------------------------------------------
class SegmentModel(BaseModel):
    origin: Origin
    turn: int | None = Field(description="1 for the first turn; null for a rewrite")
    start: int
    end: int


class QueryModel(BaseModel):
    text: str = Field(description="the text the query model reads (before truncation)")
    segments: list[SegmentModel]
    input_tokens: int
    truncated: bool
    kept_characters: int = Field(description="text[:kept_characters] reaches the model")


class QueryTermModel(BaseModel):
    term: str
    weight: int
    origin: Origin
    found_in: list[tuple[Origin, int | None]]


class ContributionModel(BaseModel):
    term: str
    query_weight: int
    document_weight: int
    contribution: int = Field(description="query_weight × document_weight")
    origin: Origin


class HitModel(BaseModel):
    rank: int | None
    doc_id: str
    score: float | None = Field(description="Anserini's score (null for a document asked for outside the top k)")
    dot_product: int = Field(description="the sum of the contributions")
    exact: bool = Field(description="dot_product is the integer behind Lucene's score")
    terms: list[ContributionModel] = Field(description="the matched terms, largest contribution first")


class ExplanationModel(BaseModel):
    query_id: str | None
    mode: Mode | str
    model: str
    index: str
    k: int
    query: QueryModel
    terms: list[QueryTermModel] = Field(description="every query term, heaviest first")
    hits: list[HitModel]
    exact: bool


class ShownHitModel(HitModel):
    text: str | None = Field(description="the passage (null when the server has no collection)")
    highlights: list[tuple[int, int, str]] = Field(description="[start, end, term] of each matched token")


class ModeResultModel(ExplanationModel):
    hits: list[ShownHitModel]  # type: ignore[assignment]


class SearchResponse(BaseModel):
    model: str
    k: int
    results: list[ModeResultModel]


class LimitsModel(BaseModel):
    max_turns: int
    max_characters: int
    max_hits: int
    max_doc_ids: int
    max_body_bytes: int


class HealthResponse(BaseModel):
    status: Literal["ok"]
    version: str
    index: str
    documents: int
    passages: int
    models: list[str]
    modes: list[str]
    limits: LimitsModel


class ExampleModel(BaseModel):
    qid: str
    conversation: list[Pair]
    rewrite: str | None


class ErrorBody(BaseModel):
    status: int
    code: str
    message: str
    field: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "the body is not JSON"},
    413: {"model": ErrorResponse, "description": "over a limit of the server (GET /health)"},
    422: {"model": ErrorResponse, "description": "a field is missing, of the wrong type or breaks a rule"},
}


def error_response(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"status": status, "code": code, "message": message, "field": field}},
                        status_code=status)


def _field(location: Any) -> str:
    return ".".join(str(part) for part in location if part != "body")


class BodyLimit:
    """ASGI middleware: refuse (413) a request body longer than ``max_bytes``, by its Content-Length
    or, when it streams in without one, as soon as it grows past the limit."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        message = f"the request body is over {self.max_bytes} bytes"
        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await error_response(413, "too_large", message)(scope, receive, send)
            return
        received = 0
        started = False

        async def limited_receive() -> Any:
            nonlocal received
            event = await receive()
            if event["type"] == "http.request":
                received += len(event.get("body", b""))
                if received > self.max_bytes:  # FastAPI passes HTTP exceptions raised while reading on
                    raise StarletteHTTPException(413, message)
            return event

        async def watched_send(event: Any) -> None:
            nonlocal started
            started = started or event["type"] == "http.response.start"
            await send(event)

        try:
            await self.app(scope, limited_receive, watched_send)
        except StarletteHTTPException as error:
            if started or error.status_code != 413:
                raise
            await error_response(413, "too_large", message)(scope, receive, send)


LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
ANY_ADDRESS = ("0.0.0.0", "::", "")


def allowed_hosts(host: str) -> frozenset[str] | None:
    """The names a request's ``Host`` header may give for a server listening on ``host``: loopback
    names for a loopback address, that address otherwise, or ``None`` (any) for every address."""
    if host in ANY_ADDRESS:
        return None
    if host.lower() in LOOPBACK_NAMES or host.startswith("127."):
        return frozenset({*LOOPBACK_NAMES, host.lower()})
    return frozenset({host.lower()})


def host_name(header: str) -> str:
    """The name of a ``Host`` header, without its port: ``[::1]:8000`` -> ``::1``."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:header.find("]")] if "]" in header else header
    name, _, port = header.rpartition(":")
    return name if name and port.isdigit() else header


class HostCheck:
    """ASGI middleware against DNS rebinding: a page of ``attacker.example`` whose name resolves to
    127.0.0.1 reaches a loopback server from the user's browser, but its requests carry ``Host:
    attacker.example``. Only the names of ``allowed`` are answered (400 otherwise)."""

    def __init__(self, app: Any, allowed: frozenset[str]) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            header = dict(scope.get("headers", [])).get(b"host", b"").decode("latin-1")
            if host_name(header) not in self.allowed:
                message = (f"Host {header!r} is not a name of this server ({', '.join(sorted(self.allowed))}); "
                           f"open it by one of those, or start it with --host NAME")
                await error_response(400, "invalid_host", message)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(backend: Backend, *, hosts: frozenset[str] | None = frozenset(LOOPBACK_NAMES),
               workers: int = 4) -> FastAPI:
    """The application serving ``backend``: the page at ``/``, the API beside it. ``hosts`` are the
    names a request's Host header may give (``None``: any, see :func:`allowed_hosts`).

    Searches and explanations run in a pool of ``workers`` threads of their own, so that however
    many queue there, ``/health``, the page and its files answer at once (they run on the event
    loop and in the framework's own threads)."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from ..io.metadata import package_version

    app = FastAPI(title="disco-pyserini", version=package_version(), docs_url=None, redoc_url=None,
                  description="Search one impact index with conversational query models, and see why each passage "
                              "was retrieved: its matched terms, query weight × document weight, and where each "
                              "query term came from.")
    app.state.backend = backend
    static = resources.files("disco_pyserini") / "serve" / "static"

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = error.errors()
        if any(problem.get("type") == "json_invalid" for problem in problems):
            detail = problems[0].get("ctx", {}).get("error", "")
            return error_response(400, "invalid_json", f"the body is not valid JSON ({detail})".replace(" ()", ""))
        first = problems[0]
        field = _field(first.get("loc", ()))
        message = "; ".join(f"{_field(p.get('loc', ())) or 'body'}: {p.get('msg')}" for p in problems[:5])
        if len(problems) > 5:
            message += f"; and {len(problems) - 5} more"
        return error_response(422, "invalid_request", message, field or None)

    @app.exception_handler(RequestError)
    async def refused(request: Request, error: RequestError) -> JSONResponse:
        code = "too_large" if error.status == 413 else "invalid_request"
        return error_response(error.status, code, error.message, error.field)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(error.status_code, "http_error")
        return error_response(error.status_code, code, str(error.detail))

    @app.exception_handler(Exception)
    async def failed(request: Request, error: Exception) -> JSONResponse:
        logger.exception("request %s %s failed", request.method, request.url.path)
        return error_response(500, "internal_error", f"the server failed on this request ({type(error).__name__}); "
                                                      f"its log says more")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(str(static / "index.html"), media_type="text/html")

    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.get("/health", response_model=HealthResponse, summary="the index, the models, the modes and the limits")
    async def health() -> dict[str, Any]:  # on the event loop: never behind queued searches
        return backend.health()

    @app.get("/examples", response_model=list[ExampleModel], summary="example turns chosen by the server")
    async def examples() -> list[dict[str, Any]]:
        return [{"qid": t.query_id, "conversation": [list(p) for p in t.conversation], "rewrite": t.rewrite}
                for t in backend.examples]

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="disco-request")
    app.router.on_shutdown.append(lambda: pool.shutdown(wait=False, cancel_futures=True))

    async def in_pool(work: Callable[[], dict[str, Any]]) -> Response:
        """``work`` in the request pool, its answer written to JSON there too. The answer is the
        library's own ``to_json``; the response models above document it (and ``/openapi.json``)
        without validating every answer again."""
        def answer() -> bytes:
            return json.dumps(work(), ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")

        return Response(await asyncio.get_running_loop().run_in_executor(pool, answer),
                        media_type="application/json")

    @app.post("/search", response_model=SearchResponse, responses=ERRORS,
              summary="search a conversation in each mode; every hit with its matched terms and passage")
    async def search(request: SearchRequest) -> Response:
        def work() -> dict[str, Any]:
            model = request.model or backend.models[0]
            modes = request.modes or [m for m in backend.modes if m != "rewrite" or request.rewrite]
            modes = list(dict.fromkeys(modes))
            topic = backend.check(request.conversation, request.rewrite, modes, model, request.k)
            results = backend.search(topic, modes, model, request.k)
            return {"model": model, "k": request.k, "results": [result.to_json() for result in results]}

        return await in_pool(work)

    @app.post("/explain", response_model=ExplanationModel, responses=ERRORS,
              summary="explain one mode's top k hits (and any document asked for), term by term")
    async def explain(request: ExplainRequest) -> Response:
        def work() -> dict[str, Any]:
            model = request.model or backend.models[0]
            topic = backend.check(request.conversation, request.rewrite, [request.mode], model, request.k,
                                  request.doc_ids)
            return backend.explain(topic, request.mode, model, request.k, request.doc_ids).to_json()

        return await in_pool(work)

    app.add_middleware(BodyLimit, max_bytes=backend.limits.max_body_bytes)
    if hosts is not None:
        app.add_middleware(HostCheck, allowed=hosts)
    return app
