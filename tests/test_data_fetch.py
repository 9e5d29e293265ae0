"""Downloading datasets: from a real HTTP server on 127.0.0.1 in this process (tests/
data_server.py), never the internet. Resume, checksums, 404s, hangs, mirrors, proxies, a fetch
killed with SIGKILL, offline runs, and fetching on first use inside a training run."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import socket
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from data_server import serving
from helpers import PYTHON, REPO, cli_env, write_suite

from accelbench.data import registry
from accelbench.data.common import DataNotFound
from accelbench.data.fetch import (
    FetchError,
    ensure_dataset,
    fetch_dataset,
    fetch_file,
    urls_for,
)
from accelbench.data.registry import Dataset, Form, RemoteFile

# The real datasets beside the checkout (../shared/data), or where this project's machines keep
# them; tests that need them skip where neither exists.
SHARED = next(
    (p for p in (REPO.parent / "shared" / "data", Path("/work/shared/data")) if p.is_dir()),
    REPO.parent / "shared" / "data",
)


def blob(n: int, seed: int = 1) -> bytes:
    """``n`` reproducible bytes that do not repeat (so an offset error changes the hash)."""
    out, i = bytearray(), 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}-{i}".encode()).digest()
        i += 1
    return bytes(out[:n])


def remote(name: str, data: bytes, *urls: str) -> RemoteFile:
    return RemoteFile(
        name=name,
        urls=urls,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        source="the test that made it",
    )


def dataset(name: str, *files: RemoteFile, folder: str = "") -> Dataset:
    return Dataset(
        name=name,
        title=f"test set {name}",
        description="made by a test",
        homepage="http://127.0.0.1/",
        licence="test",
        citation="-",
        access="download",
        folder=folder,
        files=files,
        forms=(Form("the publisher's files", (folder or files[0].name,), published=True),),
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- one file -------------------------------------------------------------------------------------
def test_fetch_verifies_and_moves_into_place_once(tmp_path: Path) -> None:
    data = blob(300_000)
    with serving() as srv:
        f = remote("a.bin", data, srv.add("a.bin", data))
        rep = fetch_file(f, tmp_path, list(f.urls))
        assert rep.status == "downloaded" and rep.bytes_downloaded == len(data)
        assert (tmp_path / "a.bin").read_bytes() == data
        assert not (tmp_path / "a.bin.part").exists()
        again = fetch_file(f, tmp_path, list(f.urls))  # already there and verified: no request
        assert again.status == "present" and len(srv.requests) == 1


def test_dropped_connection_is_resumed_with_a_range_request(tmp_path: Path) -> None:
    data = blob(500_000)
    with serving() as srv:
        f = remote("b.bin", data, srv.add("b.bin", data, drop_after=123_457))
        rep = fetch_file(f, tmp_path, list(f.urls), timeout=10)
        assert (tmp_path / "b.bin").read_bytes() == data
        assert srv.ranges("b.bin") == [None, "bytes=123457-"]
        assert rep.bytes_downloaded == len(data)  # the first part was not fetched twice


def test_a_part_left_by_an_earlier_fetch_is_resumed(tmp_path: Path) -> None:
    data = blob(200_000)
    (tmp_path / "c.bin.part").write_bytes(data[:70_000])
    with serving() as srv:
        f = remote("c.bin", data, srv.add("c.bin", data))
        rep = fetch_file(f, tmp_path, list(f.urls))
        assert rep.status == "resumed" and rep.bytes_downloaded == 130_000
        assert srv.ranges("c.bin") == ["bytes=70000-"]
        assert (tmp_path / "c.bin").read_bytes() == data


def test_a_server_that_ignores_ranges_restarts_instead_of_appending(tmp_path: Path) -> None:
    data = blob(100_000)
    (tmp_path / "d.bin.part").write_bytes(data[:40_000])
    with serving() as srv:
        f = remote("d.bin", data, srv.add("d.bin", data, ignore_range=True))
        fetch_file(f, tmp_path, list(f.urls))
        assert (tmp_path / "d.bin").read_bytes() == data


def test_a_corrupted_byte_is_never_kept(tmp_path: Path) -> None:
    data = blob(50_000)
    with serving() as srv:
        f = remote("e.bin", data, srv.add("e.bin", data, corrupt_at=31_337))
        with pytest.raises(FetchError) as e:
            fetch_file(f, tmp_path, list(f.urls))
    msg = str(e.value)
    assert "\n" not in msg and "checksum mismatch" in msg and f.sha256 in msg
    assert "e.bin" in msg and "nothing was kept" in msg
    assert not (tmp_path / "e.bin").exists() and not (tmp_path / "e.bin.part").exists()


def test_a_corrupt_file_under_the_final_name_is_replaced_by_a_verified_one(tmp_path: Path) -> None:
    data = blob(10_000)
    (tmp_path / "f.bin").write_bytes(b"x" * len(data))
    with serving() as srv:
        f = remote("f.bin", data, srv.add("f.bin", data))
        assert fetch_file(f, tmp_path, list(f.urls)).status == "downloaded"
    assert (tmp_path / "f.bin").read_bytes() == data


def test_404_names_the_url_and_the_next_mirror_is_tried(tmp_path: Path) -> None:
    data = blob(1000)
    with serving() as srv:
        missing = srv.url + "/nowhere/g.bin"
        f = remote("g.bin", data, missing)
        with pytest.raises(FetchError, match=r"nowhere/g\.bin: HTTP 404"):
            fetch_file(f, tmp_path, list(f.urls))
        f2 = remote("g.bin", data, missing, srv.add("mirror/g.bin", data))
        rep = fetch_file(f2, tmp_path, list(f2.urls))
        assert rep.url == f2.urls[1] and (tmp_path / "g.bin").read_bytes() == data


def test_a_hanging_server_times_out_with_one_clear_line(tmp_path: Path) -> None:
    data = blob(1000)
    with serving() as srv:
        f = remote("h.bin", data, srv.add("h.bin", data, hang=True))
        t0 = time.monotonic()
        with pytest.raises(FetchError) as e:
            fetch_file(f, tmp_path, list(f.urls), timeout=0.5)
        assert time.monotonic() - t0 < 10
    msg = str(e.value)
    assert "\n" not in msg and "no answer within 0.5 s" in msg and "--timeout" in msg
    assert not (tmp_path / "h.bin").exists()


def test_a_server_that_stalls_mid_file_keeps_the_part_for_later(tmp_path: Path) -> None:
    data = blob(400_000)
    with serving() as srv:
        f = remote("s.bin", data, srv.add("s.bin", data, stall_after=30_000))
        with pytest.raises(FetchError, match=r"kept in .*s\.bin\.part: run the fetch again"):
            fetch_file(f, tmp_path, list(f.urls), timeout=0.3)
        # Each try made progress, so it was resumed a few times before giving up.
        assert srv.ranges("s.bin")[:3] == [None, "bytes=30000-", "bytes=60000-"]
        srv.behaviour.clear()
        # ... which, once the server is well again, resumes where it stopped.
        rep = fetch_file(f, tmp_path, list(f.urls))
        assert rep.status == "resumed" and (tmp_path / "s.bin").read_bytes() == data


def test_two_fetches_of_one_file_download_it_once(tmp_path: Path) -> None:
    import threading

    data = blob(600_000)
    with serving() as srv:
        f = remote("two.bin", data, srv.add("two.bin", data, bytes_per_s=1_000_000))
        reports = []
        threads = [
            threading.Thread(target=lambda: reports.append(fetch_file(f, tmp_path, list(f.urls))))
            for _ in range(2)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(r.status for r in reports) == ["downloaded", "present"]
        assert srv.ranges("two.bin") == [None]
    assert (tmp_path / "two.bin").read_bytes() == data


def test_connection_refused_is_one_line(tmp_path: Path) -> None:
    f = remote("r.bin", b"x", f"http://127.0.0.1:{free_port()}/r.bin")
    with pytest.raises(FetchError, match="connection refused"):
        fetch_file(f, tmp_path, list(f.urls), timeout=5)


# -- datasets, mirrors, proxies -------------------------------------------------------------------
def test_mirror_override_replaces_every_url(tmp_path: Path, monkeypatch) -> None:
    a, b = blob(1000, 2), blob(2000, 3)
    with serving() as srv:
        srv.add("pub/a.txt", a)  # the publisher's copy, which must not be asked
        srv.add("m/tiny/a.txt", a)
        srv.add("m/tiny/b.txt", b)
        ds = dataset(
            "tiny", remote("a.txt", a, srv.url + "/pub/a.txt"), remote("b.txt", b), folder="t"
        )
        monkeypatch.setenv("ACCELBENCH_DATA_MIRROR", srv.url + "/m/")
        assert urls_for(ds, ds.files[0]) == [srv.url + "/m/tiny/a.txt"]
        rep = fetch_dataset(ds, tmp_path)
        assert [r.path for r in rep.files] == [tmp_path / "t" / "a.txt", tmp_path / "t" / "b.txt"]
        assert {r.path for r in srv.requests} == {"/m/tiny/a.txt", "/m/tiny/b.txt"}


def test_a_file_url_mirror_works_for_sites_without_a_web_server(tmp_path: Path) -> None:
    a = blob(5000)
    (tmp_path / "mirror" / "tiny").mkdir(parents=True)
    (tmp_path / "mirror" / "tiny" / "a.txt").write_bytes(a)
    ds = dataset("tiny", remote("a.txt", a))
    fetch_dataset(ds, tmp_path / "data", mirror=(tmp_path / "mirror").as_uri())
    assert (tmp_path / "data" / "a.txt").read_bytes() == a


def test_proxy_from_the_environment_is_used(tmp_path: Path, monkeypatch) -> None:
    data = blob(4000)
    with serving() as proxy:
        proxy.add("/x/p.bin", data)  # the proxy answers for the remote host
        monkeypatch.setenv("http_proxy", proxy.url)
        monkeypatch.delenv("no_proxy", raising=False)
        monkeypatch.delenv("NO_PROXY", raising=False)
        f = remote("p.bin", data, "http://datasets.example.invalid/x/p.bin")
        fetch_file(f, tmp_path, list(f.urls), timeout=5)
        (req,) = proxy.requests
        assert req.proxied and req.host == "datasets.example.invalid"
    assert (tmp_path / "p.bin").read_bytes() == data


def test_a_login_only_dataset_says_where_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(FetchError, match=r"image-net\.org") as e:
        fetch_dataset(registry.get("imagenet"), tmp_path)
    assert str(tmp_path / "imagenet") in str(e.value)


# -- a fetch killed with SIGKILL -----------------------------------------------------------------
KILLABLE = """
import sys
from pathlib import Path
from accelbench.data.fetch import fetch_file
from accelbench.data.registry import RemoteFile
url, size, sha, dest = sys.argv[1], int(sys.argv[2]), sys.argv[3], Path(sys.argv[4])
f = RemoteFile(name="big.bin", urls=(url,), size=size, sha256=sha, source="test")
fetch_file(f, dest, [url], timeout=30)
"""


def test_a_killed_fetch_leaves_no_file_under_the_final_name_and_resumes(tmp_path: Path) -> None:
    data = blob(3_000_000)
    with serving() as srv:
        f = remote("big.bin", data, srv.add("big.bin", data, bytes_per_s=400_000))
        proc = subprocess.Popen(
            [PYTHON, "-c", KILLABLE, f.urls[0], str(f.size), f.sha256, str(tmp_path)],
            env=cli_env(),
        )
        part = tmp_path / "big.bin.part"
        deadline = time.monotonic() + 60
        while not (part.exists() and part.stat().st_size > 200_000):
            assert proc.poll() is None, "the fetch ended before it could be killed"
            assert time.monotonic() < deadline, "no download progress"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        assert not (tmp_path / "big.bin").exists()
        held = part.stat().st_size
        assert 0 < held < len(data)
        srv.behaviour.clear()
        rep = fetch_file(f, tmp_path, list(f.urls))
        assert srv.ranges("big.bin")[-1] == f"bytes={held}-"
        assert rep.status == "resumed" and (tmp_path / "big.bin").read_bytes() == data
        assert not part.exists()


# -- the real registry against real files, where this machine has them -------------------------
@pytest.mark.skipif(not (SHARED / "multi30k").is_dir(), reason="no ../shared/data/multi30k here")
def test_real_multi30k_through_a_mirror_matches_the_publishers_checksums(
    tmp_path: Path, monkeypatch
) -> None:
    ds = registry.get("multi30k")
    with serving() as srv:
        for f in ds.files:
            srv.add(f"multi30k/{f.name}", SHARED / "multi30k" / f.name)
        monkeypatch.setenv("ACCELBENCH_DATA_MIRROR", srv.url)
        rep = fetch_dataset(ds, tmp_path)
    assert [r.status for r in rep.files] == ["downloaded"] * len(ds.files)
    for f in ds.files:
        assert (tmp_path / "multi30k" / f.name).read_bytes() == (
            SHARED / "multi30k" / f.name
        ).read_bytes()


@pytest.mark.skipif(not (SHARED / "aclImdb.tar.gz").is_file(), reason="no ../shared/data here")
def test_real_imdb_archive_fetched_and_verified(tmp_path: Path) -> None:
    sums = dict(reversed(line.split()) for line in (SHARED / "SHA256SUMS").read_text().splitlines())
    src = SHARED / "aclImdb.tar.gz"
    f = RemoteFile(
        name="aclImdb.tar.gz",
        size=src.stat().st_size,
        sha256=sums["aclImdb.tar.gz"],
        source="../shared/data/SHA256SUMS",
    )
    with serving() as srv:
        url = srv.add("aclImdb.tar.gz", src)
        rep = fetch_file(f, tmp_path, [url])
    assert rep.status == "downloaded" and rep.bytes_downloaded == f.size


# -- fetch on first use, offline -----------------------------------------------------------------
def tiny_imdb_archive() -> bytes:
    """A small aclImdb_v1.tar.gz in the official layout, learnable in a few epochs."""
    words = {"pos": ["great", "wonderful", "loved", "fun"], "neg": ["awful", "boring", "bad"]}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for split in ("train", "test"):
            for label, ws in words.items():
                for i in range(12):
                    text = f"the film was {ws[i % len(ws)]} and {ws[(i + 1) % len(ws)]} .".encode()
                    info = tarfile.TarInfo(f"aclImdb/{split}/{label}/{100 + i}_5.txt")
                    info.size = len(text)
                    tar.addfile(info, io.BytesIO(text))
    return buf.getvalue()


def test_offline_names_the_dataset_the_command_and_the_paths(tmp_path: Path) -> None:
    with pytest.raises(DataNotFound) as e:
        ensure_dataset("imdb", tmp_path / "data", offline=True)
    msg = str(e.value)
    assert "IMDB" in msg and "offline" in msg and "accelbench data fetch imdb" in msg
    assert "aclImdb_v1.tar.gz" in msg and f"in {tmp_path / 'data'} and " in msg


def test_no_network_names_the_dataset_the_command_and_the_paths(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("ACCELBENCH_DATA_MIRROR", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(DataNotFound) as e:
        ensure_dataset("imdb", tmp_path / "data", offline=False)
    msg = str(e.value)
    assert "\n" not in msg and "download failed" in msg and "connection refused" in msg
    assert "accelbench data fetch imdb" in msg and str(tmp_path / "data") in msg
    assert not any(p.name.endswith(".tar.gz") for p in (tmp_path / "data").glob("*"))


def test_a_present_dataset_is_not_fetched(tmp_path: Path) -> None:
    (tmp_path / "aclImdb.tar.gz").write_bytes(b"a repack someone already has")
    assert ensure_dataset("imdb", tmp_path, offline=False) == {"fetched": False}


LSTM_TINY = {
    "max_epochs": 2,
    "batch_size": 4,
    "lr": 0.02,
    "vocab_size": 50,
    "max_len": 12,
    "embed_dim": 8,
    "hidden": 8,
    "dropout": 0.0,
    "threshold": 100.0,
}


def test_a_training_run_fetches_its_data_on_first_use_before_the_clock(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    from accelbench.api import run_suite
    from accelbench.config import load_suite
    from accelbench.devices.fake import FakeDevice
    from accelbench.results.schema import Status

    archive = tiny_imdb_archive()
    real = registry.get("imdb")
    tiny = RemoteFile(
        name="aclImdb_v1.tar.gz",
        size=len(archive),
        sha256=hashlib.sha256(archive).hexdigest(),
        source="test",
    )
    monkeypatch.setitem(registry.DATASETS, "imdb", Dataset(**{**real.__dict__, "files": (tiny,)}))
    monkeypatch.delenv("ACCELBENCH_OFFLINE")
    suite_file = write_suite(
        tmp_path / "s.yaml",
        {
            "name": "fetch-first",
            "workloads": [{"name": "w", "kind": "lstm-imdb", "params": LSTM_TINY}],
        },
    )
    with serving() as srv:
        srv.add("imdb/aclImdb_v1.tar.gz", archive)
        monkeypatch.setenv("ACCELBENCH_DATA_MIRROR", srv.url)
        rep = run_suite(
            load_suite(str(suite_file)),
            device=FakeDevice(),
            db=tmp_path / "r.db",
            data_dir=tmp_path / "data",
            power=False,
        )
    (r,) = rep.results
    assert r.status is Status.OK, r.message
    data = r.config["data"]
    assert data["fetched"] is True and data["fetched_bytes"] == len(archive)
    assert data["path"] == str(tmp_path / "data" / "aclImdb_v1.tar.gz")
    # The download happened before the trainer's clock: setup is decoding, not fetching.
    assert r.metric("data_setup_s") < data["fetch_s"] + r.metric("data_setup_s")
    err = capsys.readouterr().err
    assert "not found" in err and "downloading" in err and "--offline" in err
    assert "MB/s" in err  # progress was shown


def test_run_offline_flag_stores_an_error_that_says_how_to_fetch(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    from accelbench.cli import main
    from accelbench.results.store import Store

    suite_file = write_suite(
        tmp_path / "s.yaml",
        {"name": "off", "workloads": [{"name": "w", "kind": "lstm-imdb", "params": LSTM_TINY}]},
    )
    monkeypatch.delenv("ACCELBENCH_OFFLINE")
    # A mirror nobody listens on: without the flag the run tries it and fails differently.
    monkeypatch.setenv("ACCELBENCH_DATA_MIRROR", f"http://127.0.0.1:{free_port()}")
    args = ["run", str(suite_file), "--device", "fake", "--db", str(tmp_path / "r.db"), "--json"]
    assert main([*args, "--offline"]) == 0
    assert main([*args, "--no-resume"]) == 0
    capsys.readouterr()
    with Store(tmp_path / "r.db") as st:
        offline, online = (r.message or "" for r in st.query())
    assert "offline" in offline and "accelbench data fetch imdb" in offline
    assert "download failed" in online and "connection refused" in online


def test_fetch_cli_reports_a_corrupt_download_in_one_line(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    from accelbench.cli import main

    data = blob(20_000)
    with serving() as srv:
        srv.add("tiny/a.bin", data, corrupt_at=5)
        monkeypatch.setitem(registry.DATASETS, "tiny", dataset("tiny", remote("a.bin", data)))
        monkeypatch.setenv("ACCELBENCH_DATA_MIRROR", srv.url)
        monkeypatch.delenv("ACCELBENCH_OFFLINE")
        code = main(["data", "fetch", "tiny", "--data-dir", str(tmp_path)])
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert code == 1 and len(lines) == 1 and "checksum mismatch" in lines[0]
    assert "Traceback" not in err and not list(tmp_path.iterdir())


def test_fetch_cli_downloads_then_finds_it_present(tmp_path: Path, monkeypatch, capsys) -> None:
    from accelbench.cli import main

    data = blob(20_000)
    with serving() as srv:
        srv.add("tiny/a.bin", data)
        monkeypatch.setitem(registry.DATASETS, "tiny", dataset("tiny", remote("a.bin", data)))
        monkeypatch.setenv("ACCELBENCH_DATA_MIRROR", srv.url)
        monkeypatch.delenv("ACCELBENCH_OFFLINE")
        assert main(["data", "fetch", "tiny", "--data-dir", str(tmp_path)]) == 0
        assert "downloaded" in capsys.readouterr().out
        assert main(["data", "fetch", "tiny", "--data-dir", str(tmp_path)]) == 0
        assert "already here" in capsys.readouterr().out and len(srv.requests) == 1


def test_fetch_cli_refuses_when_marked_offline(capsys) -> None:
    from accelbench.cli import main

    assert os.environ.get("ACCELBENCH_OFFLINE") == "1"  # the test session is offline
    assert main(["data", "fetch", "imdb"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ACCELBENCH_OFFLINE is set") and err.count("\n") == 1


def test_fetch_cli_unknown_dataset_is_one_line(capsys) -> None:
    from accelbench.cli import main

    assert main(["data", "verify", "cifar100"]) == 2
    err = capsys.readouterr().err
    assert "unknown dataset 'cifar100'" in err and "imdb" in err and err.count("\n") == 1


def test_subprocess_sees_no_internet_setting() -> None:
    # The session's isolation reaches child processes too (cli_env copies os.environ).
    assert cli_env().get("ACCELBENCH_OFFLINE") == "1" and sys.executable
