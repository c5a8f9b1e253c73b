"""Writing compiled files without harming anything else in the output directory.

The back ends return `{relative path: (text, executable)}`; this module is the one place that
puts those files on disk, for every target. The rules:

- **Planned first, then written.** `plan_output` looks at the output and collects every
  problem (one line each) before anything is written; `Plan.apply` then writes.
- **No links below OUT.** OUT itself may be a symbolic link (a location the user chose), but
  every directory and file below it is reached one component at a time without following a
  link (`O_NOFOLLOW` relative to the directory's descriptor): a link on the way to a file
  pipec writes (a directory or the file itself) is refused, so nothing is read, written,
  chmod-ed or removed outside OUT.
- **Only pipec's files.** `OUT/.pipec-manifest` (JSON, sorted, written last) lists each file
  pipec generated there, the SHA-256 of what it wrote and its owners: the compile runs
  (`<target>:<source file relative to OUT>`) that produce it. A file in the way that is not
  pipec's (not byte-identical to what would be written, not in the manifest with a matching
  hash, without pipec's header) is a problem unless `--force`; a file another source's
  compile generated is a problem too (two sources would take turns rewriting it).
  Shared files (a target declares them: the GitHub Actions runtime) list every owner; a user
  configuration file (`.github/actionlint.yaml`) that pipec did not write is never replaced,
  only checked.
- **Stale files go.** A full compile removes the files the manifest says it produced before
  and no longer produces (when no other owner keeps them and they are still pipec's), and the
  directories that leaves empty. A compile of only some pipelines, or of standard input,
  removes nothing.
- **Atomic.** Each file is written to a temporary file in its directory, fsync-ed (more than
  SYNC_EACH_MAX files: one sync() for all), then renamed over the target. All temporary files
  are written before the first rename; the
  manifest is rewritten (atomically) before the renames, listing both the old and the new
  hash of every file being replaced, and again at the end: an error or Ctrl-C at any point
  leaves every file whole and the manifest describing what is on disk.
- **Unchanged files are not touched** (content and mode equal: no write, mtime kept).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import secrets
import stat
import sys
from dataclasses import dataclass, field
from typing import Mapping

from pipec.targets import SharedFile

MANIFEST = ".pipec-manifest"
FORMAT = 1
ABOUT = ("Files pipec generated in this directory, the SHA-256 of what it wrote and the compile runs "
         "(target:source) that produce them. pipec replaces and removes only these; keep this file with them.")
HEAD_BYTES = 4096
# pipec's own header lines: how a file written before the manifest existed is recognised.
MARKER = re.compile(rb"^#[^\n]*\b(?:[Gg]enerated|compiled) by pipec\b|^# pipec (?:job|group|runtime|watcher)\b"
                    rb"|^tag='# pipec:", re.MULTILINE)
STREAM_SUFFIXES = (".yaml", ".yml")
SYNC_EACH_MAX = 64  # up to this many files are fsync-ed one by one; more with one sync()

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_BINARY = getattr(os, "O_BINARY", 0)
# Descriptor-relative operations make "never through a link" hold even if the tree changes
# while pipec runs; where the platform lacks them, each component is checked with lstat.
_USE_FDS = bool(_NOFOLLOW and _DIRECTORY) and {os.open, os.stat, os.mkdir, os.rename, os.unlink,
                                                 os.rmdir} <= os.supports_dir_fd


class OutputError(Exception):
    """Problems with the output (exit 2): one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


# ------------------------------------------------------------------------- the file system
def _rename(src: str, dst: str, dir_fd: int | None) -> None:
    """Rename within one directory (a seam for tests that simulate a failure midway)."""
    os.rename(src, dst, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)


class _Refused(Exception):
    """A path component pipec will not go through (a link, or not a directory)."""

    def __init__(self, rel: str, reason: str) -> None:
        super().__init__(reason)
        self.rel, self.reason = rel, reason


