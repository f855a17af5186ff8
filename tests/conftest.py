"""Shared test set-up: real data live in ../shared/data unless FUNCNET_DATA says otherwise."""

import os
from pathlib import Path

import pytest
from hypothesis import settings

# In CI the property tests draw the same examples every run (a red build is then
# reproducible); locally they explore anew each time.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

os.environ.setdefault("FUNCNET_DATA",
                      str((Path(__file__).resolve().parents[1] / ".." / "shared" / "data").resolve()))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder holding mnist/ and fashion-mnist/ with the four IDX files each."""
    return Path(os.environ["FUNCNET_DATA"])
