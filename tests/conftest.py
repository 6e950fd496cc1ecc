import os

import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

import pkpd  # noqa: E402


@pytest.fixture(scope="session")
def ustekinumab():
    return pkpd.load_model("ustekinumab_pk")


@pytest.fixture
def rng():
    return np.random.default_rng(20070208)
