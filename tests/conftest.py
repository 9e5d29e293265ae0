"""Session-wide test isolation from the host's real accelbench runs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="session")
def _private_lock_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    # Tests take device locks too; a private folder keeps a test session and a real sweep on
    # this host (or another worktree's test session) from refusing each other as "busy".
    import os

    old = os.environ.get("ACCELBENCH_LOCK_DIR")
    os.environ["ACCELBENCH_LOCK_DIR"] = str(tmp_path_factory.mktemp("locks"))
    yield
    if old is None:
        os.environ.pop("ACCELBENCH_LOCK_DIR", None)
    else:
        os.environ["ACCELBENCH_LOCK_DIR"] = old


@pytest.fixture(autouse=True, scope="session")
def _no_network_and_a_private_data_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    # No test may reach the internet: a workload whose dataset is missing would download it on
    # first use, so the whole session is offline (tests of fetching turn it off themselves and
    # fetch from a server on 127.0.0.1). The cache (and the download folder inside it) is the
    # session's own, so a dataset a developer fetched into ~/.cache never changes a test.
    import os

    saved = {k: os.environ.get(k) for k in _DATA_ENV}
    os.environ["ACCELBENCH_OFFLINE"] = "1"
    os.environ["ACCELBENCH_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    for k in ("ACCELBENCH_DATA_MIRROR", "ACCELBENCH_DATA_DIR", "ACCELBENCH_FETCH_TIMEOUT"):
        os.environ.pop(k, None)
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


_DATA_ENV = (
    "ACCELBENCH_OFFLINE",
    "ACCELBENCH_CACHE_DIR",
    "ACCELBENCH_DATA_MIRROR",
    "ACCELBENCH_DATA_DIR",
    "ACCELBENCH_FETCH_TIMEOUT",
)
