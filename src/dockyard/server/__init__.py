"""The HTTP server: a Flask app factory over the runtime (`create_app`)."""

from dockyard.server.app import create_app

__all__ = ["create_app"]
