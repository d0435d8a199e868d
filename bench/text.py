"""Sentence VAE vs. the same decoder as a plain language model, same wall-clock budget (issue 18).

    python bench/text.py --data ../shared/data/text/wordnet-examples [--minutes 30] [--iwae-k 100] [--iwae-n N]

``--data PREFIX`` reads ``PREFIX.train.txt``, ``PREFIX.valid.txt`` and ``PREFIX.test.txt`` (or a folder
holding ``train.txt`` / ``valid.txt`` / ``test.txt``). The vocabulary is the text preset's, learned from
the training file. Both models are the text preset (``VAE.for_data`` and ``tasks.text.language_model_for``:
the same decoder without a latent) trained by ``vaekit.fit`` with the preset's training config and
``max_time`` = the budget, early stopping on the valid split. To fit one session they train
CONCURRENTLY, as two processes with ``torch.set_num_threads(1)`` each: the same wall clock, one core each.
Settings were tuned on the valid split only; the test split is scored once at the end.

Test NLL is nats per sentence (``<eos>`` counted): the VAE's is the IWAE bound with ``--iwae-k``
importance samples (a lower bound on log p(x) in expectation, so an upper bound on NLL), the LM's is
exact. Prints a table, writes JSON (``--out``), and its last line is one JSON object with
``vae_test_nll``, ``lm_test_nll``, ``vae_ppl``, ``lm_ppl``, ``kl``, ``active_units``, ``mutual_info``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
from vaekit.io import write_json  # noqa: E402  (atomic: temp file + os.replace)


def _paths(prefix: str) -> dict[str, Path]:
    p = Path(prefix)
    if p.is_dir():
        out = {s: p / f"{s}.txt" for s in ("train", "valid", "test")}
    else:
        out = {s: Path(f"{prefix}.{s}.txt") for s in ("train", "valid", "test")}
    for split, path in out.items():
        if not path.is_file():
            sys.exit(f"bench/text.py: no {split} file {path}")
    return out


def worker(args) -> None:
    import torch

    torch.set_num_threads(1)
    import vaekit
    from vaekit.data.text import load_text
    from vaekit.tasks import text as tt
    from vaekit.training import default_train_config

    paths = _paths(args.data)
    train = load_text(paths["train"])
    valid = load_text(paths["valid"], spec=train.spec)
    test = load_text(paths["test"], spec=train.spec)
    overrides = json.loads(args.model_overrides or "{}")
    if args.role == "vae":
        model = vaekit.VAE.for_data(train, **overrides)
    else:
        overrides.pop("free_bits", None)
        overrides.pop("latent_dim", None)
        model = tt.language_model_for(train, **overrides)
    cfg = default_train_config(train.spec, max_time=args.minutes * 60.0, epochs=10_000,
                               **json.loads(args.train_overrides or "{}"))
    t0 = time.perf_counter()
    run = vaekit.fit(model, train, cfg, validation_data=valid, progress=False, seed=args.seed)
    train_s = time.perf_counter() - t0
    model = run.model
    k = args.iwae_k if args.role == "vae" else 1  # the LM's q is its prior and z is unused: k=1 is exact
    torch.set_num_threads(args.eval_threads)  # training ran on one core; scoring may use more (no effect on figures)
    t1 = time.perf_counter()
    valid_m = tt.evaluate_text(model, valid, iwae_k=min(k, args.valid_k), seed=args.seed)
    if args.iwae_n and args.iwae_n < len(test):
        # the IWAE bound on the first --iwae-n test sentences (both models score the same ones); the whole
        # test split at k = 1 (the ELBO; exact for the LM) beside it
        test_m = tt.evaluate_text(model, test.subset(range(args.iwae_n)), iwae_k=k, seed=args.seed)
        test_all = tt.evaluate_text(model, test, iwae_k=1, seed=args.seed)
    else:
        test_m, test_all = tt.evaluate_text(model, test, iwae_k=k, seed=args.seed), None
    out = dict(role=args.role, train_seconds=train_s, eval_seconds=time.perf_counter() - t1,
               epochs=len(run.history), steps=run.history.rows[-1]["step"] if hasattr(run.history, "rows") else None,
               best_epoch=getattr(run.history, "best_epoch", None), stop_reason=getattr(run.history, "stop_reason", None),
               parameters=sum(p.numel() for p in model.parameters()),
               model_config=model.config.to_dict(), train_config=cfg.to_dict(), valid=valid_m, test=test_m,
               test_all=test_all,
               vocabulary=len(train.spec.vocabulary), max_length=train.spec.shape[0] - 1)
    out["model_config"]["net_options"] = model.config.net_options.to_dict()
    if args.role == "vae":
        test_texts = [l.strip() for l in paths["test"].read_text(encoding="utf-8").splitlines() if l.strip()]
        pick = test_texts[:6]
        out["samples"] = {
            "sample_t1": tt.sample_text(model, 8, method="sample", temperature=1.0, seed=1),
            "greedy": tt.sample_text(model, 6, method="greedy", seed=2),
            "beam5": tt.sample_text(model, 6, method="beam", beam_width=5, seed=2),
        }
        out["reconstructions"] = list(zip(pick, tt.reconstruct_text(model, pick, method="greedy"),
                                          tt.reconstruct_text(model, pick, method="beam")))
        a, b = test_texts[10], test_texts[20]
        out["homotopy"] = {"a": a, "b": b, "path": tt.interpolate_text(model, a, b, steps=7)}
        if args.save_run:
            vaekit.save(model, args.save_run)
    write_json(args.result, out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="PREFIX of PREFIX.{train,valid,test}.txt (or a folder)")
    ap.add_argument("--minutes", type=float, default=30.0, help="wall-clock training budget of each model")
    ap.add_argument("--iwae-k", type=int, default=100)
    ap.add_argument("--valid-k", type=int, default=100, help="importance samples for the valid figures")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(HERE / "out" / "text.json"))
    ap.add_argument("--model-overrides", default="", help="JSON of ModelConfig fields (tuning on valid)")
    ap.add_argument("--train-overrides", default="", help="JSON of TrainConfig fields (tuning on valid)")
    ap.add_argument("--save-run", default="", help="save the trained VAE there")
    ap.add_argument("--iwae-n", type=int, default=0,
                    help="score the IWAE bound on the first N test sentences only (0: all); the whole test split "
                         "is then scored at k = 1 as well")
    ap.add_argument("--eval-threads", type=int, default=os.cpu_count() or 1,
                    help="threads of each worker's evaluation, after its training (default: all CPUs)")
    ap.add_argument("--role", choices=("vae", "lm"), help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.role:
        return worker(args)
    _paths(args.data)
    tmp = Path(args.out).with_suffix(".parts")
    tmp.mkdir(parents=True, exist_ok=True)  # each worker's result, read back when both are done
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    procs = {}
    started = time.time()
    for role in ("vae", "lm"):
        cmd = [sys.executable, __file__, "--role", role, "--result", str(tmp / f"{role}.json"), "--data", args.data,
               "--minutes", str(args.minutes), "--iwae-k", str(args.iwae_k), "--valid-k", str(args.valid_k),
               "--seed", str(args.seed), "--model-overrides", args.model_overrides,
               "--train-overrides", args.train_overrides, "--save-run", args.save_run,
               "--eval-threads", str(args.eval_threads), "--iwae-n", str(args.iwae_n)]
        procs[role] = subprocess.Popen(cmd, env=env)
    for role, p in procs.items():
        if p.wait() != 0:
            sys.exit(f"bench/text.py: the {role} worker failed (exit {p.returncode})")
    res = {role: json.loads((tmp / f"{role}.json").read_text()) for role in procs}
    vae, lm = res["vae"], res["lm"]
    print(f"# bench/text.py on {args.data}: {args.minutes:g} min wall clock per model, trained concurrently as two "
          f"processes with torch.set_num_threads(1) each (one core each); {platform.node()}, {os.cpu_count()} CPUs")
    print(f"# vocabulary {vae['vocabulary']:,}, max length {vae['max_length']}; VAE test NLL by IWAE k={args.iwae_k}, "
          f"LM exact; valid = the split settings were tuned on")
    head = f"{'model':<6} {'split':<6} {'NLL/sent':>9} {'PPL':>8} {'-ELBO':>8} {'KL':>6} {'MI':>6} {'AU':>4} {'epochs':>6} {'steps':>6}"
    print(head)
    for name, r in (("VAE", vae), ("LM", lm)):
        for split in ("valid", "test"):
            m = r[split]
            print(f"{name:<6} {split:<6} {m['nll']:9.3f} {m['ppl']:8.2f} {m['neg_elbo']:8.3f} {m['kl']:6.2f} "
                  f"{m['mutual_info']:6.2f} {m['active_units']:4d} {r['epochs']:6d} {r['steps'] or 0:6d}")
    if vae.get("test_all"):
        print(f"# test NLL above: the first {vae['test']['n']:,} test sentences; the whole test split "
              f"({vae['test_all']['n']:,}): VAE -ELBO {vae['test_all']['neg_elbo']:.3f} (KL {vae['test_all']['kl']:.2f}), "
              f"LM NLL {lm['test_all']['nll']:.3f} (PPL {lm['test_all']['ppl']:.2f})")
    gap = vae["test"]["nll"] / lm["test"]["nll"] - 1
    ok = gap <= 0.005 and vae["test"]["kl"] >= 3 and vae["test"]["active_units"] >= 5
    print(f"# VAE NLL vs LM: {100 * gap:+.2f}% (target <= +0.5%), KL {vae['test']['kl']:.2f} (>= 3), active units "
          f"{vae['test']['active_units']} (>= 5): {'MET' if ok else 'MISSED'}")
    print("# samples (z ~ p(z), tokens drawn at temperature 1):")
    for s in vae["samples"]["sample_t1"]:
        print("   ", s)
    print("# reconstructions (input -> greedy | beam 5):")
    for a, g, b in vae["reconstructions"]:
        print(f"    {a}  ->  {g}  |  {b}")
    print("# homotopy:")
    for s in vae["homotopy"]["path"]:
        print("   ", s)
    summary = dict(vae_test_nll=vae["test"]["nll"], lm_test_nll=lm["test"]["nll"], vae_ppl=vae["test"]["ppl"],
                   lm_ppl=lm["test"]["ppl"], kl=vae["test"]["kl"], active_units=vae["test"]["active_units"],
                   mutual_info=vae["test"]["mutual_info"], vae_valid_nll=vae["valid"]["nll"],
                   lm_valid_nll=lm["valid"]["nll"], gap_percent=100 * gap, target_met=ok, minutes=args.minutes,
                   iwae_k=args.iwae_k, concurrent_one_core_each=True, data=args.data,
                   test_sentences=vae["test"]["n"])
    if vae.get("test_all"):
        summary.update(vae_test_neg_elbo_all=vae["test_all"]["neg_elbo"], lm_test_nll_all=lm["test_all"]["nll"],
                       test_sentences_all=vae["test_all"]["n"])
    full = dict(summary=summary, vae=vae, lm=lm, wall_seconds=time.time() - started,
                date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    write_json(args.out, full)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