class _Dir:
    """One directory, reached without following links below OUT; names are single components."""

    def __init__(self, path: str, fd: int | None) -> None:
        self.path, self.fd = path, fd

    @classmethod
    def open_root(cls, path: str) -> _Dir:  # follows links: OUT is the user's choice
        return cls(path, os.open(path, os.O_RDONLY | _DIRECTORY | _CLOEXEC) if _USE_FDS else None)

    def _p(self, name: str) -> str:
        return name if self.fd is not None else os.path.join(self.path, name)

    def lstat(self, name: str) -> os.stat_result | None:
        try:
            return os.stat(self._p(name), dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def subdir(self, name: str) -> _Dir:
        path = os.path.join(self.path, name)
        if self.fd is not None:
            return _Dir(path, os.open(name, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC, dir_fd=self.fd))
        st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode):
            raise OSError(errno.ENOTDIR, "not a directory", path)
        return _Dir(path, None)

    def read(self, name: str) -> bytes:
        fd = os.open(self._p(name), os.O_RDONLY | _NOFOLLOW | _CLOEXEC | _BINARY, dir_fd=self.fd)
        with os.fdopen(fd, "rb") as f:
            return f.read()

    def mkdir(self, name: str) -> None:
        os.mkdir(self._p(name), 0o777, dir_fd=self.fd)

    def write_temp(self, name: str, data: bytes, mode: int, sync: bool = True) -> str:
        """`data` in a new temporary file beside `name`, with `mode` (on disk when `sync`); its name."""
        tmp = f".{name[:200]}.{secrets.token_hex(4)}.pipec-tmp"
        fd = os.open(self._p(tmp), os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC | _BINARY, 0o600,
                     dir_fd=self.fd)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if self.fd is not None:
                os.fchmod(fd, mode)
            else:
                os.chmod(self._p(tmp), mode)
            if sync:
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            self.unlink(tmp, quiet=True)
            raise
        os.close(fd)
        return tmp

    def rename(self, src: str, dst: str) -> None:
        _rename(self._p(src), self._p(dst), self.fd)

    def chmod(self, name: str, mode: int) -> None:
        if self.fd is None:
            os.chmod(self._p(name), mode)
            return
        fd = os.open(name, os.O_RDONLY | _NOFOLLOW | _CLOEXEC, dir_fd=self.fd)
        try:
            os.fchmod(fd, mode)
        finally:
            os.close(fd)

    def unlink(self, name: str, quiet: bool = False) -> None:
        try:
            os.unlink(self._p(name), dir_fd=self.fd)
        except OSError:
            if not quiet:
                raise

    def rmdir(self, name: str) -> bool:
        try:
            os.rmdir(self._p(name), dir_fd=self.fd)
            return True
        except OSError:
            return False

    def sync(self) -> None:
        if self.fd is not None:
            try:
                os.fsync(self.fd)
            except OSError:  # some file systems cannot sync a directory
                pass

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = -1


class _Tree:
    """The directories below OUT by relative path, opened once each, never through a link."""

    def __init__(self, root: _Dir | None) -> None:
        self.dirs: dict[str, _Dir | None] = {"": root}
        self.refused: dict[str, _Refused] = {}
        self.created: list[str] = []

    def dir(self, rel: str, create: bool = False) -> _Dir | None:
        """The directory `rel` ("" = OUT); None when it does not exist (and not `create`)."""
        if rel in self.refused:
            raise self.refused[rel]
        if rel == "" or rel in self.dirs and (self.dirs[rel] is not None or not create):
            return self.dirs[rel]
        parent_rel, _, name = rel.rpartition("/")
        parent = self.dir(parent_rel, create)
        found: _Dir | None = None
        if parent is not None:
            st = parent.lstat(name)
            if st is None and create:
                parent.mkdir(name)
                self.created.append(rel)
                st = parent.lstat(name)
            if st is not None:
                if stat.S_ISLNK(st.st_mode):
                    self.refused[rel] = _Refused(rel, "is a symbolic link; pipec does not write through links "
                                                      "below the output directory")
                elif not stat.S_ISDIR(st.st_mode):
                    self.refused[rel] = _Refused(rel, "is not a directory")
                else:
                    try:
                        found = parent.subdir(name)
                    except OSError as exc:  # replaced by a link since the lstat
                        self.refused[rel] = _Refused(rel, f"cannot open it: {exc.strerror}")
                if rel in self.refused:
                    raise self.refused[rel]
        self.dirs[rel] = found
        return found

    def forget(self, rel: str) -> None:
        d = self.dirs.pop(rel, None)
        if d is not None:
            d.close()

    def close(self) -> None:
        for d in self.dirs.values():
            if d is not None and d.fd is not None and d.fd >= 0:
                d.close()


