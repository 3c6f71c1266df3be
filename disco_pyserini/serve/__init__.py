"""``disco-pyserini serve``: explore conversations in the browser, over one index and its query models.

A person types a conversation turn by turn (pasting an answer to each earlier turn if they like),
and the page shows, side by side for the ``raw``, ``disco`` and ``rewrite`` modes (``rewrite``
when a rewrite is typed): the text each mode's query model reads, coloured by where it comes from,
its heaviest terms with their weights and origins, and the hits, with their matched terms
highlighted in the passage and each hit's contributions (query weight × document weight) on
demand (:mod:`disco_pyserini.search.explain` computes them). Programs use the same JSON API
(``POST /search``, ``POST /explain``, ``GET /health``, schema at ``/openapi.json``).

The page is three static files (``static/``: HTML, CSS, plain JavaScript), so nothing is built
to run it and it works without network. The application is FastAPI (:mod:`.app`) on uvicorn; the
search runs in :mod:`.backend`, which serialises what is unsafe across threads (Java calls, each
model's tokenizer and encoder). The server listens on 127.0.0.1 unless told otherwise: it has no
authentication, and anyone who can reach it can make it compute. It answers only requests whose
``Host`` header names it (loopback names on loopback, the ``--host`` given otherwise), so a web
page whose own name was rebound to 127.0.0.1 cannot read its answers (DNS rebinding).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from typing import Any

from .backend import DEFAULT_MODES, SERVE_MODES, Backend, Limits, RequestError

logger = logging.getLogger(__name__)

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def url_of(host: str, port: int) -> str:
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def run_server(backend: Backend, host: str = "127.0.0.1", port: int = 8000, *,
               announce: Callable[[str], Any] = print) -> None:
    """Serve ``backend`` until interrupted (Ctrl-C, SIGTERM); ``announce`` gets the address once
    the socket listens (with ``port=0`` the system picks the port; the address says which)."""
    import uvicorn

    from .app import allowed_hosts, create_app

    if host not in LOOPBACK:
        logger.warning("listening on %s: anyone who can reach this machine can use the server, which has no "
                       "authentication; use --host 127.0.0.1 unless you mean it", host)

    class Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            if not self.should_exit:
                bound = [sock.getsockname() for server in self.servers for sock in server.sockets]
                announce(url_of(str(bound[0][0]), int(bound[0][1])) if bound else url_of(host, port))

    hosts = allowed_hosts(host)
    if hosts is None:
        logger.warning("listening on every address (%s): requests are answered whatever name they give the server "
                       "(no protection against DNS rebinding)", host or "all")
    config = uvicorn.Config(create_app(backend, hosts=hosts), host=host, port=port, log_level="warning",
                            access_log=False, timeout_graceful_shutdown=10)
    Server(config).run()


def serve(index: str, models: list[str], *, host: str = "127.0.0.1", port: int = 8000, **options: Any) -> None:
    """Build the :class:`Backend` (``options`` are its keywords) and serve it until Ctrl-C or
    SIGTERM, then close it and return.

    uvicorn shuts down gracefully on either signal and then raises it again for whoever handled it
    before; here that is a handler that ends :func:`serve` normally, so a stopped server exits 0.
    """
    backend = Backend(index, models, **options)
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        run_server(backend, host, port, announce=lambda url: print(f"serving {url} (Ctrl-C stops)", flush=True))
    except KeyboardInterrupt:
        pass
    finally:
        backend.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    print("stopped", flush=True)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


__all__ = ["Backend", "Limits", "RequestError", "SERVE_MODES", "DEFAULT_MODES", "run_server", "serve", "url_of"]
