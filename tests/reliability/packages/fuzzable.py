"""Packages served by the reliability suite besides the examples (a data file, loaded by
path by ``dockyard serve``).

- ``Shelf``: Dockyard's shipped ``file-importer`` and ``indexer`` mixins, composed.
- ``Kiosk``: a public route next to private ones, and arguments of many kinds (numbers
  with bounds, enums, literals, lists, mappings, optional values, a pydantic model), so
  the fuzzer reaches argument validation from every side.
"""

from __future__ import annotations

import enum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from dockyard import PackageService, compose, get, post

Shelf = compose(
    "shelf",
    mixins=["file-importer", "indexer"],
    # Hermetic: nothing the fuzzer sends makes the server fetch a URL.
    config={"file_importer": {"allow_http": False}},
    doc="Files and a search index: the shipped file-importer and indexer mixins.",
)


class Size(str, enum.Enum):
    """A drink size."""

    SMALL = "small"
    LARGE = "large"


class Order(BaseModel):
    """One order line."""

    item: str = Field(min_length=1, max_length=40)
    quantity: int = Field(default=1, ge=1, le=99)
    size: Size = Size.SMALL


#: A storage key as the kiosk takes it from callers (storage refuses "" and long keys).
Key = Annotated[str, Field(min_length=1, max_length=200)]


class Kiosk(PackageService):
    """A kiosk: public opening hours, private orders."""

    @get("hours", public=True)
    def hours(self, day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon") -> str:
        """When the kiosk is open (public: no key needed)."""
        return "closed" if day == "sun" else f"{day}: 08:00-18:00"

    @get("price")
    def price(
        self, size: Size = Size.SMALL, extra_shots: int = 0, discount: float = 0.0
    ) -> dict[str, float]:
        """The price of a drink."""
        base = 2.5 if size is Size.SMALL else 3.5
        return {"price": round(max(0.0, base + 0.5 * extra_shots - discount), 2)}

    @post("order")
    def order(self, lines: list[Order], note: str | None = None) -> dict[str, object]:
        """Place an order; stored in the instance's storage."""
        count = self.storage.update("orders", lambda n: n + 1, default=0)
        return {"order": count, "items": sum(line.quantity for line in lines), "note": note}

    @post("tally")
    def tally(self, counts: dict[str, int], weights: list[float] | None = None) -> float:
        """A weighted sum of counts."""
        values = list(counts.values())
        factors = weights or [1.0] * len(values)
        return float(sum(v * w for v, w in zip(values, factors, strict=False)))

    @get("average")
    def average(self, numbers: list[float]) -> float | None:
        """The mean of some numbers (a list in a query string travels as JSON text)."""
        return sum(numbers) / len(numbers) if numbers else None

    @post("pin")
    def pin(self, key: Key, value: Any = None) -> Any:
        """Pin any JSON value under a key in the instance's storage; returns what it replaced."""
        previous = self.storage.get(key)
        self.storage.set(key, value)
        return previous

    @get("pinned")
    def pinned(self, key: Key) -> Any:
        """The value pinned under a key (null if none)."""
        return self.storage.get(key)

    @post("echo_flags")
    def echo_flags(
        self, loud: bool = False, repeat: Annotated[int, Field(ge=1, le=5)] = 1
    ) -> list[str]:
        """Echo a word, loudly or not."""
        return ["HEY" if loud else "hey"] * repeat
