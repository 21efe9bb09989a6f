"""`ReviewDesk`: a package that classifies reviews with the ``keyword-sentiment`` plugin."""

from __future__ import annotations

from typing import Any

from dockyard import Config, PackageService, get, post


class ReviewDesk(PackageService):
    """Classifies reviews and keeps a tally per label."""

    class Config(Config):
        """Extra positive words for the sentiment plugin."""

        also_positive: tuple[str, ...] = ()

    @post("review")
    def review(self, text: str) -> dict[str, Any]:
        """Classify one review and count it."""
        words = {"positive": ["good", "great", "lovely", "tasty", *self.config.also_positive]}
        sentiment = self.use_plugin("keyword-sentiment", config=words)
        result = sentiment.run({"text": text})
        self.storage.update(result.label, lambda n: n + 1, default=0)
        return {"label": result.label, "score": result.score}

    @get("tally")
    def tally(self) -> dict[str, int]:
        """How many reviews got each label."""
        return dict(self.storage.items())
