"""A real, private, single-host Slurm cluster for tests.

``SlurmCluster`` starts munged, slurmctld and three slurmd daemons (nodes
``n1``..``n3``, 2 CPUs each) on this machine, entirely inside a private
temporary directory: its own munge key and socket, its own slurm.conf,
state, spool and log files, and free TCP ports picked at start.  It never
reads or writes a system Slurm or munge configuration and does not disturb
another cluster (or a system munged) running on the same host.

Use it as a context manager::

    with SlurmCluster() as cluster:
        job = cluster.sbatch("--wrap", "hostname")
        cluster.wait_for_jobs([job])
        assert cluster.job_state(job) == "COMPLETED"

or through the session-scoped pytest fixture ``slurm_cluster`` (import it
into a test module: ``from tests.harness.slurm_cluster import slurm_cluster``).
The fixture skips when Slurm is not installed or the cluster cannot start,
unless ``PIPEC_REQUIRE_SLURM=1``, in which case it fails with the reason and
the tail of the daemons' logs.

The daemons run as root (``SlurmUser=root``), so this needs root; CI is.
``.ci/slurm-deps`` installs slurm-wlm and munge on Debian.

Set ``PIPEC_SLURM_KEEP=1`` to keep the temporary directory (logs, conf)
after the cluster stops; it is also kept when start-up fails.
"""

from __future__ import annotations

import os
import random
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pytest

NODES = ("n1", "n2", "n3")
CPUS_PER_NODE = 2
REAL_MEMORY = 2000
PARTITION = "debug"

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = (
    "sbatch",
    "srun",
    "squeue",
    "sinfo",
    "scontrol",
    "scancel",
    "munge",
    "unmunge",
)

TERMINAL_STATES = frozenset(
    {
        "COMPLETED",
        "FAILED",
        "CANCELLED",
        "TIMEOUT",
        "NODE_FAIL",
        "PREEMPTED",
        "BOOT_FAIL",
        "DEADLINE",
        "OUT_OF_MEMORY",
        "REVOKED",
        "SPECIAL_EXIT",
    }
)

# Every process the cluster starts (and, through the environment, every
# slurmstepd and job process below it) carries this variable, so that stop()
# can find and kill stragglers without touching anything else on the host.
TAG_VAR = "PIPEC_SLURM_CLUSTER_TAG"


class SlurmUnavailable(RuntimeError):
    """The cluster cannot run here (binaries missing, not root, start-up failed)."""