# ------------------------------------------------------------------------------- manifest
def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _valid_rel(rel: object) -> bool:
    """A plain relative path below OUT: no absolute path, no `..`, `.` or empty component."""
    return (isinstance(rel, str) and rel != "" and not rel.startswith("/") and "\\" not in rel and "\0" not in rel
            and all(part not in ("", ".", "..") for part in rel.split("/")))


@dataclass
class _Entry:
    sha256: str
    owners: set[str]
    before: str | None = None  # a manifest written midway: the hash the file had before

    def hashes(self) -> set[str]:
        return {self.sha256} | ({self.before} if self.before else set())

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {"owners": sorted(self.owners), "sha256": self.sha256}
        if self.before:
            data["sha256-before"] = self.before
        return data


def _parse_manifest(data: bytes) -> dict[str, _Entry]:
    doc = json.loads(data.decode("utf-8"))
    if not isinstance(doc, dict) or doc.get("pipec-manifest") != FORMAT or not isinstance(doc.get("files"), dict):
        raise ValueError(f"not a pipec manifest of format {FORMAT}")
    entries = {}
    for rel, item in doc["files"].items():
        if not _valid_rel(rel) or rel == MANIFEST:
            raise ValueError(f"invalid path {rel!r}")
        owners, sha, before = item.get("owners"), item.get("sha256"), item.get("sha256-before")
        if (not isinstance(owners, list) or not all(isinstance(o, str) for o in owners) or not isinstance(sha, str)
                or not (before is None or isinstance(before, str))):
            raise ValueError(f"malformed entry for {rel!r}")
        entries[rel] = _Entry(sha, set(owners), before)
    return entries


def _manifest_bytes(entries: dict[str, _Entry], complete: bool = True) -> bytes:
    doc: dict[str, object] = {"pipec-manifest": FORMAT, "about": ABOUT}
    if not complete:
        doc["complete"] = False
    doc["files"] = {rel: entries[rel].to_json() for rel in sorted(entries)}
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _marked(data: bytes) -> bool:
    return MARKER.search(data[:HEAD_BYTES]) is not None


# ---------------------------------------------------------------------------------- plans
@dataclass
class _Write:
    rel: str
    data: bytes
    mode: int
    old: bytes | None = None  # what is on disk now (None: nothing)


