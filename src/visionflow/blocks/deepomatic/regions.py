"""The Deepomatic data model: per entry image, a list of regions carrying typed concepts.

A region is the whole image (the entry's *default* region) or a box found by a detection
step. A concept is a named, typed value (Boolean, Text or Number) some step put on a
region. Both are immutable: a step returns new regions (``with_concept``), so branches
that run concurrently never see each other's changes, and the FlowContainer merges what
every step made by region id.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Any

from visionflow.data.image import WorkflowImage
from visionflow.kinds import register_kind

REGIONS_KIND = "deepomatic_regions"
register_kind(REGIONS_KIND, "the regions of one entry image, with their concepts (Deepomatic)")

# Deepomatic concept type -> the Python types its values may have.
CONCEPT_TYPES: dict[str, tuple[type, ...]] = {
    "Boolean": (bool,),
    "Text": (str,),
    "Number": (int, float),
}


@dataclass(frozen=True, slots=True)
class Concept:
    """A named, typed value on a region; ``step`` is the step that put it there.

    >>> Concept("face count", "Number", 2).to_dict()["value"]
    2
    """

    name: str
    type: str
    value: Any
    step: str = ""
    confidence: float | None = None
    predictions: tuple[dict[str, Any], ...] = ()  # a model's kept labels: {label, score}

    def __post_init__(self):
        check_concept_value(self.name, self.type, self.value)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "value": self.value,
            "confidence": self.confidence,
            "step": self.step,
            "predictions": [dict(p) for p in self.predictions],
        }


def check_concept_value(name: str, concept_type: str, value: Any) -> None:
    """Raise ValueError unless ``value`` is a value of the Deepomatic ``concept_type``."""
    if concept_type not in CONCEPT_TYPES:
        raise ValueError(
            f"concept '{name}' has type {concept_type!r}; types are {', '.join(CONCEPT_TYPES)}"
        )
    fits = isinstance(value, CONCEPT_TYPES[concept_type])
    if not fits or (concept_type == "Number" and isinstance(value, bool)):
        raise ValueError(
            f"concept '{name}' is a {concept_type} concept, but its value is "
            f"{type(value).__name__} {value!r}"
        )


# The concepts (name -> type) the custom step whose process() is running declares, so that
# add_concept fails there, at the line of the custom file that called it.
DECLARED_CONCEPTS: ContextVar[dict[str, str] | None] = ContextVar("declared", default=None)


@dataclass(frozen=True, slots=True)
class Region:
    """A region of an entry image: the whole image (``box`` None) or a box in its pixels."""

    entry: str
    region_id: str
    image: WorkflowImage = field(repr=False)  # the entry's image: crops are cut from it
    box: tuple[float, float, float, float] | None = None  # x_min, y_min, x_max, y_max
    created_by: str = ""
    parent_id: str | None = None
    concepts: tuple[Concept, ...] = ()

    @classmethod
    def default(cls, entry: str, image: WorkflowImage) -> Region:
        """The entry's default region: the whole image, with no concepts yet."""
        return cls(entry, entry, image, None, created_by=entry)

    @property
    def is_default(self) -> bool:
        return self.box is None

    def concept(self, name: str) -> Concept | None:
        """The latest concept of that name on this region, or None."""
        return next((c for c in reversed(self.concepts) if c.name == name), None)

    def with_concept(self, concept: Concept) -> Region:
        """A copy of this region that also carries ``concept``."""
        return replace(self, concepts=(*self.concepts, concept))

    def add_concept(
        self, name: str, value: Any, type: str | None = None, confidence: float | None = None
    ) -> Region:
        """``with_concept`` for custom steps: the type is the one the step declares for the
        name (inside its ``process``), else the one given, else guessed from the value."""
        declared = DECLARED_CONCEPTS.get()
        if declared is not None:
            if name not in declared:
                raise ValueError(
                    f"concept '{name}' is not declared by the step "
                    f"(declared: {', '.join(sorted(declared)) or 'none'})"
                )
            if type is not None and type != declared[name]:
                raise ValueError(f"concept '{name}' is declared as {declared[name]}, not {type}")
            type = declared[name]
        concept_type = type or guess_concept_type(value)
        return self.with_concept(Concept(name, concept_type, value, confidence=confidence))

    def crop(self) -> WorkflowImage:
        """The pixels of this region (the entry image itself for the default region)."""
        if self.box is None:
            return self.image
        x_min, y_min, x_max, y_max = (round(v) for v in self.box)
        return self.image.crop(x_min, y_min, x_max, y_max, crop_id=self.region_id)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``bbox`` is normalised to the entry image (0..1), as Deepomatic does."""
        return {
            "region_id": self.region_id,
            "entry": self.entry,
            "created_by": self.created_by,
            "parent_id": self.parent_id,
            "bbox": None if self.box is None else self._normalised_box(),
            "concepts": [concept.to_dict() for concept in self.concepts],
        }

    def _normalised_box(self) -> dict[str, float]:
        x_min, y_min, x_max, y_max = self.box or (0, 0, 0, 0)
        width, height = self.image.width, self.image.height
        return {
            "xmin": x_min / width,
            "ymin": y_min / height,
            "xmax": x_max / width,
            "ymax": y_max / height,
        }


def guess_concept_type(value: Any) -> str:
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int | float):
        return "Number"
    if isinstance(value, str):
        return "Text"
    raise ValueError(f"a concept value must be a bool, a number or a text, found {value!r}")


def flatten(region_lists: list[list[Region]]) -> list[Region]:
    """The regions of several inputs as one list, each region once (first seen wins)."""
    seen: set[str] = set()
    regions = []
    for group in region_lists:
        for region in group:
            if region.region_id not in seen:
                seen.add(region.region_id)
                regions.append(region)
    return regions


def merge_by_id(region_lists: list[list[Region]]) -> list[Region]:
    """One region per id, carrying every concept any of the lists put on it (in order)."""
    merged: dict[str, Region] = {}
    for group in region_lists:
        for region in group:
            known = merged.get(region.region_id)
            if known is None:
                merged[region.region_id] = region
                continue
            have = {(c.name, c.step) for c in known.concepts}
            extra = tuple(c for c in region.concepts if (c.name, c.step) not in have)
            if extra:
                merged[region.region_id] = replace(known, concepts=known.concepts + extra)
    return list(merged.values())
