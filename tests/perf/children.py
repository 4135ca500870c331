"""Child processes of the benchmarks: each runs in its own session, so that
an emulator and whatever it started go down together, and none outlives
the benchmark (exit, Ctrl-C or SIGTERM)."""
import atexit
import os
import signal
import subprocess
import sys

PROCS = []                   # children still possibly alive


def kill_all():
    for p in PROCS:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
    PROCS.clear()


def _on_signal(signum, _frame):
    kill_all()
    sys.exit(128 + signum)


def install():
    """Kill every child at exit and on SIGINT/SIGTERM."""
    atexit.register(kill_all)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)


def spawn(cmd, **popen_args):
    """Popen in a new session, stdin closed, remembered for kill_all."""
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, start_new_session=True, **popen_args)
    PROCS.append(p)
    return p


def reap(p, timeout=5):
    """Kills p's session if it still runs, waits for it and forgets it."""
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass
    try:
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    if p in PROCS:
        PROCS.remove(p)