@dataclass
class Plan:
    """What a compile will do to its output; `problems` (exit 2) and `warnings` are known
    before anything is written. `apply()` does it."""

    out: str
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    stdout: str | None = None  # text for standard output
    writes: list[_Write] = field(default_factory=list)
    chmods: list[tuple[str, int]] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)
    deleted: dict[str, bytes] = field(default_factory=dict)  # what each file being removed holds
    manifest: dict[str, _Entry] | None = None  # the final manifest (None: a single-file output keeps none)
    pending: dict[str, _Entry] | None = None  # written before the first rename
    manifest_now: bytes | None = None  # the manifest on disk
    _at: str = field(default="", repr=False)  # the path being written (for messages)

    @property
    def changes(self) -> bool:
        return bool(self.writes or self.chmods or self.deletes or self._manifest_change())

    def drift(self) -> list[tuple[str, str]]:
        """How the output differs from what this compile generates, without writing anything:
        (kind, path) with kind "missing", "stale" (other content or mode) or "left-over" (generated
        before, no longer: a full compile removes it), sorted by path."""
        found = [("missing" if w.old is None else "stale", _show(self.out, w.rel)) for w in self.writes]
        found += [("stale", _show(self.out, rel)) for rel, _ in self.chmods]
        found += [("left-over", _show(self.out, rel)) for rel in self.deletes]
        return sorted(found, key=lambda kind_path: kind_path[1])

    def diff(self) -> str:
        """A unified diff from the output on disk to what this compile generates."""
        import difflib

        def lines(data: bytes | None) -> list[str]:
            return [] if data is None else data.decode("utf-8", errors="replace").splitlines(keepends=True)

        changes = [(w.rel, w.old, w.data) for w in self.writes]
        changes += [(rel, data, None) for rel, data in self.deleted.items()]
        out = []
        for rel, old, new in sorted(changes, key=lambda c: c[0]):
            path = _show(self.out, rel)
            out.extend(difflib.unified_diff(lines(old), lines(new), "/dev/null" if old is None else f"a/{path}",
                                            "/dev/null" if new is None else f"b/{path}"))
        return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in out)

    def _manifest_change(self) -> bool:
        if self.manifest is None:
            return False
        if not self.manifest:
            return self.manifest_now is not None
        return _manifest_bytes(self.manifest) != self.manifest_now

    def apply(self) -> None:
        """Write the plan; OutputError (naming the file) when the file system refuses."""
        if self.problems:
            raise OutputError(self.problems)
        if self.stdout is not None:
            sys.stdout.write(self.stdout)
            sys.stdout.flush()
            return
        if not self.changes:
            return
        try:
            os.makedirs(self.out, exist_ok=True)
            tree = _Tree(_Dir.open_root(self.out))
        except OSError as exc:
            raise OutputError([f"{self.out}: error: cannot write to it: {exc.strerror or exc}"]) from None
        self._at = ""
        try:
            self._apply(tree)
        except _Refused as exc:
            raise OutputError([f"{_show(self.out, exc.rel)}: error: {exc.reason}"]) from None
        except OSError as exc:
            raise OutputError([f"{_show(self.out, self._at)}: error: cannot write to it: {exc.strerror or exc}"]) \
                from None
        finally:
            tree.close()

    def _apply(self, tree: _Tree) -> None:
        # 1. Every new content in a temporary file beside its target, on disk: a failure here
        # changes nothing. Many files are flushed with one sync() (an fsync each costs
        # milliseconds: seconds for a large pipeline).
        each = len(self.writes) <= SYNC_EACH_MAX or not hasattr(os, "sync")
        temps: list[tuple[_Dir, str, str, str]] = []  # (directory, temporary name, final name, path)
        renamed = 0
        try:
            for w in self.writes:
                self._at = w.rel
                parent, _, name = w.rel.rpartition("/")
                d = tree.dir(parent, create=True)
                assert d is not None
                temps.append((d, d.write_temp(name, w.data, w.mode, sync=each), name, w.rel))
            if not each:
                os.sync()
            # 2. The manifest names the old and the new content of each file, then the renames.
            if self.manifest is not None and self.pending is not None and (self.writes or self.deletes):
                self._at = MANIFEST
                self._write_manifest(tree, self.pending, complete=False)
            for d, tmp, name, rel in temps:
                self._at = rel
                d.rename(tmp, name)
                renamed += 1
        except BaseException:
            for d, tmp, _, _ in temps[renamed:]:
                d.unlink(tmp, quiet=True)
            if not renamed:  # leave no empty directory behind either
                for rel in reversed(tree.created):
                    up, _, base = rel.rpartition("/")
                    tree.forget(rel)
                    holder = tree.dirs.get(up)
                    if holder is not None and holder.fd != -1:
                        holder.rmdir(base)
            raise
        changed = {id(d): d for d, _, _, _ in temps}
        # 3. Modes, then what is no longer generated, and the directories that leaves empty.
        for rel, mode in self.chmods:
            self._at = rel
            parent, _, name = rel.rpartition("/")
            d = tree.dir(parent)
            if d is not None:
                d.chmod(name, mode)
        emptied: set[str] = set()
        for rel in self.deletes:
            self._at = rel
            parent, _, name = rel.rpartition("/")
            d = tree.dir(parent)
            st = d.lstat(name) if d is not None else None
            if d is not None and st is not None and stat.S_ISREG(st.st_mode):
                d.unlink(name)
                changed[id(d)] = d
                while parent:
                    emptied.add(parent)
                    parent = parent.rpartition("/")[0]
        for rel in sorted(emptied, key=lambda r: (-r.count("/"), r)):  # deepest first; OUT itself stays
            up, _, base = rel.rpartition("/")
            holder = tree.dir(up)
            tree.forget(rel)
            if holder is not None and holder.rmdir(base):
                changed[id(holder)] = holder
        for d in changed.values():  # the renames and removals themselves, on disk
            if d.fd != -1:
                d.sync()
        # 4. The manifest, last.
        if self.manifest is not None:
            self._at = MANIFEST
            self._write_manifest(tree, self.manifest, complete=True)

    def _write_manifest(self, tree: _Tree, entries: dict[str, _Entry], complete: bool) -> None:
        root = tree.dir("")
        assert root is not None
        if not entries and complete:
            if root.lstat(MANIFEST) is not None:
                root.unlink(MANIFEST)
                root.sync()
            return
        data = _manifest_bytes(entries, complete)
        tmp = root.write_temp(MANIFEST, data, 0o644)
        try:
            root.rename(tmp, MANIFEST)
        except BaseException:
            root.unlink(tmp, quiet=True)
            raise
        root.sync()


