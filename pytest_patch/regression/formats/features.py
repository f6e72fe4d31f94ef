"""Golden features: readable JSON (``.features.json``), one line per eFEL feature with its
values (``null`` where eFEL found none), compared within ``rtol``/``atol``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import features
from . import text
from .protocol import Golden, Outcome, Tolerances, names_differ


class FeaturesKind:
    name = "features"
    suffix = ".json"
    what = "features"

    def read(self, path: Path) -> Golden:
        return text.read_number_lists(path, "features", "feature")

    def write(self, header: dict[str, Any], data: features.Features) -> bytes:
        return text.write(header, "features", data)

    def fingerprint(self, data: features.Features) -> Any:
        return None

    def stored_fingerprint(self, path: Path) -> Any:
        return None

    def compare(self, stored: Golden, data: features.Features, tolerances: Tolerances) -> Outcome:
        lines = names_differ(stored.data, data, "features")
        calibrated = {k: {"atol": v["atol"]} for k, v in stored.tolerances.items() if "atol" in v}
        merged = {**calibrated, **tolerances.per_name}
        lines += features.compare(stored.data, data, tolerances.rtol, tolerances.atol, merged)
        return Outcome("\n".join(lines)) if lines else Outcome()

    def spread(self, stored: Golden, data: features.Features) -> dict[str, Any]:
        return {
            key: None if value is None else {"atol": value}
            for key, value in features.needed(stored.data, data).items()
        }

    def plot(self, path: Path, title: str, drawing: Any) -> Path:
        raise NotImplementedError("feature checks draw no picture")


KIND = FeaturesKind()
