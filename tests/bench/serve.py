"""The site (portal and sandboxes) served for a benchmark from its own process:

    python -m tests.bench.serve --port 8123

What ``manage.py runserver --noreload`` serves (Django's threaded development server, static
files included), with one difference: responses go out with TCP_NODELAY. The development server
writes a response's headers and body in two sends; with Nagle's algorithm on, the body waits for
the client's delayed ACK of the headers, about 40 ms a call on Linux, which no production server
or real API adds and which would be counted against the connector being measured."""

from __future__ import annotations

import argparse
import os


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core.servers.basehttp import ThreadedWSGIServer, get_internal_wsgi_application

    server = ThreadedWSGIServer((args.host, args.port), no_delay_request_handler())
    server.set_app(StaticFilesHandler(get_internal_wsgi_application()))
    print(f"serving on http://{args.host}:{args.port}", flush=True)
    server.serve_forever()


def no_delay_request_handler() -> type:
    """Django's request handler, logging like runserver, with Nagle's algorithm off."""
    from django.core.servers.basehttp import WSGIRequestHandler

    class Handler(WSGIRequestHandler):
        disable_nagle_algorithm = True

    return Handler


if __name__ == "__main__":
    main()