def _show(out: str, rel: str) -> str:
    return os.path.normpath(os.path.join(out, rel)) if rel else out


def output_kind(output: str, streams: bool, suffixes: tuple[str, ...] = STREAM_SUFFIXES) -> str:
    """How `-o OUTPUT` is written: "stdout", "file" (one YAML stream) or "dir". A target that
    streams takes `-`, `*.yaml` / `*.yml` (or its own `suffixes`), or a directory: an existing
    one, a path ending in `/`, or a name without a suffix; another suffix is an OutputError."""
    if not output:
        raise OutputError(["-o: an empty path; give a directory" + (", a *.yaml file or -" if streams else "")])
    if not streams:
        return "dir"
    if output == "-":
        return "stdout"
    if output.endswith(suffixes):
        return "file"
    name = os.path.basename(output.rstrip("/" + os.sep))
    if output.endswith(("/", os.sep)) or os.path.isdir(output) or not os.path.splitext(name)[1]:
        return "dir"
    raise OutputError([f"-o {output}: not a *.yaml / *.yml file nor a directory: give - (standard output), "
                       f"a *.yaml or *.yml file (every pipeline in one YAML stream), or a directory (an existing "
                       f"one, a path ending in /, or a name without a suffix) for one file per pipeline"])


def plan_output(output: str, files: dict[str, tuple[str, bool]], *, target: str, source: str, streams: bool = False,
                force: bool = False, partial: bool = False, shared: Mapping[str, SharedFile] | None = None,
                suffixes: tuple[str, ...] = STREAM_SUFFIXES) -> Plan:
    """The plan for writing a compile's `files` to `output` (see the module's rules).
    `source`: the input file ("-" for standard input); `partial`: the run compiled only some
    of its pipelines (nothing is removed); `shared`: the target's files that several compiles
    into one directory share (`Target.shared`); `suffixes`: what a single output file's name
    ends with (default *.yaml / *.yml)."""
    kind = output_kind(output, streams, suffixes)
    if kind == "stdout":
        return Plan(output, stdout="---\n".join(text for _, (text, _) in sorted(files.items())))
    if kind == "file":
        return _plan_file(output, "---\n".join(text for _, (text, _) in sorted(files.items())).encode("utf-8"), force)
    return _plan_tree(output, files, owner=f"{target}:{_source_key(source, output)}", force=force,
                      partial=partial or source == "-", shared=shared or {})


