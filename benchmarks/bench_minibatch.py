"""Minibatch speed: the seed notebook's 40000 x 100 Normal model, symvi vs PyMC vs NumPyro.

Usage::

    python benchmarks/bench_minibatch.py [--quick] [--pymc-python PATH] [--numpyro-python PATH]
                                         [--zarr-gb 2.0 | --no-zarr]

Model (as in the seed): ``mu ~ Normal(0, 1e5, shape=100)``, ``sd ~ HalfNormal(shape=100)``,
``Normal(mu, sd, observed=X, total_size=data.shape)`` with mean-field ADVI and Adam.

Workloads: ``minibatch500`` (random 500-row batches each step), ``fixed500`` (symvi only: a
constant 500-row batch, i.e. the cost without drawing/gathering rows), ``stream500`` (symvi
only: :class:`symvi.streaming.StreamingMinibatch` over the in-memory array, buffer refills
included) and ``full`` (all 40 000 rows every step).

Steady-state microseconds per step, median of repeats.  symvi: ``refine(N) / N`` on the
compiled K-step loop.  PyMC / NumPyro (each in its own interpreter, default
``/tmp/venv-pymc/bin/python`` and ``/tmp/venv-numpyro/bin/python``): the difference of a long
and a short fit divided by the difference in steps, which cancels their per-fit compile.
BLAS threads are pinned to 1.  Writes ``benchmarks/results/minibatch.json``.

``--zarr-gb`` additionally writes a zarr array of that many GB (float64, 100 columns) to a
temporary directory and streams one full epoch of it through a fit in a fresh process,
reporting the resident memory (VmRSS after warm-up, VmHWM peak) next to the data size.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent / "workers"))
from timing import median_step_time, median_time  # noqa: E402 - shared with the other benchmark workers
from workloads import build, digits_data  # noqa: E402 - the seed's digits Poisson-Gamma model

HERE = Path(__file__).resolve().parent
N_ROWS, N_COLS, BATCH = 40000, 100, 500


def seed_data(seed=0, n_rows=N_ROWS):
    """The seed notebook's data: uniform columns, scaled and shifted per column."""
    r = np.random.default_rng(seed)
    data = r.random((n_rows, N_COLS))
    data *= r.integers(1, 10, size=(N_COLS,))
    data += r.random(N_COLS) * 10
    return data


def _proc_status(key):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key):
                return int(line.split()[1]) / 1024  # MiB
    return None


