"""Load time and peak memory of the SAT-4 data layer on a synthetic full-size file.

Generates, chunk by chunk (the generator holds one chunk), a synthetic SAT-4 train split of
``--n`` images (default 400,000, the real size) in the Kaggle CSV layout and, with
``--formats csv,mat``, the official MATLAB v5 layout too; then runs each step in a fresh
process and records its wall time and peak memory:

  csv-parse       the CSV parser alone vs np.loadtxt, on one chunk (throughput, MB/s)
  csv-load        load_sat4(X_train_sat4.csv): chunked parse into one uint8 array
  csv-convert     convert_to_cache(csv -> cache): one chunk in memory
  mat-load        load_sat4(.mat v5): scipy.io.loadmat reads the split whole
  mat-convert     convert_to_cache(.mat -> cache)
  cache-open      load_sat4(cache): np.load(mmap_mode="r")
  cache-verify    load_sat4(cache, verify=True): sha256 over every byte
  describe        describe(cache): streaming per-band mean/std (what `qlsgan data-info` runs)
  dataset-epoch   one epoch of make_dataset(cache images, batch_size=256, seed=0)

Peak memory is reported as ``peak_rss`` (VmHWM, reset after imports; includes file pages
mapped from the memory map, which the kernel can drop at will) and ``peak_anon`` (sampled
RssAnon: the process's own heap, what a full data set in RAM would cost), each with the value
right after imports as ``base_*``. Prints a table and writes ``benchmarks/results/data_load.json``.

Usage: python benchmarks/data_load.py [--n 400000] [--formats csv,mat] [--workdir DIR] [--keep]
"""
import argparse
import json
import os
import platform
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results", "data_load.json")
GEN_CHUNK = 2000


# ---------------------------------------------------------------------------------------------
# Synthetic data, generated chunk by chunk.

def synthetic_chunk(start, n, seed=0):
    """Images uint8 [n, 28, 28, 4] and labels int64 [n] for rows start..start+n (reproducible)."""
    rng = np.random.default_rng([seed, start])
    # Pixel values like SAT-4's (mostly 3 digits, so the CSV has the real size per row).
    images = np.clip(rng.normal(125.0, 40.0, size=(n, 28, 28, 4)), 0, 255).astype(np.uint8)
    labels = rng.integers(0, 4, size=n)
    return images, labels


def _digit_table():
    """Row v: the text of v followed by ',', right-aligned in 4 bytes, zero-padded on the left."""
    table = np.zeros((256, 4), np.uint8)
    for v in range(256):
        text = f"{v},".encode()
        table[v, 4 - len(text):] = list(text)
    return table


def csv_bytes(images, table):
    """The Kaggle CSV text of ``images`` (one row per image), built without a Python loop."""
    tokens = table[images.reshape(images.shape[0], -1)]  # [n, 3136, 4]
    tokens[:, -1, 3] = ord("\n")  # the last value of a row ends the line
    return tokens[tokens != 0].tobytes()


def _mat_element_header(name, dims, mx_class, data_type, n_bytes):
    """Tag and subelements of an uncompressed MATLAB v5 miMATRIX up to the real-data tag."""
    def pad8(b):
        return b + b"\0" * (-len(b) % 8)
    flags = struct.pack("<IIII", 6, 8, mx_class, 0)  # miUINT32 array flags; class in low byte
    dims_el = pad8(struct.pack("<II", 5, 4 * len(dims)) + struct.pack(f"<{len(dims)}i", *dims))
    name_el = pad8(struct.pack("<II", 1, len(name)) + name.encode())
    data_tag = struct.pack("<II", data_type, n_bytes)
    body_len = len(flags) + len(dims_el) + len(name_el) + len(data_tag) + n_bytes + (-n_bytes % 8)
    return struct.pack("<II", 14, body_len) + flags + dims_el + name_el + data_tag


def write_mat_v5_header(f):
    text = b"MATLAB 5.0 MAT-file, Platform: posix, Created by: qlsgan_tf benchmarks/data_load.py"
    f.write(text.ljust(116, b" ") + b"\0" * 8 + struct.pack("<H", 0x0100) + b"IM")