def _which(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for d in ("/usr/sbin", "/sbin", "/usr/local/sbin"):
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    return None


def missing_binaries() -> list[str]:
    return [b for b in DAEMONS + CLIENTS if _which(b) is None]


def _port_is_free(port: int) -> bool:
    for host in ("0.0.0.0", "127.0.0.1"):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((host, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def pick_free_ports(count: int) -> list[int]:
    """Free TCP ports below the kernel's ephemeral range (so clients' own
    outgoing connections are unlikely to grab them before the daemons bind)."""
    ports: list[int] = []
    candidates = list(range(20000, 32000))
    random.shuffle(candidates)
    for port in candidates:
        if port not in ports and _port_is_free(port):
            ports.append(port)
            if len(ports) == count:
                return ports
    raise SlurmUnavailable("no free TCP ports found")


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])


class SlurmCluster:
    """A private three-node Slurm cluster on this host (see module docs)."""

    def __init__(
        self,
        *,
        start_timeout: float = 60.0,
        workdir: str | os.PathLike[str] | None = None,
        keep: bool | None = None,
    ) -> None:
        self.start_timeout = start_timeout
        self.keep = (
            keep if keep is not None else os.environ.get("PIPEC_SLURM_KEEP") == "1"
        )
        self._workdir_arg = Path(workdir) if workdir is not None else None
        self.root: Path | None = None
        self.conf: Path | None = None
        self.env: dict[str, str] = {}
        self.hostname = socket.gethostname().split(".")[0]
        self.ctld_port = 0
        self.node_ports: dict[str, int] = {}
        self.munge_socket: str | None = None
        self.own_munged = False
        self._procs: dict[str, subprocess.Popen] = {}
        self._logs: list[Path] = []
        self._tag = ""
        self._zombies_before: set[int] = set()
        self.started = False

    # ------------------------------------------------------------------ setup
    def __enter__(self) -> SlurmCluster:  # noqa: PYI034
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        missing = missing_binaries()
        if missing:
            raise SlurmUnavailable(
                "Slurm/munge binaries not found: " + ", ".join(missing)
            )
        if os.geteuid() != 0:
            raise SlurmUnavailable(
                "the test Slurm cluster runs its daemons as root; not root"
            )
        self._zombies_before = self._slurm_zombies()
        try:
            self._make_root()
            self._start_munge()
            last: Exception | None = None
            # A port picked free may be taken before a daemon binds it: retry
            # once with fresh ports.
            for _attempt in range(2):
                try:
                    self._start_slurm()
                    last = None
                    break
                except SlurmUnavailable as e:
                    last = e
                    self._stop_slurm()
            if last is not None:
                raise last
        except BaseException:
            self.keep = True  # keep the logs for whoever reads the error
            self.stop()
            raise
        self.started = True

    def _make_root(self) -> None:
        base = self._workdir_arg
        if base is None:
            base = Path(tempfile.gettempdir())
            # munged's socket path must fit in sun_path (108 bytes).
            if len(str(base)) > 40:
                base = Path("/tmp")
        base.mkdir(parents=True, exist_ok=True)
        self.root = Path(tempfile.mkdtemp(prefix="pipec-slurm-", dir=str(base)))
        # munged insists that every directory above its socket is searchable
        # by all ("execute permissions for all required").
        os.chmod(self.root, 0o755)
        self._tag = str(self.root)
        for sub in ("munge", "state", "log", "spool"):
            (self.root / sub).mkdir()
        for node in NODES:
            (self.root / "spool" / node).mkdir()
        os.chmod(self.root / "munge", 0o755)

    def _base_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("SLURM_CONF", None)
        # Do not let an enclosing Slurm job's variables leak into ours.
        for k in list(env):
            if k.startswith(
                ("SLURM_", "SBATCH_", "SRUN_", "SALLOC_", "SQUEUE_", "SINFO_")
            ):
                del env[k]
        env[TAG_VAR] = self._tag
        return env

    def _spawn(
        self, name: str, argv: Sequence[str], env: Mapping[str, str]
    ) -> subprocess.Popen:
        assert self.root is not None
        out = self.root / "log" / f"{name}.out"
        self._logs.append(out)
        with open(out, "ab") as fh:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=fh,
                stderr=subprocess.STDOUT,
                env=dict(env),
                cwd=str(self.root),
                start_new_session=True,
                close_fds=True,
            )
        self._procs[name] = proc
        return proc

    # ----------------------------------------------------------------- munge
    def _munge_works(self, sock: str) -> bool:
        munge, unmunge = _which("munge"), _which("unmunge")
        if not munge or not unmunge:
            return False
        try:
            cred = subprocess.run(
                [munge, "-n", "-S", sock], capture_output=True, timeout=10, check=True
            ).stdout
            subprocess.run(
                [unmunge, "-S", sock],
                input=cred,
                capture_output=True,
                timeout=10,
                check=True,
            )
        except (subprocess.SubprocessError, OSError):
            return False
        return True

    def _start_munge(self) -> None:
        assert self.root is not None
        mdir = self.root / "munge"
        key = mdir / "munge.key"
        sock = str(mdir / "munge.sock")
        mungekey = _which("mungekey")
        try:
            if mungekey:
                subprocess.run(
                    [mungekey, "--create", "--keyfile", str(key)],
                    capture_output=True,
                    check=True,
                    timeout=30,
                )
            else:
                key.write_bytes(os.urandom(1024))
            os.chmod(key, 0o600)
        except (subprocess.SubprocessError, OSError) as e:
            raise SlurmUnavailable(f"cannot create a munge key: {e}") from e

        argv = [
            _which("munged") or "munged",
            "--foreground",
            f"--socket={sock}",
            f"--key-file={key}",
            f"--pid-file={mdir / 'munged.pid'}",
            f"--log-file={mdir / 'munged.log'}",
            f"--seed-file={mdir / 'munged.seed'}",
            "--num-threads=4",
        ]
        self._logs.append(mdir / "munged.log")
        proc = self._spawn("munged", argv, self._base_env())
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            if os.path.exists(sock) and self._munge_works(sock):
                self.munge_socket = sock
                self.own_munged = True
                return
            time.sleep(0.1)
        reason = "private munged did not come up:\n" + _tail(
            self.root / "log" / "munged.out", 10
        )
        self._terminate("munged", proc)
        # Fall back on the host's munged (default socket), if one works.
        system_sock = "/run/munge/munge.socket.2"
        if self._munge_works(system_sock):
            self.munge_socket = system_sock
            self.own_munged = False
            return
        raise SlurmUnavailable(reason)

    # ----------------------------------------------------------------- slurm
    def _write_conf(self) -> None:
        assert self.root is not None
        r = self.root
        node_lines = "\n".join(
            f"NodeName={n} NodeHostname={self.hostname} NodeAddr=127.0.0.1 "
            f"Port={self.node_ports[n]} CPUs={CPUS_PER_NODE} RealMemory={REAL_MEMORY} "
            "State=UNKNOWN"
            for n in NODES
        )
        text = f"""\
# Written by tests/harness/slurm_cluster.py: a private test cluster.
ClusterName=pipectest
SlurmctldHost={self.hostname}(127.0.0.1)
SlurmctldPort={self.ctld_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={self.munge_socket}
CredType=cred/munge
StateSaveLocation={r}/state
SlurmdSpoolDir={r}/spool/%n
SlurmctldPidFile={r}/slurmctld.pid
SlurmdPidFile={r}/slurmd.%n.pid
SlurmctldLogFile={r}/log/slurmctld.log
SlurmdLogFile={r}/log/slurmd.%n.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=100
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=1
# Memory limits are enforced (a job step above its --mem is killed, the job ends FAILED with
# "exceeded memory limit" in its log) by polling every second: the tests' host has no cgroup
# setup Slurm could use (task/cgroup), and tests/backends/slurm/test_faults.py needs a job that
# dies of its memory limit.
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=1
JobAcctGatherParams=OverMemoryKill
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
MinJobAge=600
KillWait=2
InactiveLimit=0
SlurmdTimeout=60
{node_lines}
PartitionName={PARTITION} Nodes=n[1-{len(NODES)}] Default=YES MaxTime=INFINITE State=UP
"""
        self.conf = r / "slurm.conf"
        self.conf.write_text(text)

    def _start_slurm(self) -> None:
        assert self.root is not None
        ports = pick_free_ports(1 + len(NODES))
        self.ctld_port = ports[0]
        self.node_ports = dict(zip(NODES, ports[1:]))
        self._write_conf()
        env = self._base_env()
        env["SLURM_CONF"] = str(self.conf)
        self.env = env
        self._logs.append(self.root / "log" / "slurmctld.log")

        ctld = self._spawn(
            "slurmctld",
            [_which("slurmctld") or "slurmctld", "-D", "-f", str(self.conf)],
            env,
        )
        deadline = time.monotonic() + self.start_timeout
        while True:
            if ctld.poll() is not None:
                raise SlurmUnavailable(
                    f"slurmctld exited with {ctld.returncode}\n" + self.log_tail()
                )
            r = self.run(["scontrol", "ping"], check=False, timeout=10)
            if r.returncode == 0 and "UP" in r.stdout:
                break
            if time.monotonic() > deadline:
                raise SlurmUnavailable(
                    "slurmctld did not answer pings\n" + self.log_tail()
                )
            time.sleep(0.2)

        for node in NODES:
            self._logs.append(self.root / "log" / f"slurmd.{node}.log")
            self._spawn(
                f"slurmd.{node}",
                [_which("slurmd") or "slurmd", "-D", "-N", node, "-f", str(self.conf)],
                env,
            )
        self.wait_idle(deadline - time.monotonic())

    def node_states(self) -> dict[str, str]:
        r = self.run(["sinfo", "-h", "-N", "-o", "%N %T"], check=False, timeout=10)
        states: dict[str, str] = {}
        if r.returncode != 0:
            return states
        for line in r.stdout.splitlines():
            parts = line.split()
            if len(parts) == 2:
                states[parts[0]] = parts[1]
        return states

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Wait until all nodes are idle (raises SlurmUnavailable on timeout)."""
        deadline = time.monotonic() + max(timeout, 1.0)
        states: dict[str, str] = {}
        while time.monotonic() < deadline:
            for name, proc in self._procs.items():
                if proc.poll() is not None:
                    raise SlurmUnavailable(
                        f"{name} exited with {proc.returncode}\n" + self.log_tail()
                    )
            states = self.node_states()
            if len(states) == len(NODES) and all(s == "idle" for s in states.values()):
                return
            time.sleep(0.3)
        raise SlurmUnavailable(
            f"nodes not idle after {timeout:.0f}s: {states}\n" + self.log_tail()
        )

    # ------------------------------------------------------------- helpers
    def run(
        self, cmd: str | Sequence[str], *, check: bool = True, timeout: float = 60, **kw
    ) -> subprocess.CompletedProcess:
        """Run a command with the cluster's environment (SLURM_CONF set).

        A string is run through the shell; output is captured as text."""
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        env = dict(self.env or self._base_env())
        env.update(kw.pop("env", None) or {})
        shell = isinstance(cmd, str)
        return subprocess.run(
            cmd, shell=shell, check=check, timeout=timeout, env=env, **kw
        )

    def sbatch(self, *args: str, timeout: float = 60) -> str:
        """Submit with ``sbatch --parsable ARGS``; return the job id."""
        r = self.run(["sbatch", "--parsable", *args], check=False, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(
                f"sbatch {shlex.join(args)} failed ({r.returncode}): {r.stderr.strip()}"
            )
        return r.stdout.strip().split(";")[0]

    def job_records(self, job_id: str | int) -> list[dict[str, str]]:
        """``scontrol show job -o ID`` as a list of dicts (one per array task
        or het component); empty when the job is unknown."""
        r = self.run(
            ["scontrol", "show", "job", "-o", str(job_id)], check=False, timeout=20
        )
        if r.returncode != 0:
            return []
        records = []
        for line in r.stdout.splitlines():
            line = line.strip()
            if not line:
                continue
            rec: dict[str, str] = {}
            for field in line.split(" "):
                k, sep, v = field.partition("=")
                if sep and k not in rec:
                    rec[k] = v
            records.append(rec)
        return records

    def job_state(self, job_id: str | int) -> str | None:
        """State of a job (``COMPLETED``, ``CANCELLED``, ...), None if unknown.

        For an array or het job (several records) the first non-COMPLETED
        state is returned, else COMPLETED."""
        states = [rec.get("JobState", "") for rec in self.job_records(job_id)]
        if not states:
            return None
        for s in states:
            if s != "COMPLETED":
                return s
        return "COMPLETED"

    def job_states(self, job_id: str | int) -> dict[str, str]:
        """{JobId (or ArrayJobId_TaskId): JobState} for every record of a job."""
        out = {}
        for rec in self.job_records(job_id):
            key = rec.get("JobId", "?")
            if rec.get("ArrayTaskId"):
                key = f"{rec.get('ArrayJobId')}_{rec['ArrayTaskId']}"
            out[key] = rec.get("JobState", "")
        return out

    def wait_for_jobs(
        self, job_ids: Iterable[str | int], timeout: float = 60.0, poll: float = 0.3
    ) -> dict[str, str | None]:
        """Wait until every job has left the queue (all its records are in a
        terminal state, or it is unknown).  Returns {job id: job_state}.
        Raises TimeoutError with the queue and log tail on timeout."""
        ids = [str(j) for j in job_ids]
        deadline = time.monotonic() + timeout
        pending = list(ids)
        while True:
            still = []
            for j in pending:
                recs = self.job_records(j)
                if any(rec.get("JobState", "") not in TERMINAL_STATES for rec in recs):
                    still.append(j)
            pending = still
            if not pending:
                return {j: self.job_state(j) for j in ids}
            if time.monotonic() > deadline:
                q = self.run(["squeue", "-a", "-l"], check=False, timeout=10)
                raise TimeoutError(
                    f"jobs {pending} still queued after {timeout:.0f}s\n{q.stdout}\n"
                    + self.log_tail()
                )
            time.sleep(poll)

    def log_tail(self, lines: int = 25) -> str:
        parts = []
        seen = set()
        for path in self._logs:
            if path in seen:
                continue
            seen.add(path)
            t = _tail(path, lines)
            if t:
                parts.append(f"--- {path} ---\n{t}")
        return "\n".join(parts)

    # -------------------------------------------------------------- teardown
    @staticmethod
    def _terminate(name: str, proc: subprocess.Popen, grace: float = 10.0) -> None:
        if proc.poll() is None:
            try:
                proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        if proc.poll() is None:
            try:
                proc.kill()
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        # Anything left in the daemon's own session (slurmctld's slurmscriptd).
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def _tagged_pids(self) -> list[int]:
        """Live processes carrying this cluster's tag in their environment."""
        if not self._tag:
            return []
        needle = f"{TAG_VAR}={self._tag}".encode() + b"\0"
        me = os.getpid()
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            pid = int(entry)
            if pid == me:
                continue
            try:
                with open(f"/proc/{pid}/environ", "rb") as fh:
                    data = fh.read() + b"\0"
            except OSError:
                continue
            if (b"\0" + needle) in (b"\0" + data):
                pids.append(pid)
        return pids

    def _kill_stragglers(self) -> None:
        for sig, wait in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 2.0)):
            pids = self._tagged_pids()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except (ProcessLookupError, PermissionError):
                    pass
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and self._tagged_pids():
                time.sleep(0.1)

    @staticmethod
    def _slurm_zombies() -> set[int]:
        pids = set()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", "rb") as fh:
                    stat = fh.read()
            except OSError:
                continue
            comm_end = stat.rfind(b")")
            if (
                b"(slurm" in stat[: comm_end + 1]
                and stat[comm_end + 2 : comm_end + 3] == b"Z"
            ):
                pids.add(int(entry))
        return pids

    def _wait_zombies_reaped(self, timeout: float = 5.0) -> None:
        """slurmstepd double-forks away from slurmd (and slurmscriptd outlives
        a killed slurmctld), so their zombies belong to init, which may reap
        them a moment later: wait (bounded) for that so that `pgrep slurm` is
        clean once the cluster has stopped."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not (self._slurm_zombies() - self._zombies_before):
                return
            time.sleep(0.2)

    def _stop_slurm(self) -> None:
        ctld = self._procs.get("slurmctld")
        if ctld is not None and ctld.poll() is None and self.env:
            # Cancel what is still queued so slurmstepds wind down cleanly.
            self.run(["scancel", f"--partition={PARTITION}"], check=False, timeout=15)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                r = self.run(["squeue", "-h", "-o", "%i"], check=False, timeout=10)
                if r.returncode != 0 or not r.stdout.strip():
                    break
                time.sleep(0.3)
        for name in [n for n in self._procs if n.startswith("slurmd.")] + ["slurmctld"]:
            proc = self._procs.pop(name, None)
            if proc is not None:
                self._terminate(name, proc)

    def stop(self) -> None:
        """Stop every daemon this cluster started; leave no process behind."""
        try:
            self._stop_slurm()
        finally:
            for name in list(self._procs):
                if name != "munged":
                    self._terminate(name, self._procs.pop(name))
            # slurmstepds and job processes last, munged after them (they may
            # still need it to talk to slurmd while winding down).
            self._kill_stragglers()
            munged = self._procs.pop("munged", None)
            if munged is not None:
                self._terminate("munged", munged)
            self._kill_stragglers()
            self._wait_zombies_reaped()
            self.started = False
            if self.root is not None and not self.keep:
                shutil.rmtree(self.root, ignore_errors=True)


def _require() -> bool:
    return os.environ.get("PIPEC_REQUIRE_SLURM") == "1"


@pytest.fixture(scope="session")
def slurm_cluster():
    """A started SlurmCluster, shared by the whole session.

    Skips when Slurm is unavailable, or fails if PIPEC_REQUIRE_SLURM=1."""
    cluster = SlurmCluster()
    problem = None
    try:
        cluster.start()
    except SlurmUnavailable as e:
        where = f"\n(logs kept in {cluster.root})" if cluster.root else ""
        problem = f"real Slurm cluster unavailable: {e}{where}"
    if problem is not None:
        if _require():
            pytest.fail(
                problem + "\n(PIPEC_REQUIRE_SLURM=1: failing, not skipping)",
                pytrace=False,
            )
        pytest.skip(problem)
    try:
        yield cluster
    finally:
        cluster.stop()