# ---------------------------------------------------------------------- workers
def worker_symvi(steps):
    import symvi as pm
    from symvi.streaming import StreamingMinibatch

    data = seed_data()
    rows = []
    name = "symvi" if os.environ.get("SYMVI_FUSED_REDUCE", "1") != "0" else "symvi_unfused"
    if name == "symvi" and os.environ.get("SYMVI_FUSED_LINEAR", "1") == "0":
        name = "symvi_nolinear"  # fused loops without symvi.fused_reduce_linear
    for workload in ("minibatch500", "fixed500", "stream500", "full", "digits"):
        if workload == "digits":
            model = build(pm, "digits")
        elif workload == "minibatch500":
            obs, total = pm.Minibatch(data, batch_size=BATCH, random_seed=1), data.shape
        elif workload == "fixed500":
            obs, total = data[:BATCH], data.shape
        elif workload == "stream500":
            obs, total = StreamingMinibatch(data, batch_size=BATCH, random_seed=1).tensor, data.shape
        else:
            obs, total = data, None
        if workload != "digits":
            with pm.Model() as model:
                mu = pm.Normal("mu", 0, sigma=1e5, shape=(N_COLS,))
                sd = pm.HalfNormal("sd", shape=(N_COLS,))
                pm.Normal("likelihood", mu, sigma=sd, observed=obs, total_size=total)
        n_long, _, repeats = steps[workload == "full"]
        t0 = time.perf_counter()
        inf = pm.ADVI(model=model, random_seed=1)
        inf.fit(max(10, n_long // 10), obj_optimizer=pm.adam(learning_rate=0.01), progressbar=False)
        first = time.perf_counter() - t0
        steady = median_time(lambda: inf.refine(n_long, progressbar=False), repeats) / n_long
        rows.append({"framework": name, "workload": workload, "us_per_step": steady * 1e6, "first_fit_s": first})
        if workload == "full" and name == "symvi":  # the memory floor: one numpy pass over the 32 MB array
            floor = median_time(lambda: [data.sum() for _ in range(20)], 5) / 20
            rows.append({"framework": "numpy floor", "workload": workload, "us_per_step": floor * 1e6, "first_fit_s": 0.0})
    return rows


def worker_pymc(steps):
    import pymc as pm

    data = seed_data()
    rows = []
    for workload in ("minibatch500", "full", "digits"):
        obs = pm.Minibatch(data, batch_size=BATCH) if workload == "minibatch500" else data
        with build(pm, "digits") if workload == "digits" else pm.Model():
            if workload != "digits":
                mu = pm.Normal("mu", 0, sigma=1e5, shape=(N_COLS,))
                sd = pm.HalfNormal("sd", shape=(N_COLS,))
                pm.Normal("likelihood", mu, sigma=sd, observed=obs, total_size=N_ROWS if workload != "full" else None)
                # (an int: PyMC 5.28 raises IndexError for a tuple total_size on a 2-D minibatch)
            n_long, n_short, repeats = steps[workload == "full"]
            t0 = time.perf_counter()
            inf = pm.ADVI(random_seed=1)
            inf.fit(n_short, obj_optimizer=pm.adam(learning_rate=0.01), progressbar=False)
            first = time.perf_counter() - t0
            # each PyMC fit call compiles again: long minus short cancels that fixed cost
            steady = median_step_time(lambda n: inf.fit(n, obj_optimizer=pm.adam(learning_rate=0.01), progressbar=False), n_long, n_short, repeats)
        rows.append({"framework": "pymc", "workload": workload, "us_per_step": steady * 1e6, "first_fit_s": first})
    return rows


def worker_numpyro(steps):
    import jax
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    from numpyro.infer import SVI, Trace_ELBO
    from numpyro.infer.autoguide import AutoNormal

    jax.config.update("jax_enable_x64", True)
    data = jnp.asarray(seed_data())

    def model(x, subsample):
        mu = numpyro.sample("mu", dist.Normal(0.0, 1e5).expand([N_COLS]).to_event(1))
        sd = numpyro.sample("sd", dist.HalfNormal(1.0).expand([N_COLS]).to_event(1))
        with numpyro.plate("rows", N_ROWS, subsample_size=subsample) as idx:
            numpyro.sample("likelihood", dist.Normal(mu, sd).to_event(1), obs=x[idx])

    def digits_model(X, a, b):
        theta = numpyro.sample("theta", dist.Gamma(a, b).to_event(1))
        numpyro.sample("x", dist.Poisson(theta).to_event(1), obs=X)

    rows = []
    for workload in ("minibatch500", "full", "digits"):
        subsample = BATCH if workload == "minibatch500" else None
        n_long, n_short, repeats = steps[workload == "full"]
        fn, args = (digits_model, tuple(map(jnp.asarray, digits_data()))) if workload == "digits" else (model, (data, subsample))

        def run(n):
            svi = SVI(fn, AutoNormal(fn), numpyro.optim.Adam(0.01), Trace_ELBO())
            return svi.run(jax.random.PRNGKey(1), n, *args, progress_bar=False).losses.block_until_ready()

        t0 = time.perf_counter()
        run(n_short)
        first = time.perf_counter() - t0
        steady = median_step_time(run, n_long, n_short, repeats)
        rows.append({"framework": "numpyro", "workload": workload, "us_per_step": steady * 1e6, "first_fit_s": first})
    return rows


def worker_scale(rows):
    """Full-batch fit of a ``rows`` x 100 float64 array: resident memory next to the data size."""
    import symvi as pm

    rss_start = _proc_status("VmRSS:")
    r = np.random.default_rng(0)
    data = np.empty((rows, N_COLS))
    for a in range(0, rows, 10000):  # filled in 8 MB blocks: the peak is the fit's, not the filling's
        b = min(a + 10000, rows)
        data[a:b] = r.random((b - a, N_COLS)) * 5 + 2
    rss_data = _proc_status("VmRSS:")
    with pm.Model() as model:
        mu = pm.Normal("mu", 0, sigma=1e5, shape=(N_COLS,))
        sd = pm.HalfNormal("sd", shape=(N_COLS,))
        pm.Normal("likelihood", mu, sigma=sd, observed=data)
    inf = pm.ADVI(model=model, random_seed=1)
    t0 = time.perf_counter()
    inf.fit(10, obj_optimizer=pm.adam(learning_rate=0.01), progressbar=False)
    first = time.perf_counter() - t0
    n = 50
    t0 = time.perf_counter()
    inf.refine(n, progressbar=False)
    steady = (time.perf_counter() - t0) / n
    return [{"rows": rows, "data_mib": data.nbytes / 2**20, "rss_start_mib": rss_start, "rss_with_data_mib": rss_data,
             "rss_peak_mib": _proc_status("VmHWM:"), "rss_end_mib": _proc_status("VmRSS:"),
             "us_per_step": steady * 1e6, "first_fit_s": first}]


def worker_zarr_write(path, gb):
    import zarr

    n = int(gb * 2**30 / (8 * N_COLS))
    chunk = 20000
    z = zarr.create_array(store=path, shape=(n, N_COLS), chunks=(chunk, N_COLS), dtype="float64")
    r = np.random.default_rng(0)
    shift = r.random(N_COLS) * 10
    for a in range(0, n, chunk):
        b = min(a + chunk, n)
        z[a:b] = r.random((b - a, N_COLS)) + shift
    return [{"rows": n, "bytes": n * N_COLS * 8}]


def worker_zarr_stream(path):
    import symvi as pm
    from symvi.streaming import StreamingMinibatch

    s = StreamingMinibatch.from_zarr(path, batch_size=BATCH, epochs=1, prefetch=8, random_seed=1)
    with pm.Model() as model:
        mu = pm.Normal("mu", 0, sigma=1e5, shape=(N_COLS,))
        sd = pm.HalfNormal("sd", shape=(N_COLS,))
        pm.Normal("likelihood", mu, sigma=sd, observed=s.tensor, total_size=(s.total_size, N_COLS))
    inf = pm.ADVI(model=model, random_seed=1)
    inf.fit(20, obj_optimizer=pm.adam(learning_rate=0.01), progressbar=False)  # compile
    rss_warm = _proc_status("VmRSS:")
    t0 = time.perf_counter()
    inf.refine(10**9, progressbar=False)  # stops when the epoch ends
    wall = time.perf_counter() - t0
    steps = len(inf.hist) - 20
    return [{
        "rows": s.total_size, "data_mib": s.total_size * N_COLS * 8 / 2**20, "rows_delivered": s.rows_delivered,
        "steps": steps, "us_per_step": wall / steps * 1e6, "epoch_s": wall,
        "rss_after_warmup_mib": rss_warm, "rss_end_mib": _proc_status("VmRSS:"), "rss_peak_mib": _proc_status("VmHWM:"),
        "buffer_mib": sum(b.get_value(borrow=True).nbytes for b in s.buffers) / 2**20,
    }]


# ---------------------------------------------------------------------- driver
def run_worker(python, args, **extra_env):
    env = dict(os.environ, **extra_env, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONWARNINGS="ignore",
               XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    cmd = [python, str(Path(__file__).resolve()), "--worker", *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        print(f"[{args[0]}] failed:\n{proc.stderr[-3000:]}", file=sys.stderr)
        return []
    return json.loads(proc.stdout.strip().splitlines()[-1])


def table(rows):
    order = ["minibatch500", "fixed500", "stream500", "full", "digits"]
    by = {(r["framework"], r["workload"]): r for r in rows}
    lines = ["| workload | framework | us/step | first fit s | vs symvi |", "|---|---|---|---|---|"]
    for w in order:
        base = by.get(("symvi", w))
        for fw in ("symvi", "symvi_nolinear", "symvi_unfused", "numpy floor", "pymc", "numpyro"):
            r = by.get((fw, w))
            if r is None:
                continue
            ratio = f"{r['us_per_step'] / base['us_per_step']:.2f}x" if base else "-"
            lines.append(f"| {w} | {fw} | {r['us_per_step']:.1f} | {r['first_fit_s']:.2f} | {ratio} |")
    return "\n".join(lines)


def goals(rows):
    """Issue 15's goals, each with its measured ratio."""
    us = {(r["framework"], r["workload"]): r["us_per_step"] for r in rows}
    checks = [
        ("full batch >= 2x faster than PyMC", ("pymc", "full"), ("symvi", "full"), 2.0),
        ("full batch within 2x of the memory floor", ("symvi", "full"), ("numpy floor", "full"), -2.0),
        ("minibatch 500 >= 3x faster than PyMC", ("pymc", "minibatch500"), ("symvi", "minibatch500"), 3.0),
        ("digits at or below NumPyro", ("numpyro", "digits"), ("symvi", "digits"), 1.0),
    ]
    out = []
    for text, num, den, need in checks:
        if num in us and den in us:
            ratio = us[num] / us[den]
            ok = ratio >= need if need > 0 else ratio <= -need
            out.append(f"{'MET ' if ok else 'NOT MET'} {text}: ratio {ratio:.2f} ({num[0]} {us[num]:.0f} us / {den[0]} {us[den]:.0f} us)")
    return "\n".join(out)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--worker":
        name, rest = argv[1], argv[2:]
        steps = json.loads(rest[0]) if name in ("symvi", "pymc", "numpyro") else None
        fn = {"symvi": worker_symvi, "pymc": worker_pymc, "numpyro": worker_numpyro}.get(name)
        if fn is not None:
            out = fn(steps)
        elif name == "scale":
            out = worker_scale(int(float(rest[0])))
        elif name == "zarr_write":
            out = worker_zarr_write(rest[0], float(rest[1]))
        else:
            out = worker_zarr_stream(rest[0])
        print(json.dumps(out))
        return
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pymc-python", default=os.environ.get("PYMC_PYTHON", "/tmp/venv-pymc/bin/python"))
    p.add_argument("--numpyro-python", default=os.environ.get("NUMPYRO_PYTHON", "/tmp/venv-numpyro/bin/python"))
    p.add_argument("--quick", action="store_true", help="fewer steps and repeats (smoke run)")
    p.add_argument("--zarr-gb", type=float, default=2.0, help="size of the streamed zarr array (GB)")
    p.add_argument("--no-zarr", action="store_true", help="skip the zarr streaming memory measurement")
    p.add_argument("--scale-rows", type=float, default=1e6, help="rows of the full-batch memory run (0: skip)")
    p.add_argument("--no-unfused", action="store_true", help="skip symvi without fused reductions (SYMVI_FUSED_REDUCE=0)")
    p.add_argument("--cpu-time", action="store_true", help="time with process CPU time, not the wall clock (a loaded machine)")
    a = p.parse_args(argv)
    # (n_long, n_short, repeats) for the 500-row workloads and for the full-data one
    steps = [[1000, 100, 1], [20, 5, 1]] if a.quick else [[5000, 500, 7], [60, 10, 5]]
    if a.cpu_time:
        os.environ["SYMVI_BENCH_CPU_TIME"] = "1"  # (the workers inherit it)
    rows = run_worker(sys.executable, ["symvi", json.dumps(steps)])
    if not a.no_unfused:  # the same fits without symvi.fused_reduce
        rows += run_worker(sys.executable, ["symvi", json.dumps(steps)], SYMVI_FUSED_REDUCE="0")
        rows += run_worker(sys.executable, ["symvi", json.dumps(steps)], SYMVI_FUSED_LINEAR="0")
    for name, python in (("pymc", a.pymc_python), ("numpyro", a.numpyro_python)):
        if Path(python).exists():
            rows += run_worker(python, [name, json.dumps(steps)])
        else:
            print(f"[{name}] interpreter {python} not found: skipped", file=sys.stderr)
    print(table(rows))
    print(goals(rows))
    result = {"steps_long_short_repeats": steps, "rows": rows}
    if a.scale_rows:
        scale = run_worker(sys.executable, ["scale", a.scale_rows])
        if scale:
            z = scale[0]
            print(f"\nscale: {z['rows']} x {N_COLS} float64 full batch ({z['data_mib']:.0f} MiB): peak RSS {z['rss_peak_mib']:.0f} MiB "
                  f"= {z['rss_peak_mib'] / z['data_mib']:.2f}x the data (interpreter before the data {z['rss_start_mib']:.0f} MiB, "
                  f"with the data {z['rss_with_data_mib']:.0f} MiB); {z['us_per_step'] / 1000:.1f} ms/step, first fit {z['first_fit_s']:.1f} s")
            result["scale"] = z
    if not a.no_zarr:
        try:
            import zarr  # noqa: F401
        except ImportError:
            print("[zarr] not installed: streaming memory measurement skipped", file=sys.stderr)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "big.zarr")
                written = run_worker(sys.executable, ["zarr_write", path, a.zarr_gb])
                streamed = run_worker(sys.executable, ["zarr_stream", path]) if written else []
            if streamed:
                z = streamed[0]
                print(f"\nzarr streaming: {z['data_mib']:.0f} MiB array, one epoch = {z['steps']} steps of {BATCH} rows "
                      f"in {z['epoch_s']:.1f} s ({z['us_per_step']:.0f} us/step); RSS after warm-up "
                      f"{z['rss_after_warmup_mib']:.0f} MiB, at the end {z['rss_end_mib']:.0f} MiB, peak {z['rss_peak_mib']:.0f} MiB "
                      f"(batch buffer {z['buffer_mib']:.0f} MiB)")
                result["zarr_stream"] = z
    out = HERE / "results" / "minibatch.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
