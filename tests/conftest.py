import os
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # so `pages.*` imports work in app tests
    sys.path.insert(0, str(ROOT))

SHARED_MESHES = ROOT.parent / "shared" / "meshes"
ARTIFACTS = ROOT / "tests" / "artifacts"


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def shared_meshes():
    """The real meshes in ../shared/meshes, or a clean skip where the folder is absent."""
    if not SHARED_MESHES.is_dir():
        pytest.skip("../shared/meshes is not present on this machine")
    return SHARED_MESHES


@pytest.fixture(scope="session")
def artifacts():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


os.environ.setdefault("STREAMLIT_BROWSER_GATHER_USAGE_STATS", "false")
