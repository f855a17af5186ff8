"""experiments on dask.distributed: a LocalCluster of 2 worker processes, and a
``dask scheduler`` + ``dask worker`` pair started here on 127.0.0.1; the rows equal
the serial ones bit for bit, a killed worker loses no row. Every process is stopped
at the end of its test or module, whatever happens."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from funcnet import experiments
from funcnet.errors import ClusterError
from funcnet.experiments import Task

from experiments_helpers import metric_columns, write_toy

distributed = pytest.importorskip("distributed")

REPO = Path(__file__).resolve().parents[2]
MNIST = REPO / "pipelines" / "mnist.py"
TINY = {"iterations": 10, "rows": 3000}


def frame(rows) -> pd.DataFrame:
    return pd.DataFrame([row for _, row in sorted(rows, key=lambda p: p[0])])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def client():
    """A client of a LocalCluster: 2 worker processes of one thread each, on 127.0.0.1."""
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None)
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


@pytest.fixture(scope="module")
def serial_rows():
    tasks = experiments.seeds(MNIST, [0, 1, 2], TINY)
    return tasks, frame(experiments.execute(tasks, workers=1))


def test_a_local_cluster_gives_the_serial_rows_bit_for_bit(client, serial_rows):
    tasks, serial = serial_rows
    on_dask = frame(experiments.execute(tasks, client=client))
    assert (serial["status"] == "ok").all()
    pd.testing.assert_frame_equal(on_dask[metric_columns(on_dask)], serial[metric_columns(serial)])


def test_a_worker_killed_in_the_middle_is_retried_and_no_row_is_lost(client, tmp_path):
    toy = write_toy(tmp_path)
    marker = tmp_path / "died"
    tasks = [Task(str(toy), {"die_seed": 1, "marker": str(marker), "sleep": 0.01}, s)
             for s in range(4)]
    rows = frame(experiments.execute(tasks, client=client))
    assert marker.exists()  # the worker running seed 1 was killed in mid-training
    assert rows["seed"].tolist() == [0, 1, 2, 3] and (rows["status"] == "ok").all()
    alone = frame(experiments.execute(tasks, workers=1))
    pd.testing.assert_frame_equal(rows[metric_columns(rows)], alone[metric_columns(alone)])


def test_sweep_on_a_cluster_writes_the_same_results(client, tmp_path):
    toy = write_toy(tmp_path)
    here = experiments.sweep(toy, {"hidden": [4, 8]}, [0, 1], {"steps": 4}, out=tmp_path / "a",
                             workers=1)
    there = experiments.sweep(toy, {"hidden": [4, 8]}, [0, 1], {"steps": 4}, out=tmp_path / "b",
                              client=client)
    pd.testing.assert_frame_equal(there[metric_columns(there)], here[metric_columns(here)])
    assert len(experiments.read_results(tmp_path / "b" / "results.csv")) == 4


@pytest.fixture
def scheduler_and_worker(tmp_path):
    """``dask scheduler`` and ``dask worker`` as processes on 127.0.0.1; killed afterwards."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    logs = [open(tmp_path / f"{name}.log", "w") for name in ("scheduler", "worker")]
    commands = [
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
         "--port", str(port), "--no-dashboard"],
        [sys.executable, "-m", "distributed.cli.dask_worker", address, "--host", "127.0.0.1",
         "--nworkers", "1", "--nthreads", "1", "--no-dashboard"],
    ]
    procs = []
    try:
        for command, log in zip(commands, logs):
            procs.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True))
        yield address
    finally:
        for proc in reversed(procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for log in logs:
            log.close()


def test_a_scheduler_and_worker_started_by_hand(scheduler_and_worker, serial_rows):
    deadline = time.monotonic() + 30
    while True:  # the scheduler takes a moment to listen
        try:
            client = experiments.connect(scheduler_and_worker, timeout=2)
            break
        except ClusterError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
    try:
        client.wait_for_workers(1, timeout=30)
        tasks, serial = serial_rows
        rows = frame(experiments.execute(tasks, client=client))
        pd.testing.assert_frame_equal(rows[metric_columns(rows)], serial[metric_columns(serial)])
    finally:
        experiments.close(client)


def test_an_unreachable_scheduler_is_one_line_within_10_seconds():
    address = f"tcp://127.0.0.1:{free_port()}"
    start = time.monotonic()
    with pytest.raises(ClusterError) as info:
        experiments.connect(address)
    assert time.monotonic() - start < 10
    message = str(info.value)
    assert message.startswith(f"cannot reach the Dask scheduler at {address} within 5 s")
    assert "\n" not in message


def test_without_distributed_the_message_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed now fails
    with pytest.raises(ClusterError, match=r"pip install 'funcnet\[dask\]'"):
        experiments.connect("tcp://127.0.0.1:1")
    with pytest.raises(ClusterError, match=r"pip install 'funcnet\[dask\]'"):
        experiments.local_cluster(1)


@pytest.mark.slow
def test_a_search_on_the_cluster_gives_the_rows_of_local_workers_bit_for_bit(client, tmp_path):
    """Successive halving over 9 sampled trials: the same rows, decisions included, on Dask as
    on two local worker processes (the rows come back in another order)."""
    pytest.importorskip("optuna")
    from experiments_helpers import write_search_toy

    toy = write_search_toy(tmp_path)
    space = {"learning_rate": "log:1e-3..3", "hidden": "choice:4,16"}
    kwargs = dict(halving=3, min_budget=1, seeds=[0, 1], overrides={"sleep": 0.01})
    there = experiments.search(toy, space, 9, client=client, out=tmp_path / "dask", **kwargs)
    here = experiments.search(toy, space, 9, workers=2, out=tmp_path / "local", **kwargs)
    assert (here["decision"] == "pruned").any() and (here["decision"] == "done").any()
    pd.testing.assert_frame_equal(there[metric_columns(there)], here[metric_columns(here)])
    saved = [experiments.read_results(tmp_path / f / "results.csv") for f in ("dask", "local")]
    pd.testing.assert_frame_equal(saved[0][metric_columns(saved[0])], saved[1][metric_columns(saved[1])])
