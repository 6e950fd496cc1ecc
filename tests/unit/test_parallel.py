"""Chunks on a dask.distributed cluster give the same numbers, to the bit, as on threads."""

import numpy as np
import pytest

import pkpd

LABEL = "45 mg SC at weeks 0, 4 then every 12 weeks until week 52"
ARMS = {"label": LABEL, "topup": LABEL + "; if not PASI75 at week 16: 45 mg SC at week 16",
        "90 x4": "90 mg SC weekly x4", "placebo": "placebo"}


@pytest.fixture(scope="module")
def client():
    import distributed  # a dependency of pkpd (dask[distributed])

    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def test_simulate_trial_on_a_two_worker_cluster_equals_threads(client):
    fit = pkpd.load_fit("ustekinumab_phase2")
    arms = {k: v for k, v in ARMS.items() if k != "topup"}
    kwargs = dict(time_unit="week", n_trials=5, seed=3, chunk_size=100)
    local = pkpd.simulate_trial(fit.model, arms, [4, 12, 24], 64, client=None, **kwargs)
    distributed = pkpd.simulate_trial(fit.model, arms, [4, 12, 24], 64, client=client, **kwargs)
    np.testing.assert_array_equal(local.responders.values, distributed.responders.values)
    assert int(local.responders.sum()) > 0


def test_predict_with_draws_on_a_two_worker_cluster_equals_threads(client):
    kwargs = dict(time_unit="week", n_draws=30, trial_size=64, subgroups=100, seed=4)
    local = pkpd.predict("ustekinumab_phase2", ARMS, [12, 28], **kwargs)
    distributed = pkpd.predict("ustekinumab_phase2", ARMS, [12, 28], client=client, **kwargs)
    for name in ("rate", "lower", "upper", "trial_lower", "trial_upper", "rate_by_subgroup", "rule_fired"):
        np.testing.assert_array_equal(local[name].values, distributed[name].values)