def generate(workdir, n, formats):
    """Writes X/y_train_sat4.csv and/or sat-4-full.mat (train split of n images)."""
    table = _digit_table()
    paths = {}
    files = {}
    if "csv" in formats:
        paths["csv"] = os.path.join(workdir, "X_train_sat4.csv")
        files["x"] = open(paths["csv"], "wb")  # noqa: SIM115  (closed below)
        files["y"] = open(os.path.join(workdir, "y_train_sat4.csv"), "wb")  # noqa: SIM115
    labels_all = np.empty(n, np.int64)
    if "mat" in formats:
        paths["mat"] = os.path.join(workdir, "sat-4-full.mat")
        files["mat"] = open(paths["mat"], "wb")  # noqa: SIM115
        write_mat_v5_header(files["mat"])
        files["mat"].write(_mat_element_header("train_x", (28, 28, 4, n), 9, 2, n * 3136))
    try:
        for start in range(0, n, GEN_CHUNK):
            images, labels = synthetic_chunk(start, min(GEN_CHUNK, n - start))
            labels_all[start:start + labels.size] = labels
            onehot = np.eye(4, dtype=np.uint8)[labels]
            if "x" in files:
                files["x"].write(csv_bytes(images, table))
                files["y"].write(csv_bytes(onehot.reshape(-1, 1, 1, 4), table))
            if "mat" in files:
                # MATLAB's column-major (28, 28, 4, N) is the C order of (N, 4, 28, 28).
                files["mat"].write(np.ascontiguousarray(images.transpose(0, 3, 2, 1)).tobytes())
        if "mat" in files:
            f = files["mat"]
            f.write(b"\0" * (-(n * 3136) % 8))
            f.write(_mat_element_header("train_y", (4, n), 9, 2, 4 * n))
            for start in range(0, n, 100_000):  # (4, N) column-major = C order of (N, 4)
                f.write(np.eye(4, dtype=np.uint8)[labels_all[start:start + 100_000]].tobytes())
            f.write(b"\0" * (-(4 * n) % 8))
    finally:
        for f in files.values():
            f.close()
    return paths


# ---------------------------------------------------------------------------------------------
# Measured steps (each runs in its own process).

class _PeakSampler:
    """Samples RssAnon from /proc/self/status; ru_maxrss alone counts mapped file pages too."""

    def __init__(self, interval=0.02):
        self.interval = interval
        self.peak_anon = self.base_anon = self._anon()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _anon():
        return _status("RssAnon")

    def _run(self):
        while not self._stop.wait(self.interval):
            self.peak_anon = max(self.peak_anon, self._anon())

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak_anon = max(self.peak_anon, self._anon())


def _status(field):
    """A field of /proc/self/status in bytes (0 where unavailable)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _reset_peak():
    """Resets VmHWM (peak RSS) to the current RSS, so the step's own peak is measured."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _maxrss():
    value = _status("VmHWM")
    if value:
        return value
    import resource  # not Linux: ru_maxrss (kB), may include the parent's peak
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_step(step, workdir, n):
    """Runs one step in this process; returns its measurements."""
    from qlsgan_tf import data

    csv_path = os.path.join(workdir, "X_train_sat4.csv")
    mat_path = os.path.join(workdir, "sat-4-full.mat")
    cache_dir = os.path.join(workdir, "cache")
    if not os.path.exists(cache_dir) and not step.endswith("-convert"):
        cache_dir += "-from-mat"  # --formats mat
    extra = {}
    if step == "dataset-epoch":
        import tensorflow as tf  # noqa: F401  (imported before the baseline is taken)
    if step == "csv-parse":
        return _parse_benchmark(csv_path)
    _reset_peak()
    base_rss, sampler = _maxrss(), _PeakSampler()
    with sampler:
        start = time.perf_counter()
        if step in ("csv-load", "mat-load"):
            got = data.load_sat4(csv_path if step == "csv-load" else mat_path)
            extra["images"] = len(got)
        elif step in ("csv-convert", "mat-convert"):
            out = cache_dir if step == "csv-convert" else cache_dir + "-from-mat"
            data.convert_to_cache(csv_path if step == "csv-convert" else mat_path, out,
                                  overwrite=True)
            extra["cache_bytes"] = sum(os.path.getsize(os.path.join(out, f))
                                       for f in os.listdir(out))
        elif step == "cache-open":
            got = data.load_sat4(cache_dir)
            extra["images"] = len(got)
            extra["mmap"] = isinstance(got.images, np.memmap)
        elif step == "cache-verify":
            got = data.load_sat4(cache_dir, verify=True)
            extra["images"] = len(got)
        elif step == "describe":
            info = data.describe(cache_dir)
            extra["band_mean"] = [round(v, 3) for v in info["splits"]["train"]["band_mean"]]
        elif step == "dataset-epoch":
            got = data.load_sat4(cache_dir)
            ds = data.make_dataset(got.images, batch_size=256, seed=0)
            count = 0
            for batch in ds:
                count += int(batch.shape[0])
            extra["images"] = count
        else:
            raise ValueError(f"unknown step {step!r}")
        seconds = time.perf_counter() - start
    peak_rss = _maxrss()
    if step.endswith("-load"):  # outside the measurement: the check regenerates images
        extra["check"] = _check_rows(got.images, got.labels, n)
    if step.endswith("-load") or step == "dataset-epoch":
        extra["images_per_s"] = round(extra.get("images", 0) / seconds)
    return {"step": step, "seconds": round(seconds, 3), "base_rss": base_rss,
            "peak_rss": peak_rss, "base_anon": sampler.base_anon,
            "peak_anon": sampler.peak_anon, **extra}


