"""Progress that suits where it goes: a tqdm bar on a terminal, one log line per 10 % elsewhere.

A bar written to a log file (or a pipe such as ``tee``) becomes one line of thousands of
carriage returns; :func:`progress` and :func:`training_progress_callback` log plain lines
(logger ``asteroid_mvae.progress``, INFO) when standard error is not a terminal.
"""

import logging
import sys
import time

log = logging.getLogger("asteroid_mvae.progress")
EVERY_PERCENT = 10


def on_terminal(stream=None) -> bool:
    """Whether ``stream`` (default: standard error) is an interactive terminal."""
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class LineProgress:
    """tqdm's ``update`` / ``set_postfix`` / ``close``, as an INFO line each time another
    ``every`` percent of ``total`` is done (and at the end), with the elapsed time."""

    def __init__(self, total: int, desc: str, initial: int = 0, unit: str = "item", every: int = EVERY_PERCENT):
        self.total, self.desc, self.n, self.unit, self.every = int(total), desc, int(initial), unit, int(every)
        self.start, self.postfix = time.monotonic(), {}
        self._next = self._percent() // self.every * self.every + self.every

    def _percent(self) -> int:
        return 100 if self.total <= 0 else int(100 * self.n / self.total)

    def update(self, n: int = 1):
        self.n += n
        if self._percent() >= self._next or self.n == self.total:
            self._next = self._percent() // self.every * self.every + self.every
            self._write()

    def set_postfix(self, **values):
        self.postfix = values

    def _write(self):
        elapsed = time.monotonic() - self.start
        extra = "".join(f", {k} {v}" for k, v in self.postfix.items())
        log.info(
            "%s: %d/%d %s (%d%%), %.0f s%s", self.desc, self.n, self.total, self.unit, self._percent(), elapsed, extra
        )

    def close(self):
        """Nothing to flush: every line is written when it is due."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def progress(total: int, desc: str, initial: int = 0, unit: str = "item", enabled: bool = True):
    """A progress display for ``total`` steps (``initial`` already done): a tqdm bar on a
    terminal, :class:`LineProgress` otherwise, nothing when ``enabled`` is false."""
    from tqdm.auto import tqdm

    if not enabled:
        return tqdm(total=total, initial=initial, desc=desc, unit=unit, disable=True)
    if on_terminal():
        return tqdm(total=total, initial=initial, desc=desc, unit=unit)
    return LineProgress(total, desc, initial, unit)


def training_progress_callback(desc: str, every: int = EVERY_PERCENT):
    """A Lightning callback logging ``desc: k/total steps (p %), loss, s/step`` every ``every``
    percent of the training's steps (``trainer.estimated_stepping_batches``: ``max_steps``, or
    the epochs' batches); for log files, which have no bar."""
    from pytorch_lightning.callbacks import Callback

    class TrainingProgress(Callback):
        def on_train_start(self, trainer, pl_module):
            total = trainer.estimated_stepping_batches
            total = int(total) if total != float("inf") else 0
            self.line = LineProgress(total, desc, initial=trainer.global_step, unit="steps", every=every)
            self.start_step = trainer.global_step

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if self.line.total <= 0:
                return
            loss = trainer.callback_metrics.get("loss")
            steps = max(trainer.global_step - self.start_step, 1)
            self.line.set_postfix(
                **({"loss": f"{float(loss):.4g}"} if loss is not None else {}),
                s_per_step=f"{(time.monotonic() - self.line.start) / steps:.2f}",
            )
            self.line.update(trainer.global_step - self.line.n)

    return TrainingProgress()
