"""Read a recipe configuration (``local/conf.yml``): ``asteroid-mvae recipe conf --conf C ...``.

The file is a YAML mapping. Its ``tiny`` section (a mapping of the same shape) is
deep-merged over the rest when ``--tiny`` is given: that is how ``run.sh --tiny true``
shrinks every stage for continuous integration. ``--set KEY=VALUE`` overrides (dotted) keys,
checked against the keys the recipe steps read (:mod:`asteroid_mvae.recipes.schema`).
Queries: ``--get`` prints one value (lists space separated), ``--flags`` a flat mapping as
command-line flags, ``--shell`` every value as bash arrays (one call per ``run.sh``);
``--section`` selects the mapping (dotted path) written as YAML to ``--out`` (or stdout).
"""

import shlex
from pathlib import Path

import yaml

from ..utils.config import merge


class ConfError(ValueError):
    """A missing file, a missing or unknown key, or a bad value of the recipe configuration."""


def load_conf(path, tiny: bool = False) -> dict:
    """The configuration at ``path`` without its ``tiny`` section, merged with it when ``tiny``."""
    path = Path(path)
    if not path.is_file():
        raise ConfError(f"recipe configuration not found: {path}")
    try:
        conf = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        reason = " ".join(str(err).split())
        raise ConfError(f"{path} is not valid YAML ({reason[:200]})") from None
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


def apply_overrides(conf: dict, assignments) -> dict:
    """``conf`` with every ``KEY=VALUE`` of ``assignments`` merged in, each checked first against
    the keys and value types of :func:`asteroid_mvae.recipes.schema.check` (:class:`ConfError`
    naming the key and the accepted keys otherwise)."""
    if not assignments:
        return conf
    from .schema import check

    for text in assignments:
        tree = parse_assignment(text)
        key, _, _ = text.partition("=")
        check(conf, key, section(tree, key))
        conf = merge(conf, tree)
    return conf


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


def leaves(tree: dict, prefix: str = ""):
    """``(dotted key, value)`` of every value of ``tree`` that is not a mapping, in file order."""
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from leaves(value, dotted + ".")
        else:
            yield dotted, value


def shell_arrays(conf: dict, values: str = "conf_value", flags: str = "conf_flag_lines") -> str:
    """Bash code declaring two global associative arrays: ``values[KEY]`` for every non-null value
    (:func:`format_value`) and ``flags[KEY]`` for every mapping of plain values (its
    :func:`as_flags`, one token per line). ``eval`` it: one python call per ``run.sh``."""
    value_items = [f"[{shlex.quote(k)}]={shlex.quote(format_value(v))}" for k, v in leaves(conf) if v is not None]
    flag_items = []

    def visit(tree, prefix=""):
        for key, value in tree.items():
            if isinstance(value, dict):
                if not any(isinstance(v, dict) for v in value.values()):
                    flag_items.append(f"[{shlex.quote(prefix + key)}]={shlex.quote(chr(10).join(as_flags(value)))}")
                visit(value, f"{prefix}{key}.")

    visit(conf)
    return f"declare -gA {values}=({' '.join(value_items)})\ndeclare -gA {flags}=({' '.join(flag_items)})\n"


def add_arguments(parser):
    parser.add_argument("--conf", required=True, help="recipe configuration (local/conf.yml)")
    parser.add_argument("--tiny", action="store_true", help="merge the 'tiny' section")
    parser.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="override (dotted) keys of the configuration (VALUE is YAML), checked against the "
        "keys the recipe steps read; applied before any query",
    )
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--get", help="dotted key of a value to print")
    what.add_argument(
        "--flags",
        help="dotted key of a flat mapping to print as command-line flags, one token "
        "per line ({max_steps: 5, oracle: true} -> --max-steps, 5, --oracle)",
    )
    what.add_argument(
        "--shell",
        action="store_true",
        help="print bash code declaring conf_value[KEY] (every value) and conf_flag_lines[KEY] "
        "(every flat mapping as --flags lines)",
    )
    parser.add_argument("--default", help="--get: printed when the key is absent (else an error)")
    parser.add_argument(
        "--section",
        default=".",
        help="dotted key of the mapping written as YAML ('.', the default: the whole configuration)",
    )
    parser.add_argument("--out", help="write --section here (atomically); without a query, stdout is the default")
    return parser


def run(args) -> int:
    from ..utils.io import write_text

    conf = apply_overrides(load_conf(args.conf, args.tiny), args.set)
    value = conf if args.section == "." else section(conf, args.section, default={})
    if not isinstance(value, dict):
        raise ConfError(f"configuration key {args.section!r} is not a mapping")
    text = yaml.safe_dump(value, sort_keys=False)
    printed = None
    if args.get:
        found = section(conf, args.get, required=args.default is None)
        printed = (args.default if found is None else format_value(found)) + "\n"
    elif args.flags:
        tokens = as_flags(section(conf, args.flags, default={}) or {}, args.flags)
        printed = "".join(f"{t}\n" for t in tokens)
    elif args.shell:
        printed = shell_arrays(conf)
    if args.out:
        write_text(args.out, text)
    elif printed is None:
        printed = text
    print(printed, end="")
    return 0
