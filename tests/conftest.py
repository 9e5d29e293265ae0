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
def _no_idle_check_before_runs() -> Iterator[None]:
    # `accelbench run` samples the host for a second before it starts; the tests that run the
    # CLI dozens of times skip that wait (the check itself is tested with fake readers).
    import os

    old = os.environ.get("ACCELBENCH_IDLE_CHECK_S")
    os.environ["ACCELBENCH_IDLE_CHECK_S"] = "0"
    yield
    if old is None:
        os.environ.pop("ACCELBENCH_IDLE_CHECK_S", None)
    else:
        os.environ["ACCELBENCH_IDLE_CHECK_S"] = old
