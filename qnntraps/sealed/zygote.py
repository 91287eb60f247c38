"""The zygote: a clean process that forks one sealed worker per job.

Starting Python and importing torch costs seconds; forking a process that has done so costs
milliseconds. The harness therefore starts one zygote per run — a fresh interpreter
(``python -m qnntraps.sealed.zygote``) that imports numpy, torch, scipy and the optimizer
adapters, and never sees an instance, a certificate or a run folder — and asks it to fork a
worker for every job (a probe, or one chunk of restarts). Each worker starts from the zygote's
clean state, in a new session (its own process group), so nothing a plug-in does in one chunk —
module state, threads, child processes — survives into the next.

Control messages travel over a SOCK_SEQPACKET socket pair (one datagram a message, JSON, plus
the worker's channel as a passed file descriptor on ``fork``). The zygote's command line and
environment are the harness's interpreter, this module and the descriptor number: no instance ID.
It runs in the harness's working directory so that ``module:callable`` plug-ins resolve from
there, as with ``python -m``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import traceback

from qnntraps.errors import QnnTrapsError

PRELOAD = (
    "numpy",
    "scipy.optimize",
    "torch",
    "qnntraps.optimizers.adapters",
    "qnntraps.optimizers.catalogue",
    "qnntraps.optimizers.lbfgs",
    "qnntraps.optimizers.spsa",
    "qnntraps.optimizers.smo",
    "qnntraps.optimizers.scipy_methods",
    "qnntraps.sealed.worker",
)
START_TIMEOUT = 180.0  # seconds for a cold interpreter to import torch on a slow disk
CONTROL_TIMEOUT = 30.0
DATAGRAM = 1 << 16


class SealedWorkerError(QnnTrapsError):
    """The sealed-worker machinery itself failed (not the optimizer): it could not start."""


# --- the zygote process ------------------------------------------------------------------------
def main(control_fd: int) -> None:
    control = socket.socket(fileno=control_fd)
    sys.argv = ["qnntraps-sealed-zygote"]
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the harness's to handle
    for name in PRELOAD:
        __import__(name)
    _warm_up()
    _send(control, {"op": "ready", "pid": os.getpid()})
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(control, DATAGRAM, 1)
        except OSError:
            break
        if not data:
            break  # the harness is gone
        request = json.loads(data)
        if request["op"] == "fork" and len(fds) == 1:
            _send(control, {"op": "forked", "pid": _fork(control, fds[0])})
        elif request["op"] == "reap":
            _send(control, {"op": "reaped", "status": _reap(request["pid"], request["grace"])})
        else:
            for fd in fds:
                os.close(fd)
            break
    os._exit(0)


def _warm_up() -> None:
    """Pay torch's lazy imports once here (building an optimizer imports torch._dynamo, about
    two seconds), not in every worker. Tiny single-thread work: no thread pool starts."""
    import torch

    torch.set_num_threads(1)
    parameter = torch.zeros((1, 2), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.Adam([parameter])
    parameter.grad = torch.ones_like(parameter)
    optimizer.step()


def _fork(control: socket.socket, fd: int) -> int:
    pid = os.fork()
    if pid:
        os.close(fd)
        return pid
    status = 1
    try:
        control.close()
        os.setsid()
        from qnntraps.sealed import worker

        status = worker.main(socket.socket(fileno=fd))
    except SystemExit as stop:
        status = stop.code if isinstance(stop.code, int) else 1
    except BaseException:
        traceback.print_exc()
        status = 1
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(status if isinstance(status, int) and 0 <= status < 256 else 1)
    return 0  # not reached


def _reap(pid: int, grace: float) -> int:
    """Wait up to `grace` seconds for worker `pid`, then kill its process group; its status
    (the exit code, or minus the signal that ended it)."""
    deadline = time.monotonic() + max(0.0, grace)
    while True:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return -signal.SIGKILL
        if done:
            _kill_group(pid)  # whatever it left running goes too
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() >= deadline:
            _kill_group(pid)
            _, status = os.waitpid(pid, 0)
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.005)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _send(control: socket.socket, message: dict) -> None:
    control.sendall(json.dumps(message).encode())


# --- the harness's side ------------------------------------------------------------------------
class Zygote:
    """A running zygote; `spawn()` forks a worker and returns (pid, channel socket)."""

    def __init__(self) -> None:
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "qnntraps.sealed.zygote", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=sys.stderr.fileno() if _has_fileno(sys.stderr) else None,
                cwd=os.getcwd(),
            )
        except OSError as error:
            mine.close()
            raise SealedWorkerError(f"cannot start the sealed-worker process: {error}") from None
        finally:
            theirs.close()
        self._control = mine
        self._ready = False  # the interpreter starts in the background; see _wait_ready

    def _wait_ready(self) -> None:
        """Wait for the zygote's imports to finish (once): the harness prepares meanwhile."""
        if self._ready:
            return
        self._control.settimeout(START_TIMEOUT)
        try:
            ready = self._receive()
        except SealedWorkerError:
            self.close()
            raise
        if ready.get("op") != "ready":
            self.close()
            raise SealedWorkerError("the sealed-worker process did not start properly")
        self._control.settimeout(CONTROL_TIMEOUT)
        self._ready = True

    def spawn(self) -> tuple[int, socket.socket]:
        self._wait_ready()
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            socket.send_fds(self._control, [b'{"op": "fork"}'], [theirs.fileno()])
        except OSError as error:
            mine.close()
            raise SealedWorkerError(f"the sealed-worker process is gone ({error})") from None
        finally:
            theirs.close()
        answer = self._receive()
        return int(answer["pid"]), mine

    def reap(self, pid: int, grace: float) -> int:
        """The worker's exit status after at most `grace` seconds (then it is killed)."""
        self._control.settimeout(CONTROL_TIMEOUT + grace)
        try:
            self._control.sendall(json.dumps({"op": "reap", "pid": pid, "grace": grace}).encode())
            return int(self._receive()["status"])
        except OSError as error:
            raise SealedWorkerError(f"the sealed-worker process is gone ({error})") from None
        finally:
            self._control.settimeout(CONTROL_TIMEOUT)

    def close(self) -> None:
        if not self._ready and self.process.poll() is None:
            self.process.kill()  # still importing (a refused command): it holds nothing yet
        with contextlib.suppress(OSError):
            self._control.sendall(b'{"op": "exit"}')
        self._control.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> Zygote:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _receive(self) -> dict:
        try:
            data = self._control.recv(DATAGRAM)
        except (OSError, TimeoutError) as error:
            raise SealedWorkerError(
                f"the sealed-worker process does not answer ({error}); rerun the same command "
                "to resume"
            ) from None
        if not data:
            code = self.process.poll()
            raise SealedWorkerError(
                f"the sealed-worker process ended (exit status {code}); its error is printed "
                "above; rerun the same command to resume"
            )
        return json.loads(data)


def _has_fileno(stream) -> bool:
    try:
        stream.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    return True


if __name__ == "__main__":
    main(int(sys.argv[1]))
