"""``python -m benchmarks.train`` for the tests, forked from a process that has imported it.

Why: starting Python and importing carousel, JAX and Hydra costs about 2.5 s of CPU, and
the suite runs some sixty training commands. Each pytest worker keeps one
multiprocessing ``forkserver`` (started at the first command) that has imported
:mod:`benchmarks.train` and computed nothing; each command is a child forked from it with
its own argv, environment, working directory and standard streams, running the same
:func:`benchmarks.train.main` as ``python -m benchmarks.train``, and leaving as that
process would: its exit status (``128 + n`` after a checkpoint at signal n, ``-9`` when
killed), its output, its ``atexit`` handlers run. Signals reach it as they reach any process.

What JAX reads from the environment when it is imported (``JAX_*``) was read once, in the
forkserver: a command whose ``JAX_*`` variables differ from the forkserver's runs as a real
``python -m benchmarks.train`` instead. ``XLA_FLAGS`` is read when a backend starts, in the
child, so it may differ.

:func:`run` stands for ``subprocess.run(..., capture_output=True, text=True)`` and
:func:`popen` for ``subprocess.Popen(..., text=True)``; both take the command's arguments
(after ``-m benchmarks.train``).
"""

from __future__ import annotations

import atexit
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.run.isolation import FORWARDED, PRELOAD

REPO = Path(__file__).resolve().parents[1]
_SERVER_ENV: dict[str, str] = {}


def _context() -> Any:
    ctx = mp.get_context("forkserver")
    # the one forkserver of this process: benchmarks.run.isolation forks sweeps' jobs from it too
    ctx.set_forkserver_preload([*PRELOAD, "benchmarks.train"])
    if not _SERVER_ENV:
        _SERVER_ENV.update(os.environ)  # what the forkserver inherits when it starts
    return ctx


def _jax_env(env: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.startswith("JAX_")}


def _child(argv: list[str], env: dict[str, str], cwd: str, streams: tuple[str, str]) -> None:
    """Become ``python -m benchmarks.train *argv``: its environment, directory and streams."""
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    stdin = os.open(os.devnull, os.O_RDONLY)
    os.dup2(stdin, 0)
    os.close(stdin)
    for fd, path in zip((1, 2), streams, strict=True):
        out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(out, fd)
        os.close(out)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for signum in FORWARDED:  # as a fresh interpreter has them
        signal.signal(signum, signal.SIG_DFL)
    from benchmarks import train

    sys.argv = [train.__file__, *argv]
    code = 0
    try:
        train.main()
    except SystemExit as e:
        if isinstance(e.code, str):
            print(e.code, file=sys.stderr)
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:  # noqa: BLE001 - what the interpreter does with an uncaught error
        traceback.print_exc()
        code = 1
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


class Forked:
    """The part of :class:`subprocess.Popen` the tests use, for a forked command."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str], cwd: Path):
        self._dir = tempfile.mkdtemp(prefix="carousel-forked-")
        self._streams = (os.path.join(self._dir, "stdout"), os.path.join(self._dir, "stderr"))
        self.args = ["-m", "benchmarks.train", *argv]
        self._proc = _context().Process(target=_child, args=(list(argv), dict(env), str(cwd), self._streams))
        self._proc.start()
        self.pid = self._proc.pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and self._proc.exitcode is not None:
            self.returncode = self._proc.exitcode
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        self._proc.join(timeout)
        if self.poll() is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        return self.returncode  # type: ignore[return-value]

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        self.wait(timeout)
        out, err = (Path(p).read_text(errors="replace") for p in self._streams)
        for p in self._streams:
            os.unlink(p)
        os.rmdir(self._dir)
        return out, err


def _env(env: Mapping[str, str] | None) -> dict[str, str]:
    base = dict(os.environ) if env is None else dict(env)
    return {**base, "PYTHONPATH": str(REPO)}


def popen(*argv: str, env: Mapping[str, str] | None = None, cwd: Path = REPO) -> Any:
    """``python -m benchmarks.train *argv`` started: forked (:class:`Forked`), or a real
    process (stdout and stderr piped, text) where the ``JAX_*`` environment differs."""
    full = _env(env)
    _context()
    if _jax_env(full) != _jax_env(_SERVER_ENV):
        return subprocess.Popen(
            [sys.executable, "-m", "benchmarks.train", *argv],
            cwd=cwd,
            env=full,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    return Forked(argv, full, cwd)


def run(
    *argv: str, env: Mapping[str, str] | None = None, cwd: Path = REPO, timeout: float = 600
) -> subprocess.CompletedProcess:
    """``python -m benchmarks.train *argv`` to its end: exit status, stdout and stderr."""
    proc = popen(*argv, env=env, cwd=cwd)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def launch(command: list[str]) -> int:
    """:func:`benchmarks.studies.base.launch` forked: ``command`` is ``[python, "-m",
    "benchmarks.train", ...]``; its stdout and stderr are copied to this process's."""
    assert command[1:3] == ["-m", "benchmarks.train"], command
    proc = run(*command[3:])
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    return proc.returncode
