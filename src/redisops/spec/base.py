"""The base of every spec model: unknown keys are errors, values are frozen."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["SpecModel"]


class SpecModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)
