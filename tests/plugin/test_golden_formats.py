"""Golden kinds: one registry, and large spike goldens read without parsing their text."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pytest_patch.compare import Raster
from pytest_patch.regression import formats, golden
from pytest_patch.regression.formats import spikes as spike_format


def raster(count: int, gids: int = 300) -> Raster:
    rng = np.random.default_rng(7)
    trains = {gid: np.sort(rng.uniform(0, 1000, count // gids)) for gid in range(gids)}
    return Raster.from_mapping(trains)


def rows(path: Path) -> dict[int, np.ndarray]:
    """The spike times as the readable rows of the file say."""
    return {
        int(gid): np.array(times, float)
        for gid, times in json.loads(path.read_text())["spikes"].items()
    }


def same(a: dict[int, np.ndarray], b: dict[int, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(
        np.array_equal(a[k].view(np.uint64), b[k].view(np.uint64)) for k in a
    )


def test_every_kind_is_registered_once_and_found_by_its_file_name(tmp_path: Path) -> None:
    assert list(formats.KINDS) == ["traces", "spikes", "features", "output"]
    for name, kind in formats.KINDS.items():
        path = golden.golden_path(tmp_path, "test_x", "a.traces", name, "neuron-9.0")
        assert path.name.endswith(kind.suffix)
        assert formats.of(path) is kind is formats.get(name)
    with pytest.raises(ValueError, match="no golden kind 'raster'"):
        formats.get("raster")


def test_a_large_spike_golden_is_read_from_its_exact_copy(tmp_path: Path) -> None:
    path = tmp_path / "test_x.spikes.json"
    data = raster(spike_format.EXACT_FROM + 200)
    golden.write(path, golden.Golden("spikes", data, {"patch": "test"}))
    text = path.read_text()
    header = json.loads(text)
    assert header["exact"]["layout"].startswith("base64 of little-endian")
    # Still one readable line per gid; the exact copy is one line of the header.
    assert len(text.splitlines()) == data.gids.size + 10  # 9 lines without it
    stored = golden.read(path, "spikes")
    assert same(stored.data, rows(path)) and same(stored.data, data.trains())
    assert spike_format.KIND.stored_fingerprint(path) == spike_format.KIND.fingerprint(data)


def test_a_hand_edited_or_damaged_large_golden_is_read_from_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "test_x.spikes.json"
    golden.write(path, golden.Golden("spikes", raster(spike_format.EXACT_FROM + 200), {}))
    original = path.read_text()
    edited = original.replace('    "5": [', '    "5": [0.25, ', 1)
    path.write_text(edited)
    stored = golden.read(path, "spikes")
    assert stored.data[5][0] == 0.25 and same(stored.data, rows(path))
    # An exact copy that does not match the header's fingerprint is not used either.
    header = json.loads(original)
    times = header["exact"]["times"]
    damaged = original.replace(times, times[:40] + ("A" if times[40] != "A" else "B") + times[41:])
    path.write_text(damaged)
    assert same(golden.read(path, "spikes").data, rows(path))


def test_goldens_without_an_exact_copy_are_read_as_before(tmp_path: Path) -> None:
    small = tmp_path / "test_small.spikes.json"
    golden.write(small, golden.Golden("spikes", {0: np.array([1.0, 2.5])}, {}))
    assert "exact" not in json.loads(small.read_text())
    assert same(golden.read(small, "spikes").data, {0: np.array([1.0, 2.5])})
    # A large golden written before the exact copy existed: its rows are read.
    large = tmp_path / "test_large.spikes.json"
    golden.write(large, golden.Golden("spikes", raster(spike_format.EXACT_FROM + 200), {}))
    lines = [line for line in large.read_text().splitlines() if not line.startswith('  "exact"')]
    large.write_text("\n".join(lines) + "\n")
    assert same(golden.read(large, "spikes").data, rows(large))
