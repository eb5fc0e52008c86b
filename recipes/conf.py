"""Read a recipe configuration (``local/conf.yml``): ``python -m recipes.conf --conf C --section a.b``.

The file is a YAML mapping. Its ``tiny`` section (a mapping of the same shape) is
deep-merged over the rest when ``--tiny`` is given: that is how ``run.sh --tiny true``
shrinks every stage for continuous integration. ``--section`` selects a sub-mapping
(dotted path) and writes it as YAML (to ``--out`` or stdout); ``--get`` prints one value
(lists space separated), for shell variables.
"""
import argparse
import copy
import os
import sys
import tempfile
from pathlib import Path

import yaml


class ConfError(Exception):
    """A missing file or key of the recipe configuration."""


def write_text(path, text: str) -> None:
    """Write ``text`` atomically (temp file + rename). Not ``asteroid_mvae.utils.io.write_text``:
    importing ``asteroid_mvae`` imports torch, seconds per call of this shell helper."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    mask = os.umask(0o022)
    os.umask(mask)
    os.chmod(tmp, 0o666 & ~mask)  # mkstemp makes 0600; follow the user's umask
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def merge(base: dict, override: dict) -> dict:
    """Deep-merge ``override`` into a copy of ``base`` (mappings merged, other values replaced)."""
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_conf(path, tiny: bool = False) -> dict:
    """The configuration at ``path`` without its ``tiny`` section, merged with it when ``tiny``."""
    path = Path(path)
    if not path.is_file():
        raise ConfError(f"recipe configuration not found: {path}")
    conf = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(conf, dict):
        raise ConfError(f"{path} must hold a YAML mapping")
    tiny_conf = conf.pop("tiny", None) or {}
    return merge(conf, tiny_conf) if tiny else conf


def section(conf: dict, dotted: str, default=None, required: bool = False):
    """``conf["a"]["b"]`` for ``"a.b"``; ``default`` (or an error when ``required``) if absent."""
    node = conf
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            if required:
                raise ConfError(f"configuration key {dotted!r} is missing (at {key!r})")
            return default
        node = node[key]
    return node


def parse_assignment(text: str) -> dict:
    """``"a.b=3"`` -> ``{"a": {"b": 3}}`` (the value parsed as YAML)."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise ConfError(f"--set takes KEY=VALUE; got {text!r}")
    try:
        tree = yaml.safe_load(raw) if raw else None
    except yaml.YAMLError as err:
        where = getattr(err, "problem", None) or "not valid YAML"
        raise ConfError(f"--set {text!r}: the value is {where}") from None
    for part in reversed(key.split(".")):
        tree = {part: tree}
    return tree


def as_flags(mapping, where: str = "") -> list:
    """``{max_steps: 5, oracle: true, iterations: [1, 2]}`` -> ``["--max-steps", "5", "--oracle",
    "--iterations", "1", "2"]`` (false and null values are left out)."""
    if not isinstance(mapping, dict):
        raise ConfError(f"configuration key {where!r} is not a mapping")
    tokens = []
    for key, value in mapping.items():
        flag = "--" + str(key).replace("_", "-")
        if isinstance(value, dict):
            raise ConfError(f"{where}.{key} is a mapping; command-line flags need plain values")
        if value is None or value is False:
            continue
        tokens.append(flag)
        if value is not True:
            tokens.extend(format_value(v) for v in (value if isinstance(value, (list, tuple)) else [value]))
    return tokens


def format_value(value) -> str:
    """A YAML value for a shell variable: lists joined by spaces, booleans as true/false."""
    if isinstance(value, (list, tuple)):
        return " ".join(format_value(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conf", required=True, help="recipe configuration (local/conf.yml)")
    parser.add_argument("--tiny", action="store_true", help="merge the 'tiny' section")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--section", help="dotted key of a mapping to write as YAML ('.': the whole configuration)")
    what.add_argument("--get", help="dotted key of a value to print")
    what.add_argument("--flags", help="dotted key of a flat mapping to print as command-line flags, one token "
                                      "per line ({max_steps: 5, oracle: true} -> --max-steps, 5, --oracle)")
    parser.add_argument("--default", help="--get: printed when the key is absent (else an error)")
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE",
                        help="--section: set (dotted) keys of the written mapping; VALUE is YAML")
    parser.add_argument("--out", help="--section: write here (atomically) instead of stdout")
    args = parser.parse_args(argv)
    try:
        conf = load_conf(args.conf, args.tiny)
        if args.get:
            value = section(conf, args.get, required=args.default is None)
            print(args.default if value is None else format_value(value))
            return 0
        if args.flags:
            tokens = as_flags(section(conf, args.flags, default={}) or {}, args.flags)
            print("\n".join(tokens))
            return 0
        value = conf if args.section == "." else section(conf, args.section, default={})
        if not isinstance(value, dict):
            raise ConfError(f"configuration key {args.section!r} is not a mapping")
        for assignment in args.set:
            value = merge(value, parse_assignment(assignment))
        text = yaml.safe_dump(value, sort_keys=False)
    except ConfError as err:
        print(f"recipes.conf: error: {err}", file=sys.stderr)
        return 2
    if args.out:
        write_text(args.out, text)
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
