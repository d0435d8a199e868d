"""Load test of ``vaekit serve`` on loopback: throughput and latency of /decode and /score, then abuse.

1. A model: ``--run RUN``, or one trained here on MNIST (``../shared/data/mnist.npz`` read with vaekit's
   own loader, else the offline ``mnist5k`` builtin): the default grey-image preset (MLP 512-256,
   latent 32, Bernoulli), a few epochs.
2. The real server, ``python -m vaekit serve RUN`` in a subprocess on a free 127.0.0.1 port.
3. ``--requests`` requests (default 2,000) to each of ``POST /decode`` (one z ~ N(0, I) per request) and
   ``POST /score`` (one MNIST test digit as a base64 PNG, negative ELBO), ``--concurrency`` (default 16)
   in flight at a time from an asyncio httpx client: requests/s, p50/p99 latency, status counts.
4. ``--malformed`` requests (default 500) cycling through wrong shapes, bad base64, non-images, bodies
   over the size limit (declared and streamed), wrong types, broken JSON, NaN, oversized batches, unknown
   fields, broken multipart: every answer must be a 4xx (no 5xx, no dropped connection), and afterwards
   the server must still answer /info and /decode.
5. A storm of ``--storm-seconds`` (default 30): ``--storm-concurrency`` (default 8) abusive clients cycle
   through decompression-bomb PNGs (a 20000x20000 and a 12000x12000 header, as JSON and as uploads),
   maximal-work /score requests (max_batch digits x the largest k the server allows), requests over the
   work limit, 20 MiB bodies (declared and streamed) and bodies that never arrive (a Content-Length
   larger than what is sent), while 4 normal clients send one-z /decode requests. Reported: 5xx count,
   the p99 of the normal /decode requests during the storm, and the server's RSS sampled every 0.5 s
   (it should level off).

Last stdout line: one JSON object (requests/s, p50/p99 ms per endpoint, 5xx counts, alive_after, storm).

    python bench/serve_load.py [--run RUN] [--data PATH] [--requests 2000] [--concurrency 16]
                               [--malformed 500] [--storm-seconds 30] [--threads N] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULT_MNIST, emit_summary, log, machine_info, print_table, write_json  # noqa: E402


# ----------------------------------------------------------------------------------------------- the model
def train_model(data_path: Path, out: Path, *, quick: bool, epochs: int, seed: int) -> str:
    """Train the grey-image preset on MNIST (or mnist5k) into ``out``; return the data source's name."""
    import torch

    import vaekit

    if data_path.is_file():
        data = vaekit.datasets.load(str(data_path), split="train")
        source = str(data_path)
    else:
        log(f"{data_path} not found; training on the offline mnist5k builtin instead")
        data = vaekit.datasets.load("mnist5k", split="train")
        source = "mnist5k"
    if quick:
        data = vaekit.Dataset(data.x[:3000], None if data.y is None else data.y[:3000], data.spec)
    torch.manual_seed(seed)
    model = vaekit.VAE.for_data(data)
    log(f"training {model.config.net} {model.config.hidden_dims} latent {model.latent_dim} on {len(data):,} "
        f"digits from {source} for {epochs} epoch(s)")
    t0 = time.perf_counter()
    vaekit.fit(model, data, epochs=epochs, seed=seed, val_fraction=0.0, lr=3e-3, out=out, overwrite=True, progress=False)
    log(f"trained in {time.perf_counter() - t0:.1f} s")
    return source


def test_digits(data_path: Path, n: int) -> np.ndarray:
    """``n`` MNIST test digits as uint8 (n, 28, 28)."""
    if data_path.is_file():
        with np.load(data_path) as f:
            return np.asarray(f["x_test"][:n], dtype=np.uint8)
    import vaekit

    x = vaekit.datasets.load("mnist5k", split="test").x[:n].numpy()
    return np.rint(x[:, 0] * 255).astype(np.uint8)


