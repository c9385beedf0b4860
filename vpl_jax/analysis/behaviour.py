r"""Behaviour of trained networks (Wenliang & Seitz 2018, Fig. 2): accuracy curves grouped
by training separation, initial accuracy, the transfer index, final transfer accuracy against the
training separation and the train x test separation matrices, with their OLS regressions.

Every function is pure and takes a run's results Dataset (`vpl_jax.experiment.results_dataset`):
dims ``condition`` (coords ``separation_deg`` etc. per condition), ``iteration``, ``test``
(``trained, ori+45, ori+90, sf*0.5, sf*2``) and ``test_separation``. Separations are in degrees;
regressions use the natural log of the separation (the paper leaves the base open).
Accuracies are the mean p(correct) (``accuracy``, default) or the authors' per-fold symmetrised
value (``accuracy_sym``), both in [0, 1].

Regression tables (`ols_table`) are long pandas DataFrames with one row per (model, term) and the
columns

``term, beta, se, t, p, r2_term, ci_low, ci_high, r2, n, df_resid, testable, reason``

where ``r2`` is the model's R^2 and ``r2_term`` the term's share of the total sum of squares,
``SS_II(term) / SS_tot``, with ``SS_II`` the type-II sum of squares of
``statsmodels.stats.anova.anova_lm(fit, typ=2)`` (the drop in residual sum of squares when the term
is added to the model holding every other term that does not contain it) and ``SS_tot`` the
centred total sum of squares. For a one-predictor model ``r2_term == r2``. A model that cannot be
fitted on the data (a single separation, too few finite observations, a constant response or a
rank-deficient design) gives rows with ``testable=False``, a ``reason`` string and NaN numbers --
never a fabricated value.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from theory.checks import InputError

__all__ = [
    "check_dataset",
    "group_by_separation",
    "iteration_index",
    "ACCURACY_VARIABLES",
    "TRANSFER_TESTS",
    "accuracy_curves",
    "final_accuracy",
    "final_transfer_accuracy",
    "final_transfer_regression",
    "initial_accuracy",
    "ols_table",
    "separation_matrices",
    "separation_regression",
    "transfer_index",
    "transfer_index_curves",
]

#: Per-iteration accuracy variables of the results Dataset.
ACCURACY_VARIABLES: tuple[str, ...] = ("accuracy", "accuracy_sym")
#: Separation-sweep accuracy variables of the results Dataset.
SEPARATION_VARIABLES: tuple[str, ...] = ("separation_accuracy", "separation_accuracy_sym")
#: The four transfer tests (all of the ``test`` axis except ``trained``).
TRANSFER_TESTS: tuple[str, ...] = ("ori+45", "ori+90", "sf*0.5", "sf*2")

_COLUMNS = (
    "term",
    "beta",
    "se",
    "t",
    "p",
    "r2_term",
    "ci_low",
    "ci_high",
    "r2",
    "n",
    "df_resid",
    "testable",
    "reason",
)


# --------------------------------------------------------------------------------------------
# Argument checks


def check_dataset(ds, variables: Sequence[str], name: str = "ds") -> None:
    """Raise `InputError` unless ``ds`` is a Dataset holding ``variables``."""
    if not isinstance(ds, xr.Dataset):
        raise InputError(f"{name} must be an xarray.Dataset (results_dataset), got {type(ds)}")
    missing = [v for v in variables if v not in ds.variables]
    if missing:
        raise InputError(f"{name} lacks the variable(s) {missing}; it has {sorted(ds.data_vars)}")


def _check_choice(value, allowed: Sequence[str], name: str) -> None:
    if value not in allowed:
        raise InputError(f"{name} must be one of {tuple(allowed)}, got {value!r}")


def _check_tests(ds, tests: Sequence[str], name: str = "tests") -> tuple[str, ...]:
    if isinstance(tests, str):
        tests = (tests,)
    tests = tuple(tests)
    if not tests:
        raise InputError(f"{name} must name at least one test")
    known = tuple(str(t) for t in ds.test.values)
    bad = [t for t in tests if t not in known]
    if bad:
        raise InputError(f"{name} must be among {known}, got {bad}")
    return tests


def iteration_index(ds, iteration) -> int:
    """Position of evaluation ``iteration`` on ``ds.iteration`` (None: the last)."""
    its = [int(i) for i in ds.iteration.values]
    if iteration is None:
        return len(its) - 1
    if int(iteration) not in its:
        raise InputError(
            f"iteration must be one of the evaluation iterations {its}, got {iteration}"
        )
    return its.index(int(iteration))


# --------------------------------------------------------------------------------------------
# OLS with per-term R^2


def _not_testable(terms: Sequence[str], reason: str, n: int) -> pd.DataFrame:
    rows = []
    for term in terms:
        row = dict.fromkeys(_COLUMNS, np.nan)
        row.update(term=term, n=int(n), df_resid=np.nan, testable=False, reason=reason)
        rows.append(row)
    return pd.DataFrame(rows, columns=list(_COLUMNS))


def ols_table(
    data: pd.DataFrame, formula: str, terms: Sequence[str], *, alpha: float = 0.01
) -> pd.DataFrame:
    r"""Fit ``formula`` by statsmodels OLS and tabulate ``terms`` (see the module docstring).

    Rows with a non-finite value in any column the formula uses are dropped before fitting.

    Args:
        data: one row per observation; the columns named in ``formula``.
        formula: a patsy formula on plain column names, e.g. ``"accuracy ~ log_sep"`` or
            ``"psi ~ log_sep * layer"``.
        terms: the terms to report, named as statsmodels names them (``"log_sep"``,
            ``"log_sep:layer"``).
        alpha: level of the reported confidence interval ``[ci_low, ci_high]`` (0.01, the paper's
            significance level).

    Returns:
        ``len(terms)`` rows with the columns of the module docstring; ``r2_term`` is
        ``SS_II(term) / SS_tot`` (type-II ANOVA).

    Raises:
        ValueError: ``data`` not a DataFrame, a formula column missing, or ``alpha`` outside (0, 1).
    """
    import statsmodels.formula.api as smf
    from statsmodels.stats.anova import anova_lm

    if not isinstance(data, pd.DataFrame):
        raise InputError(f"data must be a pandas DataFrame, got {type(data)}")
    if not 0.0 < alpha < 1.0:
        raise InputError(f"alpha must be in (0, 1), got {alpha!r}")
    response, rhs = (s.strip() for s in formula.split("~", 1))
    names = {response} | {
        tok.strip() for part in rhs.replace("*", "+").replace(":", "+").split("+") for tok in [part]
    }
    names.discard("1")
    missing = sorted(n for n in names if n not in data.columns)
    if missing:
        raise InputError(f"data lacks the column(s) {missing} named in formula {formula!r}")
    cols = sorted(names)
    values = data[cols].to_numpy(dtype=float)
    clean = data.loc[np.all(np.isfinite(values), axis=1), cols]
    n = len(clean)
    predictors = sorted(names - {response})
    for col in predictors:
        if clean[col].nunique() < 2:
            return _not_testable(terms, f"{col} takes fewer than 2 distinct values", n)
    if n == 0 or np.ptp(clean[response].to_numpy()) == 0.0:
        return _not_testable(terms, f"{response} is constant (or there is no finite data)", n)
    model = smf.ols(formula, data=clean)
    exog = model.exog
    if n <= exog.shape[1]:
        return _not_testable(terms, f"{n} observations for {exog.shape[1]} coefficients", n)
    if np.linalg.matrix_rank(exog) < exog.shape[1]:
        return _not_testable(terms, "the design matrix is rank deficient (collinear terms)", n)
    fit = model.fit()
    unknown = [t for t in terms if t not in fit.params.index]
    if unknown:
        raise InputError(f"terms {unknown} are not in the model; it has {list(fit.params.index)}")
    sum_sq = anova_lm(fit, typ=2)["sum_sq"]
    ci = fit.conf_int(alpha=alpha)
    rows = []
    for term in terms:
        rows.append(
            {
                "term": term,
                "beta": float(fit.params[term]),
                "se": float(fit.bse[term]),
                "t": float(fit.tvalues[term]),
                "p": float(fit.pvalues[term]),
                "r2_term": float(sum_sq[term] / fit.centered_tss),
                "ci_low": float(ci.loc[term, 0]),
                "ci_high": float(ci.loc[term, 1]),
                "r2": float(fit.rsquared),
                "n": int(fit.nobs),
                "df_resid": float(fit.df_resid),
                "testable": True,
                "reason": "",
            }
        )
    return pd.DataFrame(rows, columns=list(_COLUMNS))


# --------------------------------------------------------------------------------------------
# Accuracy curves, initial accuracy, transfer index


def group_by_separation(da: xr.DataArray, ds) -> xr.Dataset:
    """Mean, SD (ddof 0) and count over the conditions of each training separation."""
    da = da.assign_coords(separation=("condition", ds.separation_deg.values.astype(float)))
    groups = da.groupby("separation")
    out = xr.Dataset(
        {
            "mean": groups.mean("condition"),
            "sd": groups.std("condition"),
            "n": groups.count("condition"),
        }
    )
    out.separation.attrs["units"] = "deg"
    return out


def accuracy_curves(ds, *, variable: str = "accuracy") -> xr.Dataset:
    """Accuracy against iteration, grouped by training separation (Fig. 2A, top).

    Args:
        ds: results Dataset.
        variable: ``"accuracy"`` (mean p(correct)) or ``"accuracy_sym"``.

    Returns:
        Dataset with ``mean``, ``sd`` (population SD over conditions) and ``n`` of shape
        ``(separation, iteration, test)``; ``separation`` in degrees, ascending.

    Raises:
        ValueError: ``ds`` not a results Dataset or ``variable`` unknown.
    """
    _check_choice(variable, ACCURACY_VARIABLES, "variable")
    check_dataset(ds, [variable, "separation_deg"])
    return group_by_separation(ds[variable], ds)


def initial_accuracy(ds, *, variable: str = "accuracy", iteration: int = 1) -> xr.Dataset:
    """Accuracy at iteration 1 (only the readout has moved) per training separation and test.

    Returns:
        Dataset with ``mean``, ``sd`` and ``n`` of shape ``(separation, test)``.

    Raises:
        ValueError: ``variable`` unknown or ``iteration`` not an evaluation iteration.
    """
    _check_choice(variable, ACCURACY_VARIABLES, "variable")
    check_dataset(ds, [variable, "separation_deg"])
    idx = iteration_index(ds, iteration)
    return group_by_separation(ds[variable].isel(iteration=idx), ds)


def transfer_index(ds, *, variable: str = "accuracy", tests=TRANSFER_TESTS) -> xr.DataArray:
    r"""Transfer index ``TI = acc_transfer / acc_trained`` per condition, iteration and test.

    .. math:: TI_k(t) = \frac{a_k(t)}{a_{trained}(t)}

    Args:
        ds: results Dataset.
        variable: ``"accuracy"`` or ``"accuracy_sym"``.
        tests: transfer tests (default the four of `TRANSFER_TESTS`).

    Returns:
        ``(condition, iteration, test)`` with ``test`` = ``tests``; NaN where the trained accuracy
        is 0.

    Raises:
        ValueError: bad ``variable`` or ``tests``.

    References:
        Wenliang & Seitz (2018), Fig. 2A bottom.
    """
    _check_choice(variable, ACCURACY_VARIABLES, "variable")
    check_dataset(ds, [variable])
    tests = _check_tests(ds, tests)
    acc = ds[variable]
    trained = acc.sel(test="trained")
    ti = acc.sel(test=list(tests)) / trained.where(trained != 0)
    return ti.rename("transfer_index")


def transfer_index_curves(ds, *, variable: str = "accuracy", tests=TRANSFER_TESTS) -> xr.Dataset:
    """`transfer_index` grouped by training separation: ``mean``, ``sd``, ``n`` of shape
    ``(separation, iteration, test)``."""
    return group_by_separation(transfer_index(ds, variable=variable, tests=tests), ds)


def final_accuracy(ds, *, variable: str = "accuracy", iteration: int | None = None):
    """Accuracy at the last (or a given) evaluation iteration, ``(condition, test)``.

    Raises:
        ValueError: bad ``variable`` or ``iteration``.
    """
    _check_choice(variable, ACCURACY_VARIABLES, "variable")
    check_dataset(ds, [variable])
    return ds[variable].isel(iteration=iteration_index(ds, iteration))


def final_transfer_accuracy(ds, *, variable: str = "accuracy", tests=TRANSFER_TESTS):
    """Final transfer accuracy per training separation (Fig. 2B): ``mean``, ``sd``, ``n`` of shape
    ``(separation, test)``."""
    tests = _check_tests(ds, tests)
    return group_by_separation(final_accuracy(ds, variable=variable).sel(test=list(tests)), ds)


def final_transfer_regression(
    ds, *, variable: str = "accuracy", tests=TRANSFER_TESTS, alpha: float = 0.01
) -> pd.DataFrame:
    r"""OLS ``accuracy ~ log(separation)`` of the final accuracy, per transfer test (Fig. 2B).

    One observation per condition; ``separation`` is the training separation in degrees and the
    log is natural.

    .. math:: a_{c,k}(T) = \beta_0 + \beta\,\ln s_c + \varepsilon

    Returns:
        One row per test: ``test`` and the columns of `ols_table` (``term = "log_sep"``; its
        ``r2_term`` equals the model R^2; ``df_resid = n - 2``).

    Raises:
        ValueError: bad ``variable`` or ``tests``.

    References:
        Wenliang & Seitz (2018), Fig. 2B: beta > 0, p < 1e-4, R^2 ~ 0.2 in every transfer test.
    """
    tests = _check_tests(ds, tests)
    acc = final_accuracy(ds, variable=variable)
    seps = ds.separation_deg.values.astype(float)
    tables = []
    for test in tests:
        data = pd.DataFrame(
            {"accuracy": acc.sel(test=test).values.astype(float), "log_sep": np.log(seps)}
        )
        table = ols_table(data, "accuracy ~ log_sep", ["log_sep"], alpha=alpha)
        table.insert(0, "test", test)
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


# --------------------------------------------------------------------------------------------
# Train x test separation matrices


def separation_matrices(ds, *, variable: str = "separation_accuracy") -> xr.Dataset:
    """The train x test separation matrices (Fig. 2C), mean over conditions.

    Args:
        ds: results Dataset.
        variable: ``"separation_accuracy"`` or ``"separation_accuracy_sym"``.

    Returns:
        Dataset with ``mean``, ``sd`` and ``n`` of shape ``(separation, test, test_separation)``:
        rows the training separation, columns the test separation (both degrees).

    Raises:
        ValueError: ``variable`` unknown or missing from ``ds``.
    """
    _check_choice(variable, SEPARATION_VARIABLES, "variable")
    check_dataset(ds, [variable, "separation_deg"])
    return group_by_separation(ds[variable], ds)


def separation_regression(
    ds,
    *,
    variable: str = "separation_accuracy",
    tests=TRANSFER_TESTS,
    alpha: float = 0.01,
) -> pd.DataFrame:
    r"""OLS ``accuracy ~ log(test_sep) + log(train_sep)`` per transfer test (Fig. 2C).

    One observation per (condition, test separation): ``conditions x len(test_separation)``.

    .. math:: a = \beta_0 + \beta_{test} \ln s_{test} + \beta_{train} \ln s_{train} + \varepsilon

    Returns:
        Two rows per test (terms ``log_test_sep`` and ``log_train_sep``): ``test`` and the columns
        of `ols_table`; ``r2_term`` is the term's type-II share of the total sum of squares.

    Raises:
        ValueError: bad ``variable`` or ``tests``.

    References:
        Wenliang & Seitz (2018), Fig. 2C: beta_test > 0 (R^2 ~ 0.35+), beta_train < 0
        (R^2 ~ 0.05; 0.018 for ori+90).
    """
    _check_choice(variable, SEPARATION_VARIABLES, "variable")
    check_dataset(ds, [variable, "separation_deg"])
    tests = _check_tests(ds, tests)
    acc = ds[variable].transpose("condition", "test", "test_separation")
    n_cond, n_test_sep = acc.sizes["condition"], acc.sizes["test_separation"]
    train_sep = np.repeat(ds.separation_deg.values.astype(float), n_test_sep)
    test_sep = np.tile(ds.test_separation.values.astype(float), n_cond)
    terms = ["log_test_sep", "log_train_sep"]
    tables = []
    for test in tests:
        data = pd.DataFrame(
            {
                "accuracy": acc.sel(test=test).values.astype(float).reshape(-1),
                "log_test_sep": np.log(test_sep),
                "log_train_sep": np.log(train_sep),
            }
        )
        table = ols_table(data, "accuracy ~ log_test_sep + log_train_sep", terms, alpha=alpha)
        table.insert(0, "test", test)
        tables.append(table)
    return pd.concat(tables, ignore_index=True)
