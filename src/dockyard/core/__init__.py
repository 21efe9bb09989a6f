"""The composition engine: routes, specs, packages, mixins, config, requests and responses.

Nothing in here imports Flask, a database, or any other part of Dockyard.
"""
