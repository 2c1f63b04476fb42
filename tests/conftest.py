import os
import random

import pytest


@pytest.fixture
def seed(request):
    """A random seed per test, printed so a failure can be replayed with HWGEN_SEED=N."""
    value = int(os.environ.get("HWGEN_SEED", random.randrange(2**31)))
    print(f"\n{request.node.nodeid}: seed {value} (replay: HWGEN_SEED={value})")
    return value
