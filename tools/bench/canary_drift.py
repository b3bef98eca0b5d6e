"""How far identical models drift by chance at a canary's traffic, and how far a label-permuted
model drifts: the measurements behind ``target_groups.canary_drift_threshold`` and
``canary_drift_min_rows`` (``make bench-canary-drift``; not a test).

The bundled classifier (``handlers/model_server/train.py``) predicts scikit-learn's wine
dataset; its predicted class shares are the traffic. A step at 10 % canary traffic gives the
canary n rows and stable 9n; both are drawn from the same shares (identical models) or the
canary's from the shares with the labels permuted (the model retrained with its labels in
another order). The divergence is the controller's own (``handlers/canary_controller/drift.py``),
over ``--trials`` steps per n. A regressor's chance drift is measured the same way on
percentiles of normal outputs (what the controller reads from CloudWatch).

    python -m tools.bench.canary_drift [--trials 5000] [--seed 0]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
from pathlib import Path

import numpy as np

from modules.architectures.target_groups.settings import TargetGroupsSettings
from modules.core.paths import PROJECT_ROOT
from tools.harness.model_server_process import train_default_model

sys.path.insert(0, str(PROJECT_ROOT / "handlers"))  # the controller's module, as the stack ships it
from canary_controller.drift import PERCENTILES, class_divergence, quantile_divergence

CANARY_SHARE = 0.10
ROWS = (100, 200, 300, 500, 1000, 2000)


def predicted_shares() -> np.ndarray:
    """The bundled model's predicted class shares over the wine dataset."""
    import onnxruntime
    from sklearn.datasets import load_wine

    with tempfile.TemporaryDirectory() as tmp:
        model = train_default_model(Path(tmp) / "wine.onnx")
        session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    data = load_wine().data.astype(np.float32)
    labels = session.run(["label"], {"input": data})[0]
    counts = np.bincount(labels, minlength=3).astype(float)
    return np.asarray(counts / counts.sum())


def class_drifts(rng: np.random.Generator, stable: np.ndarray, canary: np.ndarray, n: int, trials: int) -> np.ndarray:
    """The divergence of ``trials`` steps: canary n rows from ``canary`` shares, stable 9n from ``stable``."""
    n_stable = round(n * (1 - CANARY_SHARE) / CANARY_SHARE)
    s, c = rng.multinomial(n_stable, stable, trials), rng.multinomial(n, canary, trials)
    keys = [str(k) for k in range(len(stable))]
    return np.array(
        [
            class_divergence(dict(zip(keys, a, strict=True)), dict(zip(keys, b, strict=True)))
            for a, b in zip(s, c, strict=True)
        ]
    )


def value_drifts(rng: np.random.Generator, n: int, trials: int) -> np.ndarray:
    """Chance divergence of a regressor's percentiles (normal outputs), same split."""
    n_stable = round(n * (1 - CANARY_SHARE) / CANARY_SHARE)
    out = []
    for _ in range(trials):
        s, c = rng.normal(size=n_stable), rng.normal(size=n)
        out.append(
            quantile_divergence(
                {float(p): float(np.percentile(s, p)) for p in PERCENTILES},
                {float(p): float(np.percentile(c, p)) for p in PERCENTILES},
            )
        )
    return np.array(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--trials", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    default = TargetGroupsSettings.model_fields["canary_drift_threshold"].default
    parser.add_argument("--threshold", type=float, default=default, help="default: the setting's")
    args = parser.parse_args(argv)
    t = args.threshold
    rng = np.random.default_rng(args.seed)
    shares = predicted_shares()
    print(f"bundled model's predicted class shares on the wine dataset: {np.round(shares, 3).tolist()}")
    perms = [p for p in itertools.permutations(range(len(shares))) if p != tuple(range(len(shares)))]
    print("label-permuted model, exact divergence from stable (no sampling):")
    for perm in perms:
        permuted = shares[list(perm)]
        exact = class_divergence(dict(zip("012", shares, strict=True)), dict(zip("012", permuted, strict=True)))
        print(f"  labels {perm}: {exact:.3f}")
    cyclic = shares[[1, 2, 0]]
    print(f"\nsteps at {CANARY_SHARE:.0%} canary traffic, {args.trials} trials each (canary n rows, stable 9n):")
    print(
        "| canary rows | identical: p99 | identical: max | regressor identical: p99 | permuted (1,2,0): p1 | median "
        f"| identical > {t} | permuted > {t} |"
    )
    print("|--:|--:|--:|--:|--:|--:|--:|--:|")
    for n in ROWS:
        same = class_drifts(rng, shares, shares, n, args.trials)
        moved = class_drifts(rng, shares, cyclic, n, args.trials)
        values = value_drifts(rng, n, max(200, args.trials // 10))
        print(
            f"| {n} | {np.percentile(same, 99):.3f} | {same.max():.3f} | {np.percentile(values, 99):.3f} "
            f"| {np.percentile(moved, 1):.3f} | {np.median(moved):.3f} | {np.mean(same > t):.2%} "
            f"| {np.mean(moved > t):.2%} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
