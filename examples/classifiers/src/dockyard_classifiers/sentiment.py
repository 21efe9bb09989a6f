"""`KeywordSentiment`: a `Classifier` that counts positive and negative words."""

from __future__ import annotations

import re

from dockyard import Config
from dockyard.plugins import PluginRequest
from dockyard_classifiers.types import Classifier, ClassifyInput, ClassifyOutput

_WORD = re.compile(r"[a-z']+")


class KeywordSentiment(Classifier):
    """Labels a text positive, negative or neutral by counting keywords."""

    class Config(Config):
        """The keywords (lower case)."""

        positive: tuple[str, ...] = ("good", "great", "lovely", "excellent", "tasty", "friendly")
        negative: tuple[str, ...] = ("bad", "awful", "slow", "cold", "rude", "terrible")

    def run(self, request: PluginRequest[ClassifyInput]) -> ClassifyOutput:
        words = _WORD.findall(request.data.text.lower())
        positive = sum(word in self.config.positive for word in words)
        negative = sum(word in self.config.negative for word in words)
        total = positive + negative
        if total == 0:
            return ClassifyOutput(label="neutral", score=1.0, scores={"neutral": 1.0})
        scores = {"positive": positive / total, "negative": negative / total}
        label = max(scores, key=lambda name: (scores[name], name == "positive"))
        return ClassifyOutput(label=label, score=scores[label], scores=scores)
