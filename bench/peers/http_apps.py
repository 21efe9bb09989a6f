"""The apps and servers ``bench/http.py`` runs beside ``dockyard serve``.

This module lives in ``bench/peers/`` rather than next to ``bench/http.py`` because
the servers put the app's directory on ``sys.path``, and a ``bench/http.py`` there
would shadow the standard library's ``http`` package.

Every app answers ``POST /my-package/my-package/do_something`` with a JSON body
``{"times": <int>}`` (default 1) by ``{"done": <times>}``, the work of the seed
example's ``do_something`` (``examples/hello.py``):

- `flask_app`: a bare Flask handler: parse the JSON body, check ``times`` is an int
  (422 otherwise), answer with ``jsonify``. No auth, no instances.
- `fastapi_app`: FastAPI, the body a pydantic model, an ``async def`` handler (no
  threadpool hop: FastAPI's fastest form for a handler that does no I/O).
- `dockyard_app`: Dockyard's own app, built exactly as ``dockyard serve`` builds it in
  a worker (`dockyard.server.serve.build_app`), from ``$DOCKYARD_HOME`` and
  ``$BENCH_DOCKYARD_TARGET`` (``examples/hello.py:MyPackage`` by default) -- a factory
  for granian (``--factory``).

Run under Dockyard's own gunicorn configuration (the ``_Gunicorn`` application of
``dockyard.server.serve``, so the settings are the same by construction: gthread,
threads, keep-alive, access log)::

    python bench/peers/http_apps.py flask --port 8001
    python bench/peers/http_apps.py dockyard --port 8002 --home DIR --cache-size 1024 --stats

(``--threads N`` overrides the threads per worker, for experiments.)

``--stats`` adds ``GET /__bench__/stats`` to the Dockyard app: ``{"pid", "cached",
"objects"}``, the worker's process id, how many live instances its cache holds, and how
many objects the garbage collector tracks.
"""

from __future__ import annotations

import argparse
import gc
import os
from typing import Any

from fastapi import FastAPI
from flask import Flask, Response, jsonify, request
from pydantic import BaseModel

PATH = "/my-package/my-package/do_something"
DEFAULT_TARGET = "examples/hello.py:MyPackage"


def flask_app() -> Flask:
    """The bare Flask app: the same JSON work as ``do_something``, nothing else."""
    app = Flask("bare")

    @app.post(PATH)
    def do_something() -> Response | tuple[Response, int]:
        body = request.get_json()
        times = body.get("times", 1) if isinstance(body, dict) else None
        if not isinstance(times, int) or isinstance(times, bool):
            return jsonify({"error": "times must be an integer"}), 422
        return jsonify({"done": times})

    return app


class Body(BaseModel):
    """``do_something``'s arguments."""

    times: int = 1


fastapi_app = FastAPI()


@fastapi_app.post(PATH)
async def do_something(body: Body) -> dict[str, int]:
    """The same JSON work as the seed's ``do_something``."""
    return {"done": body.times}


def dockyard_app(*, cache_size: int | None = None, stats: bool = False) -> Any:
    """Dockyard's WSGI app as a ``dockyard serve`` worker builds it.

    :param cache_size: live instances cached (default ``$BENCH_CACHE_SIZE`` or 1024).
    :param stats: add ``GET /__bench__/stats`` (worker pid, cached instance count).
    """
    from dockyard.server.serve import ServeOptions, build_app

    options = ServeOptions(
        targets=(os.environ.get("BENCH_DOCKYARD_TARGET", DEFAULT_TARGET),),
        home=os.environ.get("DOCKYARD_HOME", ".dockyard"),
        cache_size=cache_size or int(os.environ.get("BENCH_CACHE_SIZE", "1024")),
    )
    app = build_app(options)
    if stats:
        runtime = app.extensions["dockyard.runtime"]

        @app.get("/__bench__/stats")
        def bench_stats() -> Response:
            return jsonify(
                {"pid": os.getpid(), "cached": runtime.cached(), "objects": len(gc.get_objects())}
            )

    return app


def dockyard_stats_app() -> Any:
    """`dockyard_app` with ``/__bench__/stats`` (a granian ``--factory`` target; the cache
    size from ``$BENCH_CACHE_SIZE``)."""
    return dockyard_app(stats=True)


def main() -> None:
    """Serve the bare Flask app or Dockyard's app under Dockyard's gunicorn settings."""
    from dockyard.server.serve import ServeOptions, _Gunicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("app", choices=("flask", "dockyard"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--home", default=os.environ.get("DOCKYARD_HOME", ".dockyard"))
    parser.add_argument("--target", default=DEFAULT_TARGET)
    parser.add_argument("--cache-size", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=ServeOptions.threads)
    parser.add_argument("--stats", action="store_true")
    args = parser.parse_args()
    os.environ["DOCKYARD_HOME"] = args.home
    os.environ["BENCH_DOCKYARD_TARGET"] = args.target

    class Server(_Gunicorn):  # type: ignore[misc]
        def load(self) -> Any:
            if args.app == "flask":
                return flask_app()
            return dockyard_app(cache_size=args.cache_size, stats=args.stats)

    Server(
        ServeOptions(
            targets=(args.target,),
            port=args.port,
            home=args.home,
            cache_size=args.cache_size,
            threads=args.threads,
        )
    ).run()


if __name__ == "__main__":
    main()
