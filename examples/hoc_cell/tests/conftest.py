"""The protocols load their hoc files by relative name, as the model's own scripts do."""

from pathlib import Path

import pytest

MODEL = Path(__file__).resolve().parent.parent / "model"


@pytest.fixture(autouse=True)
def in_model_folder(monkeypatch):
    """Run each test from model/, where step.hoc finds cell.hoc."""
    monkeypatch.chdir(MODEL)