def _check_rows(images, labels, n):
    """Compares a few loaded images with the generator's (independent) output."""
    last = GEN_CHUNK * ((n - 1) // GEN_CHUNK)
    for start in sorted({0, GEN_CHUNK * ((n // 2) // GEN_CHUNK), last}):
        want_images, want_labels = synthetic_chunk(start, min(GEN_CHUNK, n - start))
        k = want_images.shape[0]
        if not (np.array_equal(images[start:start + k], want_images)
                and np.array_equal(labels[start:start + k], want_labels)):
            return f"MISMATCH at chunk {start}"
    return "ok"


def _parse_benchmark(csv_path, rows=4000):
    """The library's CSV parser vs np.loadtxt on the same chunk of rows."""
    import io
    import itertools

    from qlsgan_tf.data import kaggle_csv

    with open(csv_path, "rb") as f:
        lines = list(itertools.islice(f, rows))
    n_bytes = sum(len(line) for line in lines)
    start = time.perf_counter()
    ours = kaggle_csv.parse_rows(lines, 3136, 1, csv_path)
    ours_s = time.perf_counter() - start
    start = time.perf_counter()
    ref = np.loadtxt(io.BytesIO(b"".join(lines)), delimiter=",", dtype=np.int32)
    loadtxt_s = time.perf_counter() - start
    assert np.array_equal(ours, ref), "parser disagrees with np.loadtxt"
    return {"step": "csv-parse", "rows": rows, "mb": round(n_bytes / 1e6, 1),
            "seconds": round(ours_s, 3), "mb_per_s": round(n_bytes / 1e6 / ours_s, 1),
            "loadtxt_seconds": round(loadtxt_s, 3),
            "loadtxt_mb_per_s": round(n_bytes / 1e6 / loadtxt_s, 1)}


# ---------------------------------------------------------------------------------------------

def _gb(n_bytes):
    return f"{n_bytes / 2**30:6.2f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=400_000, help="images in the synthetic file")
    parser.add_argument("--formats", default="csv,mat", help="csv, mat or csv,mat")
    parser.add_argument("--workdir", default=None, help="where to write (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--out", default=RESULTS, help="JSON results path")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:  # child process: one measured step
        print(json.dumps(run_step(args.step, args.workdir, args.n)))
        return 0

    formats = {f.strip() for f in args.formats.split(",") if f.strip()}
    if not formats <= {"csv", "mat"} or not formats:
        parser.error(f"--formats: expected csv and/or mat, got {args.formats!r}")
    workdir = args.workdir or tempfile.mkdtemp(prefix="qlsgan-data-bench-")
    os.makedirs(workdir, exist_ok=True)
    results = {"n": args.n, "workdir": workdir, "python": platform.python_version(),
               "numpy": np.__version__, "cpus": os.cpu_count(), "steps": []}
    try:
        start = time.perf_counter()
        paths = generate(workdir, args.n, formats)
        results["generate_seconds"] = round(time.perf_counter() - start, 1)
        results["file_bytes"] = {k: os.path.getsize(p) for k, p in paths.items()}
        print(f"generated {args.n} images in {results['generate_seconds']} s: "
              + ", ".join(f"{os.path.basename(paths[k])} {v / 1e9:.2f} GB"
                          for k, v in results["file_bytes"].items()), flush=True)
        steps = []
        if "csv" in formats:
            steps += ["csv-parse", "csv-load", "csv-convert"]
        if "mat" in formats:
            steps += ["mat-load", "mat-convert"]
        steps += ["cache-open", "cache-verify", "describe", "dataset-epoch"]
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
        for step in steps:
            proc = subprocess.run(
                [sys.executable, os.path.abspath(__file__), "--step", step, "--workdir", workdir,
                 "--n", str(args.n)], capture_output=True, text=True, env=env, check=False)
            if proc.returncode != 0:
                print(proc.stderr, file=sys.stderr)
                raise SystemExit(f"step {step} failed")
            result = json.loads(proc.stdout.strip().splitlines()[-1])
            results["steps"].append(result)
            _print_row(result)
    finally:
        if not args.keep and not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    print(f"wrote {args.out}")
    return 0


def _print_row(r):
    if r["step"] == "csv-parse":
        print(f"{'csv-parse':<14} {r['rows']} rows ({r['mb']} MB): library {r['seconds']} s "
              f"({r['mb_per_s']} MB/s), np.loadtxt {r['loadtxt_seconds']} s "
              f"({r['loadtxt_mb_per_s']} MB/s)", flush=True)
        return
    if not getattr(_print_row, "header", False):
        print(f"{'step':<14} {'seconds':>8} {'peak RSS GB':>12} {'(base)':>7} "
              f"{'peak anon GB':>13} {'(base)':>7}  notes")
        _print_row.header = True
    notes = {k: v for k, v in r.items() if k not in (
        "step", "seconds", "base_rss", "peak_rss", "base_anon", "peak_anon")}
    print(f"{r['step']:<14} {r['seconds']:>8.2f} {_gb(r['peak_rss']):>12} {_gb(r['base_rss']):>7} "
          f"{_gb(r['peak_anon']):>13} {_gb(r['base_anon']):>7}  {notes}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
