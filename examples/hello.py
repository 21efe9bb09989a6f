"""The seed example: a package with one GET and one POST endpoint.

Run it in-process::

    dockyard invoke examples/hello.py:MyPackage say_hello name=Ted
"""

from dockyard import Config, PackageService, get, post


class MyPackage(PackageService):
    """Says hello, and does something."""

    class Config(Config):
        """How the package greets."""

        greeting: str = "Hello"

    @get("say_hello")
    def say_hello(self, name: str = "World") -> str:
        """Greet someone by name."""
        return f"{self.config.greeting}, {name}!"

    @post("do_something")
    def do_something(self, times: int = 1) -> dict[str, int]:
        """Do something a number of times and report how many."""
        return {"done": times}
