"""Shared test support (``tests/alert_endpoints.py``) is importable from every test directory."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
