"""A sweep's job in a process of its own, so that nothing that ends the job ends the sweep.

Run in the sweep's own process, a job shares that process's fate: an abort of the XLA
runtime (a C++ ``Check failed``, exit status 134), a segmentation fault or the
out-of-memory killer's SIGKILL ends the process, every job after it is never run, and the
dead job leaves no ``error.json``. :func:`run_in_child` runs one job (or one pack) in a
child process and tells the parent how it ended: its return value; the exception it
raised, raised again in the parent; or :class:`JobDied` with the signal or exit status and
the last lines it wrote to stderr.

A sweep's process forks its children itself (:func:`_forkable`): it has composed the jobs'
configs and imported carousel but started no JAX backend and no other thread, so a child
starts in milliseconds with carousel already imported. A process that has computed (a
pack's planning, a sweep that found a job already finished) forks them instead from
multiprocessing's ``forkserver``, a clean process started once that has imported carousel
(:data:`PRELOAD`) and started no backend, never inheriting a running backend's threads.
The child's stderr passes through a pipe: the parent copies it to its own stderr as it
comes (progress bars included) and keeps the last lines for :class:`JobDied`.

Signals: SIGTERM, SIGUSR1 and SIGUSR2 that reach the parent are passed on to the child,
whose checkpointer saves and exits with status 128 + n; the parent then calls the handler
that was installed before (submitit's requeue) or exits the same way. Ctrl-C reaches the
child through the terminal's process group; the parent waits for it to stop and then
raises KeyboardInterrupt. A child whose parent dies gets SIGTERM (Linux
``PR_SET_PDEATHSIG``), so it checkpoints rather than runs on unwatched.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging.config
import multiprocessing as mp
import multiprocessing.connection as mp_connection
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

PRELOAD = ["benchmarks.run.experiment", "benchmarks.run.pack", "benchmarks.config"]
FORWARDED = tuple(
    s for s in (signal.SIGTERM, getattr(signal, "SIGUSR1", None), getattr(signal, "SIGUSR2", None)) if s
)
TAIL_BYTES = 8192
PR_SET_PDEATHSIG = 1


class JobDied(RuntimeError):
    """The child process ended without a result: killed by a signal or exited early. The
    message is one line; ``tail`` holds the last lines it wrote to stderr."""

    def __init__(self, message: str, tail: list[str]):
        super().__init__(message)
        self.tail = tail


def _context() -> Any:
    """``fork`` while this process may be forked safely (:func:`_forkable`), else the
    ``forkserver`` with carousel preloaded."""
    if _forkable():
        return mp.get_context("fork")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def _forkable() -> bool:
    """Whether a child forked from this process starts as clean as one forked from the
    forkserver: on Linux, with no other Python thread running and no JAX backend started
    (a backend's threads and device state do not survive a fork). A sweep's process, which
    has composed its jobs' configs and imported carousel but computed nothing, is such a
    process; a fork then spares the forkserver's start, a second import of carousel and
    JAX (about 2.5 s of CPU per sweep). A process that has computed (a pack's planning, a
    job found already finished) uses the forkserver."""
    if sys.platform != "linux" or threading.active_count() > 1:
        return False
    bridge = sys.modules.get("jax._src.xla_bridge")
    started = getattr(bridge, "backends_are_initialized", None)
    return bridge is None or (started is not None and not started())


def _die_with_parent() -> None:
    """SIGTERM to this process when its parent (the sweep's process, or the forkserver,
    which leaves when the sweep's process does) dies; Linux only, elsewhere nothing."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _child(
    result: Any, stderr: Any, log_config: dict[str, Any] | None, fn: Callable[..., Any], args: Any
) -> None:
    _die_with_parent()
    for signum in FORWARDED:  # a forked child inherits the parent's forwarding handlers
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.dup2(stderr.fileno(), 2)
    stderr.close()
    if log_config:
        logging.config.dictConfig(log_config)
    try:
        value = fn(*args)
    except KeyboardInterrupt as e:
        result.send(("interrupted", str(e)))
        sys.exit(130)
    except SystemExit as e:  # a checkpoint saved at a signal: its status is the news
        result.send(("exit", e.code))
        raise
    except BaseException as e:  # noqa: BLE001 - raised again in the parent
        try:
            result.send(("raised", e))
        except Exception:  # an exception that does not pickle: its type and words
            result.send(("raised", RuntimeError(f"{type(e).__name__}: {e}")))
        sys.exit(1)
    result.send(("ok", value))


class _Tail(threading.Thread):
    """Copies the child's stderr to ours as it comes and keeps its last bytes."""

    def __init__(self, conn: Any):
        super().__init__(daemon=True)
        self.fd, self.kept = conn.fileno(), b""
        self.conn = conn

    def run(self) -> None:
        while block := os.read(self.fd, 65536):
            os.write(2, block)
            self.kept = (self.kept + block)[-TAIL_BYTES:]
        self.conn.close()

    def lines(self, n: int = 20) -> list[str]:
        text = self.kept.decode(errors="replace").replace("\r", "\n")
        return [line.rstrip() for line in text.splitlines() if line.strip()][-n:]


def _receive(conn: Any) -> Any:
    """The child's message, or None when it left without one."""
    try:
        return conn.recv() if conn.poll() else None
    except (EOFError, OSError):
        return None


def _exit_words(code: int | None) -> str:
    if code is not None and code < 0:
        name = signal.Signals(-code).name
        cause = {"SIGKILL": "the out-of-memory killer, or kill -9", "SIGABRT": "an abort of the XLA runtime"}
        return f"was killed by {name} ({cause.get(name, 'a crash or a signal')})"
    return f"exited with status {code} before sending its result"


def _last_words(lines: list[str]) -> str:
    """The line of the tail that says most: a failed check or an error, else the last."""
    for line in reversed(lines):
        if "Check failed" in line or "rror" in line:
            return line
    return lines[-1] if lines else ""


@contextlib.contextmanager
def _forwarding(pid: Callable[[], int | None]) -> Iterator[list[int]]:
    """While it lasts, SIGTERM/SIGUSR1/SIGUSR2 go on to the child; yields the signals seen."""
    seen: list[int] = []
    previous: dict[int, Any] = {}

    def forward(signum: int, frame: Any) -> None:
        seen.append(signum)
        if (child := pid()) is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signum)

    if threading.current_thread() is threading.main_thread():
        previous = {s: signal.signal(s, forward) for s in FORWARDED}
    try:
        yield seen
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        for signum in seen[:1]:  # the child saved and left: hand over as a checkpointer would
            handler = previous.get(signum)
            if callable(handler):
                handler(signum, None)
            elif handler != signal.SIG_IGN:
                sys.exit(128 + signum)


