"""Your own setting (experiments.user_setting): the examples' certified n* against their exact laws, the
contract's errors (one line, exit 2), seeding, the point store and the plots.

Statistical tests are derandomized (fixed seeds); each compares with an exact value (scipy's laws, the
built-in exact coin) by an exact binomial test at level ALPHA or by the certificate's interval."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import beta, kstwo

from tm_transformer.cli import main
from tm_transformer.experiments import exact, store, user_setting
from tm_transformer.experiments.nstar import exact_coin
from tm_transformer.experiments.stats import ALPHA, binomial_p, fisher_p

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def _example(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ks, coin, median = _example("ks"), _example("coin"), _example("median")


def exact_n_star(fail, ns, delta):
    bad = np.nonzero(fail > delta)[0]
    assert bad[-1] < len(ns) - 1
    return int(ns[bad[-1] + 1])


def ks_failure(n, eps):
    return kstwo.sf(eps, n)


def median_failure(n, eps):
    k = (n + 1) // 2
    return beta.cdf(0.5 - eps, k, n + 1 - k) + beta.sf(0.5 + eps, k, n + 1 - k)


# ---- exact values ------------------------------------------------------------------------------------
def test_exact_values_of_the_examples():
    ns = np.arange(1, 2001)
    assert exact_n_star(ks_failure(ns, 0.2), ns, 0.1) == 36  # the value, from scipy's exact law
    assert exact_n_star(median_failure(ns, 0.1), ns, 0.1) == 67
    assert exact_coin(0.3, 0.123, 0.1).n_star == 41


@pytest.mark.parametrize("f, params, eps, delta, exact", [
    (ks.ks_padded, {}, 0.2, 0.1, 36),
    (coin.coin_padded, {"p": 0.3}, 0.123, 0.1, 41),
    (median.median_padded, {}, 0.1, 0.1, 67),
])
def test_certified_interval_holds_the_exact_n_star(f, params, eps, delta, exact):
    from tm_transformer import experiments

    r = experiments.nstar(f, eps=eps, delta=delta, seed=0, **params)  # the module, called as its function
    assert r.n_star_lo <= exact <= r.n_star_hi, r
    assert not r.exact and r.trials == 2000 and r.definition.startswith("smallest n")
    assert r.compilations <= 8  # padded form: one compilation per power of two
    d = r.as_dict()
    assert {"n_star", "n_star_lo", "n_star_hi", "exact", "definition", "trials", "horizon", "first_crossing",
            "failure_at_n_star", "scan", "eps", "delta", "params"} <= set(d)


@pytest.mark.parametrize("plain, padded, law, params, eps, n", [
    (ks.ks, ks.ks_padded, ks_failure, {}, 0.2, 30),
    (median.median, median.median_padded, median_failure, {}, 0.1, 41),
    (coin.coin, coin.coin_padded, None, {"p": 0.3}, 0.123, 37),
])
def test_both_forms_follow_the_exact_law(plain, padded, law, params, eps, n):
    from tm_transformer.experiments import count_failures  # the built-in name, given a function

    T = 4000
    a = count_failures(plain, n, T, 1, eps=eps, **params)
    b = count_failures(padded, n, T, 2, eps=eps, **params)
    p = law(n, eps) if law is not None else float(exact.coin_failure(np.array([n]), params["p"], eps)[0])
    for r in (a, b):
        assert r["trials"] == T and r["sampler"] == "direct"
        assert binomial_p(r["failures"], T, p) >= ALPHA, (r, p)
    assert fisher_p(a["failures"], T, b["failures"], T) >= ALPHA


def test_a_wrong_estimator_is_caught():
    """The law test can fail: the median off by 0.05 does not follow the Beta law."""
    def biased(key, n):
        return median.median(key, n) + 0.05

    r = user_setting.count_failures(biased, 41, 4000, 1, eps=0.1)
    assert binomial_p(r["failures"], 4000, median_failure(41, 0.1)) < ALPHA


# ---- seeding, batches, devices, store -------------------------------------------------------------------
def test_counts_do_not_depend_on_batch_size(monkeypatch):
    full = user_setting.count_failures(ks.ks_padded, 20, 700, 3, eps=0.2)
    monkeypatch.setattr(user_setting, "PER_CALL_MAX", 64)
    user_setting._batches.clear()
    small = user_setting.count_failures(ks.ks_padded, 20, 700, 3, eps=0.2)
    assert (small["failures"], small["mean_error"]) == (full["failures"], full["mean_error"])
    assert user_setting.per_call(20) == 64


def test_trials_are_common_to_every_count():
    """Trial t is the same whatever the trials asked: the first 100 of 700 are the 100 of a count of 100."""
    f = ks.ks_padded
    base = user_setting.stream_base(3, "own/t")
    errs = np.asarray(jax.vmap(lambda t: f(jax.random.fold_in(base, t), jnp.int32(20), n_max=32))(jnp.arange(100)))
    r = user_setting.count_failures(f, 20, 100, 3, "own/t", eps=0.2)
    assert r["failures"] == int((errs.astype(np.float64) > 0.2).sum())
    assert r["mean_error"] == pytest.approx(float(np.mean(errs, dtype=np.float64)), rel=1e-6)  # ulps apart at most


SUBPROCESS = """
import sys, json
sys.path.insert(0, {examples!r})
from ks import ks_padded
from tm_transformer.experiments import user_setting
import jax
r = user_setting.count_failures(ks_padded, 20, 700, 3, eps=0.2)
print(json.dumps([jax.device_count(), r["failures"], r["mean_error"]]))
"""


def test_counts_do_not_depend_on_device_count():
    out = []
    for devices in (1, 2):
        env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}", JAX_PLATFORMS="cpu",
                   PYTHONPATH=str(ROOT))
        res = subprocess.run([sys.executable, "-c", SUBPROCESS.format(examples=str(EXAMPLES))], env=env,
                             capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr
        out.append(json.loads(res.stdout.strip().splitlines()[-1]))
    assert [o[0] for o in out] == [1, 2]
    assert out[0][1] == out[1][1]  # the failures; errors may move by an ulp (XLA's code for another shape)
    assert out[0][2] == pytest.approx(out[1][2], rel=1e-6)


def test_the_source_is_part_of_the_store_key(tmp_path):
    def g(key, n):
        return jax.random.uniform(key, ()) * 0.3

    with store.opened(tmp_path / "points.jsonl") as s:
        a = user_setting.count_failures(g, 5, 200, 0, eps=0.2)
        b = user_setting.count_failures(g, 5, 200, 0, eps=0.2)
        assert (s.measured, s.reused) == (1, 1) and a == b

        def g(key, n):  # same name, other source
            return jax.random.uniform(key, ()) * 0.1

        c = user_setting.count_failures(g, 5, 200, 0, eps=0.2)
        assert (s.measured, s.reused) == (2, 1) and c["failures"] == 0 < a["failures"]


# ---- the contract's errors: one line, exit 2 -------------------------------------------------------------
BAD = {
    "untraceable": ("def f(key, n):\n    u = jax.random.uniform(key, (n,))\n    return 1.0 if u.mean() > 0.5 else 0.0\n",
                    "not traceable"),
    "shape": ("def f(key, n):\n    return jax.random.uniform(key, (n,))\n", "shape (1,)"),
    "nan": ("def f(key, n):\n    return jnp.log(-jax.random.uniform(key, ()))\n", "NaN"),
    "inf": ("def f(key, n):\n    return 1.0 / jnp.floor(jax.random.uniform(key, ()))\n", "infinite"),
    "param": ("def f(key, n, p):\n    return jax.random.uniform(key, ()) * p\n", "takes no parameter 'q'"),
    "missing": ("def f(key, n, p):\n    return jax.random.uniform(key, ()) * p\n", "needs parameter 'p'"),
    "text": ("def f(key, n):\n    return 'error'\n", "returned str"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_broken_function_gets_one_line_and_exit_2(case, tmp_path, capsys):
    source, expected = BAD[case]
    path = tmp_path / f"bad_{case}.py"
    path.write_text("import jax\nimport jax.numpy as jnp\n\n" + source)
    params = {"param": ["p=0.5", "q=1"], "missing": []}.get(case, [])
    code = main(["nstar", f"{path}:f", "eps=0.2", "delta=0.1", "--trials", "100", *params])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and expected in err, err


@pytest.mark.parametrize("spec, expected", [
    ("nowhere.py:f", "no such file"), ("examples/ks.py:nothing", "has no function 'nothing'"),
    ("no_such_module_xyz:f", "importing it raised ModuleNotFoundError"), ("examples/ks.py:1f", "expected path"),
])
def test_a_bad_function_name_gets_one_line(spec, expected, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(["nstar", spec, "eps=0.2", "delta=0.1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expected in err, err


@pytest.mark.parametrize("args, expected", [
    (["delta=0.1"], "eps: missing"), (["eps=0.2", "delta=1.5"], "delta=1.5"), (["eps=0.2", "delta=x"], "expected a number"),
    (["eps=0.2", "delta=0.1", "--worst-case"], "--worst-case applies"), (["eps=0.2", "delta=0.1", "n_max=3"], "n_max"),
])
def test_bad_values_get_one_line(args, expected, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(["nstar", "examples/ks.py:ks_padded", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expected in err, err


def test_a_setting_that_never_succeeds_stops_at_max_n():
    from tm_transformer.experiments.nstar import own

    def always(key, n, n_max):
        return jnp.float32(1.0) + 0.0 * jax.random.uniform(key, ())

    with pytest.raises(user_setting.SettingError, match="past max_n = 64"):
        own(always, eps=0.5, delta=0.1, trials=100, max_n=64)


def test_a_parameter_named_like_a_keyword_goes_in_the_params_dict():
    from tm_transformer import experiments

    def scaled(key, n, n_max, trials):
        return coin.coin_padded(key, n, n_max, 0.3) * trials

    r = experiments.nstar(scaled, {"eps": 0.123, "delta": 0.1, "trials": 1}, trials=500)
    assert r.params == {"trials": 1} and r.trials == 500
    assert r.n_star_lo <= 41 <= r.n_star_hi  # the coin's exact n*


def test_module_form_loads_the_same_function(monkeypatch):
    monkeypatch.chdir(ROOT)
    f = user_setting.load("examples.coin:coin_padded")
    assert f.__module__ == "examples.coin" and f.__name__ == "coin_padded"


def test_cli_prints_the_built_in_keys(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(["nstar", "examples/coin.py:coin_padded", "eps=0.123", "delta=0.1", "p=0.3", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert main(["nstar", "coin", "eps=0.123", "delta=0.1", "p=0.3", "--json"]) == 0
    built_in = json.loads(capsys.readouterr().out)
    assert set(built_in) <= set(d) and d["exact"] is False and d["params"] == {"p": 0.3}
    assert d["n_star_lo"] <= built_in["n_star"] == 41 <= d["n_star_hi"]


def test_builtin_callers_are_unchanged():
    from tm_transformer.experiments.montecarlo import count_failures
    from tm_transformer.experiments.nstar import nstar

    with pytest.raises(TypeError):
        nstar("coin", {"eps": 0.2, "delta": 0.1}, p=0.5)
    with pytest.raises(TypeError):
        count_failures("coin", 10, 100, 0)  # a built-in count names its stream
    assert nstar("coin", {"eps": 0.2, "delta": 0.1}).n_star == 18
    with pytest.raises(user_setting.SettingError, match="noise"):
        nstar(ks.ks_padded, {"eps": 0.2, "delta": 0.1}, noise=0.1)


# ---- plots ----------------------------------------------------------------------------------------------
def test_plots_take_the_results():
    from tm_transformer import plots
    from tm_transformer.experiments.nstar import own

    rows = [{**own(coin.coin_padded, eps=eps, delta=0.1, p=0.3, trials=500, progress=False).as_dict(),
             "claim_f": np.log(2 / 0.1) / (2 * eps ** 2)} for eps in (0.15, 0.2)]
    assert plots.nstar(rows, x="eps", series="delta", claim="hoeffding", constant=1.0) is not None
    tests = [{**user_setting.count_failures(coin.coin_padded, n, 500, 0, eps=0.2, p=0.3), "delta": delta}
             for n, delta in ((10, 0.2), (20, 0.1))]
    assert plots.failure_rates(tests, series=("p",)) is not None


# ---- the object protocol --------------------------------------------------------------------------------
coin_setting = _example("coin_setting")


def test_a_setting_with_an_exact_law_gets_an_exact_n_star(capsys, monkeypatch):
    from tm_transformer import experiments

    r = experiments.nstar(coin_setting.coin, eps=0.123, delta=0.1, p=0.3)
    assert r.exact and r.n_star == r.n_star_lo == r.n_star_hi == exact_coin(0.3, 0.123, 0.1).n_star == 41
    monkeypatch.chdir(ROOT)
    assert main(["nstar", "examples/coin_setting.py:coin", "eps=0.123", "delta=0.1", "p=0.3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_star"] == 41


def test_a_setting_validates_and_simulates_its_own_law():
    c = coin_setting.coin
    with pytest.raises(user_setting.SettingError, match="p=1.5: expected a probability"):
        user_setting.count_failures(c, 10, 100, 0, eps=0.1, p=1.5)
    r = user_setting.count_failures(c, 37, 4000, 0, eps=0.123, p=0.3)
    assert binomial_p(r["failures"], 4000, c.exact_failure(37, 0.123, 0.3)) >= ALPHA
    assert r["function"] == "Coin"


def test_a_setting_whose_exact_law_is_wrong_is_caught():
    """The comparison can fail: an exact law for p = 0.4 does not match trials at p = 0.3."""
    c = coin_setting.coin
    r = user_setting.count_failures(c, 37, 4000, 0, eps=0.123, p=0.3)
    assert binomial_p(r["failures"], 4000, c.exact_failure(37, 0.123, 0.4)) < ALPHA


def test_a_setting_s_cheaper_sampler_follows_its_trial_s_law():
    c = coin_setting.coin
    check = user_setting.check_sampler(c, 37, 0.123, trials=20_000, p=0.3)
    assert check["power"] and check["agrees"], check
    assert (check["direct"]["sampler"], check["reduced"]["sampler"]) == ("direct", "reduced")
    assert binomial_p(check["reduced"]["failures"], 20_000, c.exact_failure(37, 0.123, 0.3)) >= ALPHA
    assert user_setting.count_failures(c, 37, 100, 0, eps=0.123, p=0.3)["sampler"] == "reduced"  # 'auto'


def test_a_wrong_sampler_is_caught():
    """The two-sample test can fail: a sampler at p + 0.05 differs from the trial at p."""
    class Off(coin_setting.Coin):
        def sampler(self, key, n, n_max, p):
            return super().sampler(key, n, n_max, p + 0.05)

    check = user_setting.check_sampler(Off(), 37, 0.123, trials=20_000, p=0.3)
    assert check["power"] and not check["agrees"]