def source_name(source: str, output: str) -> str:
    """How generated files name their source, the same whatever the spelling of the path and
    wherever pipec runs: relative to the root of the repository that holds the output (or to
    the working directory outside one), with / separators; a source outside that folder keeps
    its path as given, normalised, or only its file name when that path is absolute."""
    if source == "-":
        return "<stdin>"
    from pipec.repository import enclosing_repository

    where = os.getcwd() if output == "-" else os.path.abspath(output)
    if output.endswith(STREAM_SUFFIXES):
        where = os.path.dirname(where)
    while not os.path.isdir(where):  # the output directory may not exist yet
        where = os.path.dirname(where)
    root = os.path.realpath(enclosing_repository(where) or os.getcwd())
    real = os.path.realpath(source)
    if real == root or real.startswith(root.rstrip(os.sep) + os.sep):
        return os.path.relpath(real, root).replace(os.sep, "/")
    if os.path.isabs(source):
        return os.path.basename(source)
    return os.path.normpath(source).replace(os.sep, "/")


def gone_sources(out: str, target: str) -> list[str]:
    """The sources (as paths from the working directory) that pipec compiled for `target` into
    `out` and that no longer exist (a manifest owner "target:source" names the source relative
    to OUT). A plan for one of them with no files removes what it generated there."""
    try:
        with open(os.path.join(out, MANIFEST), "rb") as f:
            entries = _parse_manifest(f.read())
    except (OSError, ValueError, UnicodeDecodeError, AttributeError):
        return []
    owners = {o for entry in entries.values() for o in entry.owners}
    gone = []
    for owner in sorted(owners):
        kind, _, source = owner.partition(":")
        path = os.path.normpath(os.path.join(out, source))
        if kind == target and source != "-" and not os.path.lexists(path):
            gone.append(path)
    return gone


def _source_key(source: str, out: str) -> str:
    """The source file as the manifest names it: relative to OUT (the same from any directory)."""
    if source == "-":
        return "-"
    real = os.path.realpath(source)
    try:
        rel = os.path.relpath(real, os.path.realpath(out))
    except ValueError:  # another drive
        rel = real
    return rel.replace(os.sep, "/")


def _check_out(out: str) -> str | None:
    """Why OUT cannot be a directory pipec writes into (None: it can)."""
    if os.path.lexists(out) and not os.path.exists(out):
        return "is a symbolic link to nothing; cannot write to it"
    if os.path.exists(out):
        return None if os.path.isdir(out) else "is not a directory; cannot write to it"
    up = os.path.dirname(os.path.abspath(out))
    while not os.path.exists(up):
        if os.path.lexists(up):
            return f"cannot write to it: {up} is a symbolic link to nothing"
        up = os.path.dirname(up)
    return None if os.path.isdir(up) else f"cannot write to it: {up} is not a directory"


def _inspect(tree: _Tree, rel: str) -> tuple[bytes | None, int]:
    """The current content and mode of `rel` (None: it does not exist); _Refused for a link on
    the way, a directory or a special file."""
    parent, _, name = rel.rpartition("/")
    d = tree.dir(parent)
    if d is None:
        return None, 0
    st = d.lstat(name)
    if st is None:
        return None, 0
    if stat.S_ISLNK(st.st_mode):
        raise _Refused(rel, "is a symbolic link; pipec does not write through links below the output directory")
    if stat.S_ISDIR(st.st_mode):
        raise _Refused(rel, "is a directory")
    if not stat.S_ISREG(st.st_mode):
        raise _Refused(rel, "is not a regular file")
    try:
        return d.read(name), stat.S_IMODE(st.st_mode)
    except OSError as exc:
        raise _Refused(rel, f"cannot read it: {exc.strerror}") from None


def _plan_tree(out: str, files: dict[str, tuple[str, bool]], *, owner: str, force: bool, partial: bool,
               shared: Mapping[str, SharedFile]) -> Plan:
    plan = Plan(out)
    problem = _check_out(out)
    if problem:
        plan.problems.append(f"{out}: error: {problem}")
        return plan
    root: _Dir | None = None
    if os.path.isdir(out):
        try:
            root = _Dir.open_root(out)
        except OSError as exc:
            plan.problems.append(f"{out}: error: cannot write to it: {exc.strerror}")
            return plan
    tree = _Tree(root)
    try:
        _plan_files(plan, tree, out, files, owner, force, partial, shared)
    finally:
        tree.close()
    return plan


