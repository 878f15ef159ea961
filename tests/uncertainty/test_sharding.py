"""The batch axis sharded over 4 CPU devices gives the same numbers as one device."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from scalinglaws.uncertainty import bootstrap, predictive, shard_rows

_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import jax
    jax.config.update("jax_enable_x64", True)
    import numpy as np
    import scalinglaws as sl
    from scalinglaws.laws.chinchilla import HOFFMANN_2022
    from scalinglaws.simulate import isoflop_design, simulate_runs
    from scalinglaws.uncertainty import bootstrap, predictive

    budgets = [float(b) for b in np.geomspace(1e18, 1e22, 7)]
    runs = simulate_runs(
        sl.laws.chinchilla(), HOFFMANN_2022, isoflop_design(budgets, 9), noise=0.005, seed=3
    )
    fit = sl.fit(sl.laws.chinchilla(), runs)
    # 30 resamples do not divide evenly over 4 devices: exercises the padding.
    boot = bootstrap(fit, n=30, seed=7)
    pred = predictive(boot, {"N": [1e10, 7e10], "D": [2e11, 1.4e12]}, seed=2)
    out = {
        "devices": jax.local_device_count(),
        "draws": {k: v.tolist() for k, v in boot.uncertainty.draws.items()},
        "pred": pred.tolist(),
    }
    sys.stdout.write(json.dumps(out))
    """
)


def test_shard_rows_pads_to_a_multiple_of_the_devices():
    (x,), n = shard_rows(np.arange(10.0).reshape(5, 2))
    assert n == 5
    assert x.shape[0] % len(x.sharding.device_set) == 0
    np.testing.assert_array_equal(np.asarray(x)[:5], np.arange(10.0).reshape(5, 2))


@pytest.mark.slow
def test_four_devices_match_one(sim_fit):
    env = dict(os.environ)
    env["XLA_FLAGS"] = (
        env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
    ).strip()
    env["JAX_PLATFORMS"] = "cpu"
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    four = json.loads(proc.stdout)
    assert four["devices"] == 4
    one = bootstrap(sim_fit, n=30, seed=7)
    pred = predictive(one, {"N": [1e10, 7e10], "D": [2e11, 1.4e12]}, seed=2)
    # Each refit is the same float64 computation whichever device runs it; only the
    # partitioning (and so the order of some reductions) differs. A few ulps of difference
    # can move the iterate at which the polish stops, and it stops once a step moves less
    # than 1e-7 on the internal scale: so agreement is to the solver's tolerance, 1e-6
    # relative (seen: 4e-9), not bit for bit.
    for name, values in four["draws"].items():
        np.testing.assert_allclose(values, one.uncertainty.draws[name], rtol=1e-6)
    np.testing.assert_allclose(four["pred"], pred, rtol=1e-6)
