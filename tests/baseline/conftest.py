"""Baseline tests need the [baseline] extra (torch, scipy); without it they are skipped."""

import pytest

pytest.importorskip("torch", reason="the baseline tests need torch: pip install -e '.[baseline]'")
pytest.importorskip("scipy", reason="the baseline tests need scipy: pip install -e '.[baseline]'")
