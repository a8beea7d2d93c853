#!/usr/bin/python3
"""Example training job for hpod with code as a hyperparameter: a PyTorch
network on the UCI handwritten digits (1797 8x8 images, 10 classes; the data
ships with scikit-learn), whose model is defined by the code parameter
"model" and trained with the numeric parameters "lr" and "epochs".

The code file (hpo worker writes it into the trial directory and passes its
path as {model} and $HPO_PARAM_MODEL) must define

    build_model(n_inputs, n_classes) -> torch.nn.Module

taking a batch of shape (N, n_inputs) (the 64 pixels, standardised) and
returning logits of shape (N, n_classes), with at most 100,000 trainable
parameters. The job checks the contract before training and fails the trial
with the reason when it is broken. torch and torch.nn are importable, and
also given to the code as the names torch and nn.

Prints:
    @hpo step=K val_error=E     after each epoch
    @hpo final val_error=E      the validation error after the last epoch

Run by `hpo worker --allow-code ... -- python3 torch_digits.py --model {model}
--params-file {params_file}` (Debian: python3-torch, python3-sklearn).
"""
import argparse
import json
import os
import runpy
import sys
import time

MAX_PARAMS = 100_000


def fail(msg):
    print(f"torch_digits: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--params-file")
    ap.add_argument("--model", help="file of the model code (default $HPO_PARAM_MODEL)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.params_file:
        with open(args.params_file) as f:
            p = json.load(f)
    else:
        p = json.loads(os.environ["HPO_PARAMS"])
    model_file = args.model or os.environ.get("HPO_PARAM_MODEL")
    if not model_file:
        fail("no model code: pass --model FILE or run under hpo worker")

    import torch
    from torch import nn
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    X, y = load_digits(return_X_y=True)
    X_tr, X_va, y_tr, y_va = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    mean, std = X_tr.mean(axis=0), X_tr.std(axis=0) + 1e-6
    X_tr = torch.tensor((X_tr - mean) / std, dtype=torch.float32)
    X_va = torch.tensor((X_va - mean) / std, dtype=torch.float32)
    y_tr = torch.tensor(y_tr, dtype=torch.long)
    y_va = torch.tensor(y_va, dtype=torch.long)
    n_inputs, n_classes = X_tr.shape[1], 10

    # the contract: build_model exists, returns a module of bounded size that maps
    # (N, 64) to (N, 10)
    ns = runpy.run_path(model_file, init_globals={"torch": torch, "nn": nn})
    build = ns.get("build_model")
    if not callable(build):
        fail("contract broken: the code defines no function build_model(n_inputs, n_classes)")
    model = build(n_inputs, n_classes)
    if not isinstance(model, nn.Module):
        fail(f"contract broken: build_model returned {type(model).__name__}, not a torch.nn.Module")
    n_params = sum(t.numel() for t in model.parameters() if t.requires_grad)
    if n_params > MAX_PARAMS:
        fail(f"contract broken: the model has {n_params} trainable parameters, more than {MAX_PARAMS}")
    with torch.no_grad():
        out = model(X_va[:5])
    if tuple(out.shape) != (5, n_classes):
        fail(f"contract broken: a batch of shape (5, {n_inputs}) gave an output of shape "
             f"{tuple(out.shape)}, not (5, {n_classes})")
    print(f"model: {n_params} trainable parameters", flush=True)

    lr, epochs = float(p["lr"]), int(p["epochs"])
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(0)
    start = time.time()
    err = 1.0
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(len(X_tr), generator=gen)
        for i in range(0, len(order), 64):
            idx = order[i:i + 64]
            opt.zero_grad()
            loss = loss_fn(model(X_tr[idx]), y_tr[idx])
            if not torch.isfinite(loss):
                fail(f"training diverged at epoch {epoch} (loss {loss.item()})")
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            pred = model(X_va).argmax(dim=1)
        err = float((pred != y_va).float().mean())
        print(f"@hpo step={epoch} val_error={err:.6f}", flush=True)
    print(f"trained {epochs} epochs in {time.time() - start:.1f} s", flush=True)
    print(f"@hpo final val_error={err:.6f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
