"""The `Classifier` plugin type: ``POST /classify``, a text -> a label with a score."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dockyard.plugins import PluginService


class ClassifyInput(BaseModel):
    """A text to classify."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, description="The text.")


class ClassifyOutput(BaseModel):
    """The winning label, its score, and every label's score."""

    model_config = ConfigDict(extra="forbid")

    label: str
    score: float = Field(ge=0.0, le=1.0)
    scores: dict[str, float]

    @model_validator(mode="after")
    def _label_is_scored(self) -> ClassifyOutput:
        if self.label not in self.scores:
            raise ValueError(f"label {self.label!r} has no score in scores")
        return self


class Classifier(PluginService[ClassifyInput, ClassifyOutput], route="classify"):
    """Puts a text in one of a few classes."""
