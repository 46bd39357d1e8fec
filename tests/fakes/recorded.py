"""Pages and error bodies as the real systems send them (or, where marked in the file, shaped from their
documented models), kept in tests/fixtures."""

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def recorded(name: str) -> Any:
    """The parsed JSON of tests/fixtures/<name>."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))