def run_in_child(fn: Callable[..., Any], *args: Any, log_config: dict[str, Any] | None = None) -> Any:
    """``fn(*args)`` in a child process (see the module docstring); returns its value or
    raises what it raised, :class:`JobDied`, or KeyboardInterrupt after a Ctrl-C. The
    child configures logging with ``log_config`` (a ``logging.config`` dict) first."""
    ctx = _context()
    receive, send = ctx.Pipe(duplex=False)
    err_read, err_write = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(send, err_write, log_config, fn, args), name="carousel-job")
    with _forwarding(lambda: proc.pid):
        proc.start()
        send.close()
        err_write.close()
        tail = _Tail(err_read)
        tail.start()
        message, interrupted = None, False
        while message is None and proc.exitcode is None:
            try:  # the result first: a large one fills the pipe before the child can exit
                if receive in mp_connection.wait([receive, proc.sentinel]):
                    message = _receive(receive)
                proc.join(timeout=0 if message is None else None)
            except KeyboardInterrupt:  # the child got it too: let it stop first
                interrupted = True
        while proc.exitcode is None:
            with contextlib.suppress(KeyboardInterrupt):
                proc.join()
        tail.join()
        message = message or _receive(receive)
    if message and message[0] == "interrupted":
        raise KeyboardInterrupt(message[1])
    if interrupted:
        raise KeyboardInterrupt
    if message is None or message[0] == "exit":
        lines = tail.lines()
        words = _last_words(lines)
        raise JobDied(
            f"the job's process {_exit_words(proc.exitcode)}" + (f": {words}" if words else ""), lines
        )
    kind, value = message
    if kind == "raised":
        raise value
    return value
