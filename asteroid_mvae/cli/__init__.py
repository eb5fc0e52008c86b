"""``asteroid-mvae`` command line.

Every module of this package that defines ``add_parser(subparsers)`` contributes its
subcommands, listed in :data:`COMMANDS` (a test checks the list against the modules).
``add_parser`` must register each handler with ``parser.set_defaults(func=...)``; a handler
takes the parsed ``argparse.Namespace`` and returns an exit code (or ``None`` for 0). A
command imports only its own module (``asteroid-mvae recipe conf`` stays quick); ``--help``
and unknown commands import them all.
"""

import argparse
import contextlib
import importlib
import pkgutil
import sys


class CliError(Exception):
    """A user error: printed as one line, exit code 2."""


class Terminated(KeyboardInterrupt):
    """SIGTERM received: raised like Ctrl-C so every ``finally:`` runs (temporary files removed)."""


@contextlib.contextmanager
def sigterm_as_interrupt():
    """While inside, SIGTERM raises :class:`Terminated` in this process; the previous handler is
    restored on exit. Forked worker processes that inherit the handler die of SIGTERM as usual.
    Outside the main thread (where handlers cannot be set) this does nothing."""
    import os
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    owner = os.getpid()

    def handler(signum, frame):
        if os.getpid() != owner:  # a forked child: the default action, as if no handler were set
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


class OneLineParser(argparse.ArgumentParser):
    """argparse whose usage errors are one line (the usage is what ``--help`` shows), exit code 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def show_package_logs() -> None:
    """Our INFO lines (progress, resumes) on standard error, unless logging is configured already;
    other libraries' loggers keep their levels (no HTTP or Lightning chatter)."""
    import logging

    package = logging.getLogger("asteroid_mvae")
    if package.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    package.addHandler(handler)
    package.setLevel(logging.INFO)


#: command -> the module of this package whose ``add_parser`` defines it.
COMMANDS = {
    "evaluate": "evaluate",
    "report": "report",
    "publish": "publish",
    "recalibrate": "recalibrate",
    "recipe": "recipe",
    "retrain-data": "retrain",
    "retrain": "retrain",
    "retrain-compare": "retrain",
    "separate": "separate",
    "infer": "separate",
    "simulate": "simulate",
    "simulate-speakers": "simulate",
    "train": "train",
}


def command_modules() -> list:
    """Names of the modules of this package that define commands (``add_parser``), sorted."""
    names = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if hasattr(importlib.import_module(f"{__name__}.{info.name}"), "add_parser"):
            names.append(info.name)
    return names


def build_parser(command: str = None) -> argparse.ArgumentParser:
    """The parser of every command, or of ``command`` only (importing only its module) when it
    is one of :data:`COMMANDS`."""
    parser = OneLineParser(
        prog="asteroid-mvae",
        description="Multichannel source separation with deep generative source models (asteroid plugin).",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = [COMMANDS[command]] if command in COMMANDS else command_modules()
    for name in modules:
        importlib.import_module(f"{__name__}.{name}").add_parser(subparsers)
    return parser


def first_line(err: BaseException) -> str:
    """The first non-empty line of an exception's message (its type's name when it has none)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(next((a for a in argv if not a.startswith("-")), None))
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:  # --help (0) or a usage error (2, its one line already printed)
        return done.code if isinstance(done.code, int) else 2
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    show_package_logs()
    name = " ".join(filter(None, (args.command, getattr(args, "step", None))))  # recipe steps: both words
    try:
        with sigterm_as_interrupt():  # inside the try: the previous handler is back before any report
            return args.func(args) or 0
    except CliError as err:
        print(f"asteroid-mvae {name}: error: {first_line(err)}", file=sys.stderr)
        return 2
    except OSError as err:  # disk full, permission denied, a vanished file: the system's words, one line
        where = f" ({err.filename})" if getattr(err, "filename", None) else ""
        print(f"asteroid-mvae {name}: error: {err.strerror or err}{where}", file=sys.stderr)
        return 2
    except Terminated:
        print(f"asteroid-mvae {name}: terminated; finished outputs are complete, rerun to resume", file=sys.stderr)
        return 143  # 128 + SIGTERM, what a shell reports for a process killed by it
    except KeyboardInterrupt:
        print(f"asteroid-mvae {name}: interrupted; finished outputs are complete, rerun to resume", file=sys.stderr)
        return 130
    except (ValueError, TypeError) as err:  # the library's own words for bad input: one line
        print(f"asteroid-mvae {name}: error: {first_line(err)}", file=sys.stderr)
        return 2
    except Exception as err:  # anything else: still one line naming it, never a traceback
        import logging

        logging.getLogger(__name__).debug("%s failed", name, exc_info=True)
        print(f"asteroid-mvae {name}: error: {type(err).__name__}: {first_line(err)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
