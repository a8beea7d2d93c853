#!/usr/bin/python3
"""Example training job for hpod: a support-vector classifier on the UCI
handwritten digits (1797 8x8 images, 10 classes; shipped with scikit-learn).

Reads its hyperparameters from the file given by --params-file (hpo worker
passes {params_file}) or from $HPO_PARAMS, trains on a fixed split with
3-fold cross-validation, and prints:

    @hpo step=K val_error=E     after each fold (intermediate values)
    @hpo final val_error=E      the mean validation error (the result)
"""
import argparse
import json
import os
import sys
import warnings


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--params-file")
    args = ap.parse_args()
    if args.params_file:
        with open(args.params_file) as f:
            p = json.load(f)
    else:
        p = json.loads(os.environ["HPO_PARAMS"])

    warnings.filterwarnings("ignore")
    from sklearn.datasets import load_digits
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    X, y = load_digits(return_X_y=True)
    kwargs = {"C": p["C"], "kernel": p["kernel"]}
    if p["kernel"] in ("rbf", "poly"):
        kwargs["gamma"] = p["gamma"]
    if p["kernel"] == "poly":
        kwargs["degree"] = p["degree"]
    errors = []
    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
    for k, (tr, va) in enumerate(folds.split(X, y), start=1):
        model = make_pipeline(StandardScaler(), SVC(**kwargs))
        model.fit(X[tr], y[tr])
        errors.append(1.0 - model.score(X[va], y[va]))
        print(f"@hpo step={k} val_error={sum(errors) / len(errors):.6f}", flush=True)
    print(f"@hpo final val_error={sum(errors) / len(errors):.6f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
