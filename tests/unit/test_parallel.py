"""Chunks on a dask.distributed cluster give the same numbers, to the bit, as on threads.

The cluster's client is not the default one, so a run without ``client=`` outside
``client.as_current()`` is on threads; every comparison checks, from the cluster's task
stream, that the threaded run sent nothing to the cluster and the distributed run did.
"""

import contextlib

import numpy as np
import pytest
import xarray as xr

import pkpd
from pkpd.parallel import active_client, is_lazy

LABEL = "45 mg SC at weeks 0, 4 then every 12 weeks until week 52"
ARMS = {"label": LABEL, "topup": LABEL + "; if not PASI75 at week 16: 45 mg SC at week 16",
        "90 x4": "90 mg SC weekly x4", "placebo": "placebo"}
PK_ARMS = {"label": LABEL, "infusion": "5 mg/kg IV over 2 h at weeks 0, 2, 6 then every 8 weeks x3",
           "placebo": "placebo"}


@pytest.fixture(scope="module")
def client():
    import distributed  # a dependency of pkpd (dask[distributed])

    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    with distributed.Client(cluster, set_as_default=False) as c:
        yield c
    cluster.close()


@contextlib.contextmanager
def cluster_tasks(client):
    """The tasks the cluster ran inside the block (a list filled on exit)."""
    from distributed import get_task_stream
    tasks = []
    with get_task_stream(client=client) as stream:
        yield tasks
    tasks.extend(stream.data)


def on_threads(client, run):
    assert active_client() is None
    with cluster_tasks(client) as tasks:
        out = run()
    assert tasks == []
    return out


def on_cluster(client, run):
    with cluster_tasks(client) as tasks:
        out = run()
    assert len(tasks) > 0
    return out


def test_simulate_trial_on_a_two_worker_cluster_equals_threads(client):
    fit = pkpd.load_fit("ustekinumab_phase2")
    arms = {k: v for k, v in ARMS.items() if k != "topup"}
    kwargs = dict(time_unit="week", n_trials=5, seed=3, chunk_size=100)
    local = on_threads(client, lambda: pkpd.simulate_trial(fit.model, arms, [4, 12, 24], 64, **kwargs))
    given = on_cluster(client, lambda: pkpd.simulate_trial(fit.model, arms, [4, 12, 24], 64, client=client, **kwargs))
    np.testing.assert_array_equal(local.responders.values, given.responders.values)
    with client.as_current():  # the active client, not given
        active = on_cluster(client, lambda: pkpd.simulate_trial(fit.model, arms, [4, 12, 24], 64, **kwargs))
    np.testing.assert_array_equal(local.responders.values, active.responders.values)
    assert int(local.responders.sum()) > 0


def test_predict_with_draws_on_a_two_worker_cluster_equals_threads(client):
    kwargs = dict(time_unit="week", n_draws=30, trial_size=64, subgroups=100, seed=4)
    local = on_threads(client, lambda: pkpd.predict("ustekinumab_phase2", ARMS, [12, 28], **kwargs))
    given = on_cluster(client, lambda: pkpd.predict("ustekinumab_phase2", ARMS, [12, 28], client=client, **kwargs))
    for name in ("rate", "lower", "upper", "trial_lower", "trial_upper", "rate_by_subgroup", "rule_fired"):
        np.testing.assert_array_equal(local[name].values, given[name].values)
    assert float(local.upper.max() - local.lower.min()) > 0.1  # intervals, not constants


def test_dose_response_with_draws_on_a_two_worker_cluster_equals_threads(client):
    doses = [0, 22.5, 45, 90, 180]
    kwargs = dict(n_draws=20, seed=2, week=16)
    local = on_threads(client, lambda: pkpd.dose_response("ustekinumab_phase2", doses, **kwargs))
    given = on_cluster(client, lambda: pkpd.dose_response("ustekinumab_phase2", doses, client=client, **kwargs))
    for name in ("rate", "lower", "upper", "rate_draw"):
        np.testing.assert_array_equal(local[name].values, given[name].values)
    assert np.all(np.diff(local.rate.sel(endpoint="PASI75").values[:, 0]) > 0)  # rates rise with the dose


def test_simulate_in_memory_on_a_two_worker_cluster_equals_threads(client):
    times = np.arange(0.0, 393.0, 7.0)
    local = on_threads(client, lambda: pkpd.simulate("ustekinumab_pk", PK_ARMS, times, n_subjects=500, seed=8))
    given = on_cluster(client, lambda: pkpd.simulate("ustekinumab_pk", PK_ARMS, times, n_subjects=500, seed=8,
                                                     client=client))
    assert not is_lazy(given.concentration.data)
    assert local.identical(given)


def test_a_lazy_simulation_written_on_a_two_worker_cluster_equals_threads(client, tmp_path):
    times = np.arange(0.0, 393.0, 7.0)
    in_memory = pkpd.simulate("ustekinumab_pk", PK_ARMS, times, n_subjects=1000, seed=8)
    lazy = pkpd.simulate("ustekinumab_pk", PK_ARMS, times, n_subjects=1000, seed=8, chunk_size=300)
    on_threads(client, lambda: pkpd.write_dataset(lazy, tmp_path / "threads.nc"))
    # The chunks run on the workers and come back to this process, which writes the file.
    on_cluster(client, lambda: pkpd.write_dataset(lazy, tmp_path / "cluster.nc", client=client))
    on_cluster(client, lambda: pkpd.write_dataset(lazy, tmp_path / "cluster.csv", client=client))
    with xr.open_dataset(tmp_path / "threads.nc", engine="h5netcdf") as a, \
            xr.open_dataset(tmp_path / "cluster.nc", engine="h5netcdf") as b:
        assert a.load().identical(b.load())
        assert b.identical(in_memory)
    pkpd.write_dataset(in_memory, tmp_path / "memory.csv")
    assert (tmp_path / "cluster.csv").read_bytes() == (tmp_path / "memory.csv").read_bytes()
    part = lazy.isel(subject=slice(150, 850))  # derived: each block a slice of a simulated chunk
    on_cluster(client, lambda: pkpd.write_dataset(part, tmp_path / "part.nc", client=client))
    with xr.open_dataset(tmp_path / "part.nc", engine="h5netcdf") as c:
        assert c.load().identical(in_memory.isel(subject=slice(150, 850)))
    with client.as_current():  # computing a lazy result uses the active client
        loaded = on_cluster(client, lazy.compute)
    assert loaded.identical(in_memory)
