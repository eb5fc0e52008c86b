"""``asteroid-mvae publish``: write a shareable folder (asteroid's layout plus a model card)."""
import json
from pathlib import Path

from . import CliError


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "publish", help="write a shareable model folder (asteroid save_publishable layout + model card)"
    )
    parser.add_argument("model", help="a saved separator (model.pth or its folder) or a model name")
    parser.add_argument("--out", required=True, help="publish folder")
    parser.add_argument("--metrics", help="final_metrics.json of an evaluation, or a flat JSON of metrics")
    parser.add_argument("--method", help="the method's key in --metrics (default: the model file's folder name)")
    parser.add_argument("--dataset", default="unknown", help="data the model was trained on")
    parser.add_argument("--license", action="append", dest="licenses", help="licence(s) (repeatable)")
    parser.add_argument("--train-conf", help="training configuration YAML to embed")
    parser.add_argument("--recipe", default="Unknown", help="recipe name")
    parser.add_argument("--name", help="model name in the card")
    parser.set_defaults(func=run)


def read_metrics(path, method):
    """A flat ``{metric: value}`` from a metrics JSON (``final_metrics.json`` nests method/N/metric/mean)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise CliError(f"cannot read metrics {path}: {err}") from None
    if method is not None and method in data:
        data = data[method]
    flat = {}
    for key, value in data.items():
        if isinstance(value, (int, float)):
            flat[key] = value
        elif isinstance(value, dict):
            for metric, stats in value.items():
                mean = stats.get("mean") if isinstance(stats, dict) else stats
                if isinstance(mean, (int, float)):
                    flat[f"{key} {metric}"] = mean
    return flat


def run(args):
    import yaml

    from ..models import load_model
    from ..publish import publish_model

    try:
        model = load_model(args.model)
    except (FileNotFoundError, ValueError) as err:
        raise CliError(str(err)) from None
    method = args.method or Path(args.model).resolve().parent.name
    metrics = read_metrics(args.metrics, method) if args.metrics else {}
    train_conf = None
    if args.train_conf:
        try:
            train_conf = yaml.safe_load(Path(args.train_conf).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as err:
            raise CliError(f"cannot read {args.train_conf}: {err}") from None
    folder = publish_model(model, args.out, metrics, dataset=args.dataset, licenses=args.licenses,
                           train_conf=train_conf, recipe=args.recipe, name=args.name)
    print(f"published {folder} (model.pth, README.md)")