def png_b64(a: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


# ----------------------------------------------------------------------------------------------- the server
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(run: Path, port: int, threads: int | None, max_body_mb: float,
                 body_timeout: float = 30.0) -> subprocess.Popen:
    import httpx

    cmd = [sys.executable, "-m", "vaekit", "serve", str(run), "--host", "127.0.0.1", "--port", str(port),
           "--log-level", "warning", "--max-body-mb", str(max_body_mb), "--body-timeout", str(body_timeout)]
    if threads:
        cmd += ["--threads", str(threads)]
    log("starting: " + " ".join(cmd))
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"error: the server exited with {proc.returncode}: {proc.stderr.read()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/info", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    sys.exit("error: the server did not answer /info within 180 s")


# ----------------------------------------------------------------------------------------------- load
async def run_load(url: str, make_request, n: int, concurrency: int) -> dict:
    """``n`` requests, ``concurrency`` in flight; latencies in ms and status counts."""
    import httpx

    latencies: list[float] = []
    statuses: Counter = Counter()
    failures: Counter = Counter()
    counter = iter(range(n))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:

        async def worker():
            for i in counter:
                t0 = time.perf_counter()
                try:
                    r = await make_request(client, i)
                    statuses[r.status_code] += 1
                except httpx.HTTPError as e:
                    failures[type(e).__name__] += 1
                    continue
                latencies.append((time.perf_counter() - t0) * 1000)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    lat = np.array(latencies) if latencies else np.array([np.nan])
    return {
        "requests": n, "seconds": round(wall, 3), "requests_per_s": round(n / wall, 1),
        "p50_ms": round(float(np.percentile(lat, 50)), 2), "p99_ms": round(float(np.percentile(lat, 99)), 2),
        "mean_ms": round(float(lat.mean()), 2), "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "errors_5xx": sum(v for k, v in statuses.items() if k >= 500), "connection_errors": dict(failures),
    }


def malformed_cases(latent_dim: int, max_body: int, digit_png: str) -> list[tuple[str, dict]]:
    """(name, httpx request kwargs) pairs; each must get a 4xx."""
    big = b'{"z": [[' + b"0," * (max_body // 2) + b"0]]}"  # over the limit, declared in Content-Length

    async def streamed():  # over the limit, no Content-Length: the server counts what arrives
        chunk = b" " * 65536
        for _ in range(max_body // len(chunk) + 2):
            yield chunk

    js = {"content-type": "application/json"}
    bad_png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + os.urandom(200)).decode()
    return [
        ("decode: wrong latent_dim", {"url": "/decode", "json": {"z": [[0.0] * (latent_dim + 1)]}}),
        ("decode: ragged z", {"url": "/decode", "json": {"z": [[0.0] * latent_dim, [0.0]]}}),
        ("decode: z is a string", {"url": "/decode", "json": {"z": "zeros"}}),
        ("decode: NaN", {"url": "/decode", "content": b'{"z": [[NaN' + b", 0" * (latent_dim - 1) + b"]]}", "headers": js}),
        ("decode: huge value", {"url": "/decode", "json": {"z": [[1e300] * latent_dim]}}),
        ("decode: batch over the limit", {"url": "/decode", "json": {"z": [[0.0] * latent_dim] * 300}}),
        ("decode: body over the limit", {"url": "/decode", "content": big, "headers": js}),
        ("decode: streamed body over the limit", {"url": "/decode", "content": streamed, "headers": js}),
        ("score: bad base64", {"url": "/score", "json": {"images": ["%%% not base64 %%%"]}}),
        ("score: base64 of a non-image", {"url": "/score", "json": {"images": [base64.b64encode(b"hello").decode()]}}),
        ("score: corrupt PNG", {"url": "/score", "json": {"images": [bad_png]}}),
        ("score: wrong array shape", {"url": "/score", "json": {"arrays": [[0.5] * 100]}}),
        ("score: strings in arrays", {"url": "/score", "json": {"arrays": [["x"] * 784]}}),
        ("score: two input forms", {"url": "/score", "json": {"images": [digit_png], "arrays": [[0] * 784]}}),
        ("score: unknown method", {"url": "/score", "json": {"images": [digit_png], "method": "magic"}}),
        ("score: k is a string", {"url": "/score", "json": {"images": [digit_png], "method": "iwae", "k": "many"}}),
        ("score: unknown field", {"url": "/score", "json": {"images": [digit_png], "path": "/etc/passwd"}}),
        ("score: broken JSON", {"url": "/score", "content": b'{"images": [', "headers": js}),
        ("score: deeply nested JSON", {"url": "/score", "content": b"[" * 100_000, "headers": js}),
        ("score/upload: not an image", {"url": "/score/upload", "files": [("files", ("a.png", b"text", "image/png"))]}),
        ("score/upload: broken multipart", {"url": "/score/upload", "content": b"--b\r\nbroken",
                                            "headers": {"content-type": "multipart/form-data; boundary=b"}}),
        ("sample: n is negative", {"url": "/sample", "json": {"n": -1}}),
        ("sample: n over the limit", {"url": "/sample", "json": {"n": 10_000}}),
        ("interpolate: one end", {"url": "/interpolate", "json": {"z_a": [0.0] * latent_dim}}),
        ("encode: empty body", {"url": "/encode", "content": b"", "headers": js}),
    ]


async def run_malformed(url: str, cases: list, n: int, concurrency: int) -> dict:
    import httpx

    by_case: dict[str, Counter] = {name: Counter() for name, _ in cases}
    counter = iter(range(n))
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:

        async def worker():
            for i in counter:
                name, kwargs = cases[i % len(cases)]
                kwargs = dict(kwargs)
                if callable(kwargs.get("content")):
                    kwargs["content"] = kwargs["content"]()
                try:
                    r = await client.request("POST", **kwargs)
                    by_case[name][r.status_code] += 1
                except httpx.HTTPError as e:
                    by_case[name][type(e).__name__] += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    total = Counter()
    for c in by_case.values():
        total.update(c)
    return {
        "requests": n,
        "statuses": {str(k): v for k, v in sorted(total.items(), key=lambda kv: str(kv[0]))},
        "errors_5xx": sum(v for k, v in total.items() if isinstance(k, int) and k >= 500),
        "not_4xx": sum(v for k, v in total.items() if not (isinstance(k, int) and 400 <= k < 500)),
        "by_case": {name: {str(k): v for k, v in c.items()} for name, c in by_case.items()},
    }


def alive(url: str, latent_dim: int) -> bool:
    import httpx

    try:
        ok_info = httpx.get(url + "/info", timeout=10).status_code == 200
        ok_decode = httpx.post(url + "/decode", json={"z": [[0.0] * latent_dim]}, timeout=10).status_code == 200
        return ok_info and ok_decode
    except httpx.HTTPError:
        return False


# ----------------------------------------------------------------------------------------------- the storm
def rss_mib(pid: int) -> float | None:
    """Resident memory of a process in MiB (Linux /proc), None where unavailable."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def storm_cases(info: dict, digits: list[str]) -> list[tuple[str, dict]]:
    """(name, request kwargs) of the abusive requests: each must get a 4xx, quickly, and never a 5xx."""
    limits = info["limits"]
    max_batch, max_work, max_body = limits["max_batch"], limits.get("max_work", 25600), limits["max_body_bytes"]
    n = max(1, min(max_batch, max_body // (3 * len(digits[0]) + 16)))  # as many digits as fit the body
    k_max = max(1, max_work // n)
    from vaekit.data.synthetic import make_oversized_png

    bombs = {"20000x20000": make_oversized_png(20000, 20000), "12000x12000": make_oversized_png(12000, 12000)}
    huge = b'{"z": [[' + b"0," * (10 * 2**20) + b"0]]}"  # ~20 MiB

    async def streamed():
        chunk = b" " * 65536
        for _ in range(20 * 2**20 // len(chunk)):
            yield chunk

    js = {"content-type": "application/json"}
    cases = []
    for size, raw in bombs.items():
        b64 = base64.b64encode(raw).decode()
        cases += [(f"bomb {size}: /encode", {"url": "/encode", "json": {"images": [b64]}}),
                  (f"bomb {size}: /score/upload", {"url": "/score/upload",
                                                    "files": [("files", ("bomb.png", raw, "image/png"))]})]
    imgs = [digits[i % len(digits)] for i in range(n)]
    cases += [
        (f"maximal work: {n} x iwae k={k_max}", {"url": "/score", "json": {"images": imgs, "method": "iwae", "k": k_max},
                                                 "expect": 200}),
        (f"over the work limit: {n} x k=5000", {"url": "/score", "json": {"images": imgs, "method": "iwae", "k": 5000}}),
        ("20 MiB body, declared", {"url": "/decode", "content": huge, "headers": js}),
        ("20 MiB body, streamed", {"url": "/decode", "content": streamed, "headers": js}),
        ("body that never arrives", {"url": "/encode", "slow": True}),
    ]
    return cases


async def _never_arriving_body(port: int) -> int:
    """A Content-Length of 1,000 with 10 bytes sent: the server must answer 408 and close."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"POST /encode HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 1000\r\n\r\n{\"arrays\":")
    await writer.drain()
    try:
        line = await asyncio.wait_for(reader.readline(), timeout=120)
    finally:
        writer.close()
    parts = line.split()
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


async def run_storm(url: str, port: int, pid: int, cases: list, zs: list, seconds: float, concurrency: int) -> dict:
    import httpx

    by_case: dict[str, Counter] = {name: Counter() for name, _ in cases}
    normal_lat: list[float] = []
    normal_status: Counter = Counter()
    rss: list[tuple[float, float]] = []
    t_start = time.perf_counter()
    end = t_start + seconds
    async with httpx.AsyncClient(base_url=url, timeout=180) as client:

        async def abuser(offset: int):
            i = offset
            while time.perf_counter() < end:
                name, kwargs = cases[i % len(cases)]
                i += 1
                kwargs = {k: v for k, v in kwargs.items() if k != "expect"}
                try:
                    if kwargs.pop("slow", False):
                        by_case[name][await _never_arriving_body(port)] += 1
                        continue
                    if callable(kwargs.get("content")):
                        kwargs["content"] = kwargs["content"]()
                    r = await client.request("POST", **kwargs)
                    by_case[name][r.status_code] += 1
                except (httpx.HTTPError, OSError, asyncio.TimeoutError) as e:
                    by_case[name][type(e).__name__] += 1

        async def normal(offset: int):
            i = offset
            while time.perf_counter() < end:
                t0 = time.perf_counter()
                try:
                    r = await client.post("/decode", json={"z": [zs[i % len(zs)]]})
                    normal_status[r.status_code] += 1
                    normal_lat.append((time.perf_counter() - t0) * 1000)
                except httpx.HTTPError as e:
                    normal_status[type(e).__name__] += 1
                i += 1
                await asyncio.sleep(0.01)

        async def sample_rss():
            while time.perf_counter() < end:
                value = rss_mib(pid)
                if value is not None:
                    rss.append((round(time.perf_counter() - t_start, 2), round(value, 1)))
                await asyncio.sleep(0.5)

        await asyncio.gather(*(abuser(j) for j in range(concurrency)), *(normal(j) for j in range(4)), sample_rss())
    lat = np.array(normal_lat) if normal_lat else np.array([np.nan])
    total = Counter()
    for c in by_case.values():
        total.update(c)
    values = [v for _, v in rss]
    third = max(1, len(values) // 3)
    growth = (max(values[-third:]) - max(values[third:2 * third] or values[:third])) if len(values) >= 3 else None
    expected_ok = {name for name, kw in cases if kw.get("expect") == 200}
    unexpected = sum(v for name, c in by_case.items() for k, v in c.items()
                     if not (isinstance(k, int) and (400 <= k < 500 or (k == 200 and name in expected_ok))))
    return {
        "seconds": round(time.perf_counter() - t_start, 1), "abusive_requests": sum(total.values()),
        "abusive_5xx": sum(v for k, v in total.items() if isinstance(k, int) and k >= 500),
        "abusive_unexpected": unexpected,
        "by_case": {name: {str(k): v for k, v in c.items()} for name, c in by_case.items()},
        "normal_decode_requests": len(normal_lat), "normal_decode_statuses": {str(k): v for k, v in normal_status.items()},
        "normal_decode_5xx": sum(v for k, v in normal_status.items() if isinstance(k, int) and k >= 500),
        "normal_decode_p50_ms": round(float(np.nanpercentile(lat, 50)), 2),
        "normal_decode_p99_ms": round(float(np.nanpercentile(lat, 99)), 2),
        "rss_mib": rss, "rss_start_mib": values[0] if values else None, "rss_max_mib": max(values) if values else None,
        "rss_end_mib": values[-1] if values else None,
        "rss_growth_last_third_mib": None if growth is None else round(growth, 1),
    }


# ----------------------------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, help="Run directory to serve (default: train a quick MNIST model).")
    parser.add_argument("--data", type=Path, default=DEFAULT_MNIST, help="MNIST .npz (x_train, y_train, x_test, y_test).")
    parser.add_argument("--requests", type=int, default=2000, help="Requests per endpoint.")
    parser.add_argument("--concurrency", type=int, default=16, help="Requests in flight at a time.")
    parser.add_argument("--malformed", type=int, default=500, help="Malformed requests after the load.")
    parser.add_argument("--epochs", type=int, default=3, help="Training epochs when no --run is given.")
    parser.add_argument("--threads", type=int, default=None, help="torch threads in the server (default: torch's).")
    parser.add_argument("--max-body-mb", type=float, default=4.0, help="The server's body limit.")
    parser.add_argument("--storm-seconds", type=float, default=30.0, help="Length of the abuse storm (0: none).")
    parser.add_argument("--storm-concurrency", type=int, default=8, help="Abusive clients during the storm.")
    parser.add_argument("--body-timeout", type=float, default=5.0, help="The server's body timeout (seconds).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true",
                        help="200 requests, 100 malformed, a 10 s storm, 3,000 digits x 1 epoch.")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.malformed, args.epochs = min(args.requests, 200), min(args.malformed, 100), 1
        args.storm_seconds = min(args.storm_seconds, 10.0)

    import vaekit

    with tempfile.TemporaryDirectory(prefix="vaekit-serve-bench-") as tmp:
        if args.run is None:
            run = Path(tmp) / "run"
            source = train_model(args.data, run, quick=args.quick, epochs=args.epochs, seed=args.seed)
        else:
            run, source = args.run, "given run"
        model = vaekit.load(run)
        d = model.latent_dim
        rng = np.random.default_rng(args.seed)
        zs = rng.normal(size=(64, d)).round(4).tolist()
        digits = [png_b64(a) for a in test_digits(args.data, 64)]

        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = start_server(run, port, args.threads, args.max_body_mb, args.body_timeout)
        try:
            async def decode(client, i):
                return await client.post("/decode", json={"z": [zs[i % len(zs)]]})

            async def score(client, i):
                return await client.post("/score", json={"images": [digits[i % len(digits)]]})

            results = {}
            for name, fn in (("decode", decode), ("score", score)):
                asyncio.run(run_load(url, fn, min(50, args.requests), args.concurrency))  # warm-up, untimed
                log(f"{name}: {args.requests} requests, {args.concurrency} concurrent")
                results[name] = asyncio.run(run_load(url, fn, args.requests, args.concurrency))
            log(f"malformed: {args.malformed} requests")
            bad = asyncio.run(run_malformed(url, malformed_cases(d, int(args.max_body_mb * 2**20), digits[0]),
                                            args.malformed, args.concurrency))
            storm = None
            if args.storm_seconds > 0:
                import httpx

                info = httpx.get(url + "/info", timeout=10).json()
                log(f"storm: {args.storm_seconds:g} s, {args.storm_concurrency} abusive clients beside 4 normal /decode")
                storm = asyncio.run(run_storm(url, port, proc.pid, storm_cases(info, digits), zs, args.storm_seconds,
                                              args.storm_concurrency))
            alive_after = alive(url, d) and proc.poll() is None
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()

    rows = [[name, r["requests"], r["requests_per_s"], r["p50_ms"], r["p99_ms"], r["errors_5xx"],
             sum(r["connection_errors"].values())] for name, r in results.items()]
    rows.append(["malformed", bad["requests"], None, None, None, bad["errors_5xx"], bad["not_4xx"] - bad["errors_5xx"]])
    print_table(f"vaekit serve on loopback ({args.concurrency} concurrent; model latent_dim {d}, {source})",
                ["endpoint", "requests", "req/s", "p50 ms", "p99 ms", "5xx", "conn. errors / non-4xx"], rows)
    print(f"malformed statuses: {bad['statuses']}; server alive afterwards: {alive_after}")
    if storm is not None:
        print_table(f"storm ({storm['seconds']} s, {args.storm_concurrency} abusive clients + 4 normal)",
                    ["case", "statuses"], [[name, c] for name, c in storm["by_case"].items()])
        print(f"storm: normal /decode p99 {storm['normal_decode_p99_ms']} ms over {storm['normal_decode_requests']} "
              f"requests; 5xx {storm['abusive_5xx'] + storm['normal_decode_5xx']}; RSS {storm['rss_start_mib']} -> "
              f"max {storm['rss_max_mib']} -> {storm['rss_end_mib']} MiB (growth over the last third: "
              f"{storm['rss_growth_last_third_mib']} MiB)")
    record = {
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "model": {"class_name": type(model).__name__, "config": model.config.to_dict(), "source": source},
        "load": results, "malformed": bad, "storm": storm, "alive_after": alive_after, "machine": machine_info(),
    }
    path = write_json("serve_load.json", record)
    log(f"wrote {path}")
    summary = {
        "decode_requests_per_s": results["decode"]["requests_per_s"], "decode_p50_ms": results["decode"]["p50_ms"],
        "decode_p99_ms": results["decode"]["p99_ms"], "score_requests_per_s": results["score"]["requests_per_s"],
        "score_p50_ms": results["score"]["p50_ms"], "score_p99_ms": results["score"]["p99_ms"],
        "errors_5xx": results["decode"]["errors_5xx"] + results["score"]["errors_5xx"],
        "connection_errors": sum(sum(r["connection_errors"].values()) for r in results.values()),
        "malformed_requests": bad["requests"], "malformed_5xx": bad["errors_5xx"], "malformed_not_4xx": bad["not_4xx"],
        "storm_seconds": None if storm is None else storm["seconds"],
        "storm_abusive_requests": None if storm is None else storm["abusive_requests"],
        "storm_5xx": None if storm is None else storm["abusive_5xx"] + storm["normal_decode_5xx"],
        "storm_unexpected": None if storm is None else storm["abusive_unexpected"],
        "storm_decode_p99_ms": None if storm is None else storm["normal_decode_p99_ms"],
        "storm_rss_start_mib": None if storm is None else storm["rss_start_mib"],
        "storm_rss_max_mib": None if storm is None else storm["rss_max_mib"],
        "storm_rss_growth_last_third_mib": None if storm is None else storm["rss_growth_last_third_mib"],
        "alive_after": alive_after, "requests": args.requests, "concurrency": args.concurrency,
        "quick": bool(args.quick), "date": record["machine"]["date"],
    }
    emit_summary(summary)


if __name__ == "__main__":
    main()
