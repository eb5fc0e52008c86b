"""``asteroid-mvae publish``: write a shareable folder (asteroid's layout plus a model card)."""

import json
from pathlib import Path

from . import CliError


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "publish", help="write a shareable model folder (asteroid save_publishable layout + model card)"
    )
    parser.add_argument("model", help="a saved separator (model.pth or its folder) or a model name")
    parser.add_argument(
        "--out",
        required=True,
        help="publish folder: new, or one publish wrote (then replaced); anything else is refused",
    )
    parser.add_argument("--metrics", help="final_metrics.json of an evaluation, or a flat JSON of metrics")
    parser.add_argument("--method", help="the method's key in --metrics (default: the model file's folder name)")
    parser.add_argument("--n-src", type=int, help="keep only this N's metrics (final_metrics.json holds every N)")
    parser.add_argument("--test-set", default="", help="what the metrics were measured on, for the card")
    parser.add_argument(
        "--dataset",
        default="unknown",
        help="training data (wsj0, jvs, vcc2018, librispeech, builtin...; known corpora add their licence)",
    )
    parser.add_argument("--license", action="append", dest="licenses", help="extra licence(s) (repeatable)")
    parser.add_argument("--task", default="sep_reverb", help="asteroid task name (default: sep_reverb)")
    parser.add_argument("--hub-id", help="owner/name the model will have on the hub (shown in the card's usage)")
    parser.add_argument(
        "--train-conf", help="training configuration YAML to embed (machine paths made relative or left out)"
    )
    parser.add_argument("--train-command", help="the command that trained the model, for the card's environment block")
    parser.add_argument(
        "--relative-to",
        action="append",
        metavar="DIR",
        help="folder that absolute paths in the card are made relative to (repeatable; default: the "
        "current folder); paths outside it and the published folder are left out",
    )
    parser.add_argument("--recipe", default="Unknown", help="recipe name")
    parser.add_argument("--name", help="model name in the card")
    parser.set_defaults(func=run)


def read_metrics(path, method, n_src=None):
    """A flat ``{metric: value}`` from a metrics JSON: ``final_metrics.json`` nests
    method / ``N=<n>`` / metric / mean (``method`` must name one of its methods; ``n_src``
    keeps that N only), a flat JSON is taken as it is."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise CliError(f"cannot read metrics {path}: {err}") from None
    if not isinstance(data, dict):
        raise CliError(f"metrics {path}: expected a JSON object")
    nested = {k for k, v in data.items() if isinstance(v, dict) and any(isinstance(x, dict) for x in v.values())}
    if nested:
        if method not in data:
            raise CliError(
                f"metrics {path} holds the methods {', '.join(sorted(nested))}; "
                f"say which one this model is with --method"
            )
        data = data[method]
    flat = {}
    for key, value in data.items():
        if isinstance(value, (int, float)):
            flat[key] = value
        elif isinstance(value, dict):
            if n_src is not None and key.startswith("N=") and key != f"N={n_src}":
                continue
            for metric, stats in value.items():
                mean = stats.get("mean") if isinstance(stats, dict) else stats
                if isinstance(mean, (int, float)):
                    flat[f"{key} {metric}"] = mean
    return flat


def run(args):
    import yaml

    from ..models import load_model
    from ..publish import PublishError, check_publish_target, publish_model

    try:  # before any work: an existing --out that publish did not write is never touched
        check_publish_target(args.out, source=args.model)
    except PublishError as err:
        raise CliError(f"--out {err}") from None
    try:
        model = load_model(args.model)
    except (FileNotFoundError, ValueError) as err:
        raise CliError(str(err)) from None
    method = args.method or Path(args.model).resolve().parent.name
    metrics = read_metrics(args.metrics, method, args.n_src) if args.metrics else {}
    train_conf = None
    if args.train_conf:
        try:
            train_conf = yaml.safe_load(Path(args.train_conf).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as err:
            raise CliError(f"cannot read {args.train_conf}: {err}") from None
        if train_conf is not None and not isinstance(train_conf, dict):
            raise CliError(f"--train-conf {args.train_conf}: expected a YAML mapping, got {type(train_conf).__name__}")
    try:
        folder = publish_model(
            model,
            args.out,
            metrics,
            dataset=args.dataset,
            licenses=args.licenses,
            train_conf=train_conf,
            recipe=args.recipe,
            name=args.name,
            task=args.task,
            hub_id=args.hub_id,
            test_set=args.test_set,
            source=args.model,
            train_command=args.train_command,
            relative_to=args.relative_to,
        )
    except PublishError as err:  # --out changed while the model was written
        raise CliError(f"--out {err}") from None
    print(f"published {folder} (model.pth, pytorch_model.bin, README.md)")