def _plan_files(plan: Plan, tree: _Tree, out: str, files: dict[str, tuple[str, bool]], owner: str, force: bool,
                partial: bool, shared_files: Mapping[str, SharedFile]) -> None:
    def show(rel: str) -> str:
        return _show(out, rel)

    refused: set[str] = set()

    def refuse(exc: _Refused) -> None:
        if exc.rel not in refused:
            refused.add(exc.rel)
            plan.problems.append(f"{show(exc.rel)}: error: {exc.reason}")

    # The manifest.
    old: dict[str, _Entry] = {}
    try:
        plan.manifest_now, _ = _inspect(tree, MANIFEST)
    except _Refused as exc:
        refuse(exc)
    if plan.manifest_now is not None:
        try:
            old = _parse_manifest(plan.manifest_now)
        except (ValueError, UnicodeDecodeError, AttributeError) as exc:
            if force:
                plan.warnings.append(f"{show(MANIFEST)}: warning: unreadable ({exc}); --force starts a new one")
            else:
                plan.problems.append(f"{show(MANIFEST)}: error: unreadable ({exc}): remove it (pipec then "
                                     f"recognises its files by their headers) or use --force")

    # What is on disk where each file goes.
    wanted: dict[str, tuple[bytes, int]] = {}
    current: dict[str, bytes | None] = {}
    for rel, (text, executable) in sorted(files.items()):
        if not _valid_rel(rel) or rel == MANIFEST:
            plan.problems.append(f"{show(rel)}: error: pipec will not write this path (a back end's mistake)")
            continue
        wanted[rel] = (text.encode("utf-8"), 0o755 if executable else 0o644)
        try:
            current[rel], mode = _inspect(tree, rel)
        except _Refused as exc:
            refuse(exc)
            continue
        if current[rel] is not None and current[rel] == wanted[rel][0] and mode != wanted[rel][1]:
            plan.chmods.append((rel, wanted[rel][1]))

    # (directory, name up to the first dot) of each file pipec writes whose current copy has pipec's header
    marked_stems = {(rel.rpartition("/")[0], rel.rpartition("/")[2].partition(".")[0])
                    for rel, data in current.items() if data is not None and _marked(data)}

    def pipecs(rel: str, data: bytes, entry: _Entry | None, headers: bool) -> bool:
        """Whether the file on disk at `rel` is one pipec wrote."""
        if entry is not None and _sha(data) in entry.hashes():
            return True
        if not headers:
            return False
        if _marked(data):
            return True
        if entry is None:  # written before the manifest: a data file beside its marked script
            parent, _, name = rel.rpartition("/")
            return (parent, name.partition(".")[0]) in marked_stems
        return False

    new: dict[str, _Entry] = {rel: _Entry(e.sha256, set(e.owners), None) for rel, e in old.items()}
    pending: dict[str, _Entry] = {rel: _Entry(e.sha256, set(e.owners), e.before) for rel, e in old.items()}
    for rel, (data, mode) in wanted.items():
        if rel not in current:  # refused
            continue
        disk = current[rel]
        entry = old.get(rel)
        shared = shared_files.get(rel)
        others = (entry.owners - {owner}) if entry else set()
        if shared and shared.merge and others and disk is not None and pipecs(rel, disk, entry, False):
            data = shared.merge(disk, data)
        if not shared and others and disk != data:
            if not force:
                plan.problems.append(f"{show(rel)}: error: generated by another compile ({', '.join(sorted(others))}) "
                                     f"into this directory; this one would replace it: rename the pipeline or compile "
                                     f"into another directory (--force takes it over)")
                continue
            others = set()
        if disk is not None and disk != data and not pipecs(rel, disk, entry, not (shared and shared.user_config)):
            if shared and shared.check:
                warning = shared.check(disk, data)
                if warning:
                    line = _line_of(disk, (b"labels:", b"self-hosted-runner:"))
                    plan.warnings.append(f"{show(rel)}:{line}:1: warning: {warning}")
                new.pop(rel, None)
                pending.pop(rel, None)
                continue
            if not force:
                why = (f"changed since pipec wrote it (not the content {MANIFEST} records) and has no pipec header"
                       if entry else f"not generated by pipec (not in {MANIFEST}, no pipec header)")
                plan.problems.append(f"{show(rel)}: error: {why}: remove or rename it, or use --force to replace it")
                continue
        if disk != data:
            plan.writes.append(_Write(rel, data, mode, disk))
        owners = others | {owner}
        new[rel] = _Entry(_sha(data), owners)
        before = _sha(disk) if disk is not None and disk != data else None
        pending[rel] = _Entry(_sha(data), owners | (entry.owners if entry and not force else set()), before)

    # What this source produced before and no longer does.
    if not partial:
        for rel, entry in sorted(old.items()):
            if owner not in entry.owners or rel in wanted:
                continue
            new[rel].owners.discard(owner)
            if new[rel].owners:
                continue
            del new[rel]
            shared = shared_files.get(rel)
            try:
                disk, _ = _inspect(tree, rel)
            except _Refused as exc:
                if exc.rel not in refused:
                    refused.add(exc.rel)
                    plan.warnings.append(f"{show(exc.rel)}: warning: {exc.reason}: what pipec generated there and "
                                         f"no longer does is left in place")
                continue
            if disk is None:
                continue
            if pipecs(rel, disk, entry, not (shared and shared.user_config)):
                plan.deletes.append(rel)
                plan.deleted[rel] = disk
            else:
                plan.warnings.append(f"{show(rel)}: warning: no longer generated, but changed since pipec wrote it: "
                                     f"left in place (and forgotten)")
    deleting = set(plan.deletes)
    for rel in list(new):  # forget what the manifest named that is gone and no longer wanted
        if rel not in wanted and rel not in deleting and not _exists(tree, rel):
            del new[rel]
    plan.manifest, plan.pending = new, pending


