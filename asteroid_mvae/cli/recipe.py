"""``asteroid-mvae recipe <step>``: the steps of the ``egs/*/run.sh`` recipes
(:mod:`asteroid_mvae.recipes`): read the configuration, prepare the corpora, simulate the data
sets, train the source models, build the separators, collect the reports, publish."""

import argparse
import importlib

from ..recipes import STEPS


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "recipe",
        help=f"the steps of egs/*/run.sh ({', '.join(STEPS)})",
        description=__doc__.replace("``", "").split("(:mod:")[0].strip() + ".",
    )
    steps = parser.add_subparsers(dest="step", metavar="STEP", required=True)
    for name, module_name in STEPS.items():
        module = importlib.import_module(f"..recipes.{module_name}", __package__)
        doc = module.__doc__
        step = steps.add_parser(
            name,
            help=doc.splitlines()[0].split(":")[0].replace("``", "").rstrip("."),
            description=doc,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(step)
        step.set_defaults(func=module.run)