def _exists(tree: _Tree, rel: str) -> bool:
    parent, _, name = rel.rpartition("/")
    try:
        d = tree.dir(parent)
    except _Refused:
        return True
    return d is not None and d.lstat(name) is not None


def _line_of(data: bytes, keys: tuple[bytes, ...]) -> int:
    for key in keys:
        for n, line in enumerate(data.splitlines(), 1):
            if line.strip().startswith(key):
                return n
    return 1


def _plan_file(path: str, data: bytes, force: bool) -> Plan:
    """One YAML stream to one file. No manifest: the file is pipec's when it carries pipec's header."""
    plan = Plan(path)
    parent = os.path.dirname(path) or "."
    problem = _check_out(parent)
    if problem:
        plan.problems.append(f"{parent}: error: {problem}")
        return plan
    if os.path.islink(path):
        plan.problems.append(f"{path}: error: is a symbolic link; pipec replaces the file by renaming and does not "
                             f"write through links: give the link's target")
        return plan
    disk: bytes | None = None
    if os.path.lexists(path):
        if os.path.isdir(path):
            plan.problems.append(f"{path}: error: is a directory")
            return plan
        if not os.path.isfile(path):
            plan.problems.append(f"{path}: error: is not a regular file")
            return plan
        try:
            with open(path, "rb") as f:
                disk = f.read()
        except OSError as exc:
            plan.problems.append(f"{path}: error: cannot read it: {exc.strerror}")
            return plan
    if disk is not None and disk != data and not _marked(disk) and not force:
        plan.problems.append(f"{path}: error: not generated by pipec (no pipec header): remove or rename it, "
                             f"or use --force to replace it")
        return plan
    if disk != data:
        plan.writes.append(_Write(os.path.basename(path), data, 0o644, disk))
        plan.out = parent
    return plan
