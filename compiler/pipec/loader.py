"""YAML -> plain data plus a map from each value's path to its line and column.

The document is built from libyaml's event stream rather than from composed nodes: the C
composer recurses per nesting level and crashes the interpreter on deeply nested input, and
building from events lets us bound depth, alias expansion and size before any of it costs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Union

import yaml

from pipec.errors import Diagnostics, Location, PipecError

Path = tuple[Union[str, int], ...]

MAX_BYTES = 10 * 1024 * 1024
MAX_DEPTH = 64
MAX_ALIAS_NODES = 100_000
MAX_INT = 10**18

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"


@dataclass
class Document:
    """Plain data (dicts, lists, scalars) and where each piece came from."""

    file: str
    data: Any
    positions: dict[Path, tuple[int, int]] = field(default_factory=dict)
    key_positions: dict[Path, tuple[int, int]] = field(default_factory=dict)
    # Paths of numbers no pipeline means (infinities, NaNs, integers beyond MAX_INT), noted
    # while loading so front ends need not walk the whole document to find them.
    odd_numbers: list[Path] = field(default_factory=list)
    # Where a value reached through an alias (`*name`, or a key merged in by `<<: *name`)
    # was written: its path -> (the anchored value's path, the anchor's name).
    aliases: dict[Path, tuple[Path, str]] = field(default_factory=dict)

    def written(self, path: Path) -> Path:
        """The path of the text that wrote the value at `path`: below an alias, the anchored
        value's own path (so an error inside `*branch` points at the branch's text)."""
        path = tuple(path)
        for _ in range(64):  # aliases nest at most as deep as the document
            for i in range(len(path), 0, -1):
                target = self.aliases.get(path[:i])
                if target is not None:
                    path = target[0] + path[i:]
                    break
            else:
                return path
        return path

    def alias_use(self, path: Path) -> tuple[Path, str] | None:
        """The outermost alias `path` goes through, and its anchor's name (None: written in place)."""
        path = tuple(path)
        for i in range(1, len(path) + 1):
            if path[:i] in self.aliases:
                return path[:i], self.aliases[path[:i]][1]
        return None

    def locate(self, path: Path) -> Location:
        """Location of the value at `path` (below an alias: in the anchored text), or of its
        nearest located ancestor."""
        path = tuple(path)
        if path not in self.positions:
            path = self.written(path)
        while True:
            pos = self.positions.get(path)
            if pos is not None:
                return Location(self.file, pos[0], pos[1])
            if not path:
                return Location(self.file, 1, 1)
            path = path[:-1]

    def locate_key(self, path: Path) -> Location:
        """Location of the mapping key that ends `path` (falls back to the value)."""
        pos = self.key_positions.get(tuple(path))
        if pos is None:
            pos = self.key_positions.get(self.written(path))
        if pos is not None:
            return Location(self.file, pos[0], pos[1])
        return self.locate(path)


class _Scalars:
    """Resolves and constructs plain scalars exactly as PyYAML's safe loader does."""

    def __init__(self) -> None:
        self._loader = yaml.SafeLoader("")
        # Plain scalars resolve by their text alone, and what they construct to is immutable
        # (str, int, float, bool, None, dates), so each distinct text is built once.
        self._plain: dict[str, Any] = {}

    def build(self, event: yaml.ScalarEvent) -> Any:
        if event.tag is None and event.implicit[0]:
            try:
                return self._plain[event.value]
            except KeyError:
                value = self._plain[event.value] = self._build(event)
                return value
        if event.tag is None and event.implicit[1]:
            return event.value  # a quoted scalar is a string
        return self._build(event)

    def _build(self, event: yaml.ScalarEvent) -> Any:
        tag = event.tag
        if tag is None or tag == "!":
            tag = self._loader.resolve(yaml.ScalarNode, event.value, event.implicit)
        constructor = self._loader.yaml_constructors.get(tag)
        if constructor is None:
            raise _BuildError(f"unsupported YAML tag {tag!r}", event.start_mark, code="PC004")
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        try:
            return constructor(self._loader, node)
        except Exception as exc:  # any failure of a scalar constructor (`!!bool maybe` raises KeyError)
            raise _BuildError(f"cannot read {event.value!r} as {tag.rsplit(':', 1)[-1]}: {exc}", event.start_mark,
                              code="PC004") from None

    def is_merge_key(self, event: yaml.ScalarEvent) -> bool:
        if event.tag not in (None, "!"):
            return False
        return self._loader.resolve(yaml.ScalarNode, event.value, event.implicit) == _MERGE_TAG


class _BuildError(Exception):
    def __init__(self, message: str, mark: Any, hint: str | None = None, code: str = "PC001"):
        super().__init__(message)
        self.message = message
        self.mark = mark
        self.hint = hint
        self.code = code  # a rule of pipec/rules.py: yaml-syntax unless said otherwise


@dataclass
class _Frame:
    kind: str  # "map" or "seq"
    value: Any
    path: Path
    anchor: str | None
    mark: Any
    size: int = 1
    pending_key: Any = None
    pending_key_mark: Any = None
    expect_key: bool = True
    merge_next: bool = False
    key_marks: dict[str, Any] = field(default_factory=dict)
    merged: dict[str, Any] = field(default_factory=dict)


def _pos(mark: Any) -> tuple[int, int]:
    return (mark.line + 1, mark.column + 1)


class _Builder:
    def __init__(self, doc: Document, diags: Diagnostics, strict: bool, max_depth: int, max_alias_nodes: int):
        self.doc = doc
        self.diags = diags
        self.strict = strict
        self.max_depth = max_depth
        self.max_alias_nodes = max_alias_nodes
        self.scalars = _Scalars()
        self.anchors: dict[str, tuple[Any, int, Path]] = {}
        self.anchored: dict[int, tuple[Path, str]] = {}  # id of an anchored mapping -> its path, anchor
        self.alias_nodes = 0
        self.stack: list[_Frame] = []
        self.root: Any = None
        self.documents = 0
        self.handlers = {
            yaml.ScalarEvent: self.scalar,
            yaml.MappingStartEvent: self.collection_start,
            yaml.SequenceStartEvent: self.collection_start,
            yaml.MappingEndEvent: self.collection_end,
            yaml.SequenceEndEvent: self.collection_end,
            yaml.AliasEvent: self.alias,
            yaml.DocumentStartEvent: self.document_start,
        }

    def child_path(self) -> Path:
        if not self.stack:
            return ()
        top = self.stack[-1]
        if top.kind == "seq":
            return top.path + (len(top.value),)
        return top.path + (top.pending_key,)

    def add(self, value: Any, size: int, mark: Any, anchor: str | None) -> None:
        """Attach a finished value to its parent (or make it the root)."""
        if anchor is not None:
            path = self.child_path() if not (self.stack and self.stack[-1].kind == "map" and self.stack[-1].expect_key) else ()
            self.anchors[anchor] = (value, size, path)
            if isinstance(value, dict):
                self.anchored[id(value)] = (path, anchor)
        if not self.stack:
            self.root = value
            return
        top = self.stack[-1]
        top.size += size
        if top.kind == "seq":
            top.value.append(value)
            return
        if top.expect_key:
            self.take_key(top, value, mark)
            return
        key = top.pending_key
        top.expect_key = True
        if top.merge_next:
            top.merge_next = False
            self.merge(top, value, mark)
            return
        if key in top.value and key not in top.merged:  # overriding a merged key is the point of `<<`
            first = top.key_marks[key]
            message = (
                f"duplicate key {key!r} (first at line {first.line + 1}, column {first.column + 1}); "
                "the later value wins"
            )
            loc = Location(self.doc.file, *_pos(top.pending_key_mark))
            hint = "YAML keeps only the last of duplicate keys; merge the two entries"
            if self.strict:
                self.diags.error(message, loc, hint, code="PC010")
            else:
                self.diags.warning(message, loc, hint, code="PC010")
        top.key_marks[key] = top.pending_key_mark
        if top.merged.pop(key, None):
            self.doc.aliases.pop(top.path + (key,), None)  # written here, not in the merged mapping
        top.value[key] = value

    def take_key(self, top: _Frame, key: Any, mark: Any) -> None:
        if isinstance(key, (dict, list)):
            raise _BuildError("a mapping key must be a plain value, not a mapping or list", mark)
        if not isinstance(key, str):  # an alias to a non-string scalar used as a key
            key = "null" if key is None else str(key)
        top.pending_key = key
        top.pending_key_mark = mark
        top.expect_key = False

    def merge(self, top: _Frame, value: Any, mark: Any) -> None:
        sources = value if isinstance(value, list) else [value]
        taken: set[str] = set()  # in `<<: [*a, *b]` the first mapping wins, as in PyYAML
        for source in sources:
            if not isinstance(source, dict):
                raise _BuildError("a merge key '<<' takes a mapping or a list of mappings", mark)
            origin = self.anchored.get(id(source))
            for k, v in source.items():
                if k in taken:
                    continue
                if k not in top.value or k in top.merged:
                    if origin is not None:
                        self.doc.aliases[top.path + (k,)] = (origin[0] + (k,), origin[1])
                    top.value[k] = v
                    top.merged[k] = True
                    top.key_marks.setdefault(k, mark)
                    taken.add(k)

    def scalar(self, ev: Any) -> None:
        if "\x00" in ev.value:  # no shell variable, argument or file name can carry it
            self.diags.error("a NUL character cannot be part of a pipeline", Location(self.doc.file, *_pos(ev.start_mark)),
                             code="PC005")
        top = self.stack[-1] if self.stack else None
        if top is not None and top.kind == "map" and top.expect_key:
            if ev.value == "<<" and self.scalars.is_merge_key(ev):
                top.pending_key = "<<"
                top.pending_key_mark = ev.start_mark
                top.expect_key = False
                top.merge_next = True
                return
            # Keys keep their source text: `yes:` or `1:` stay the strings the author wrote.
            key = ev.value if ev.tag in (None, "!", _STR_TAG) else self.scalars.build(ev)
            if not isinstance(key, str):
                key = str(key)
            path = top.path + (key,)
            self.doc.key_positions[path] = _pos(ev.start_mark)
            self.take_key(top, key, ev.start_mark)
            return
        value = self.scalars.build(ev)
        path = self.child_path()
        self.doc.positions[path] = _pos(ev.start_mark)
        if (value.__class__ is float and not math.isfinite(value)) or (
            value.__class__ is int and abs(value) > MAX_INT
        ):
            self.doc.odd_numbers.append(path)
        self.add(value, 1, ev.start_mark, ev.anchor)

    def collection_start(self, ev: Any) -> None:
        allowed = _MAP_TAG if isinstance(ev, yaml.MappingStartEvent) else _SEQ_TAG
        if ev.tag not in (None, "!", allowed):
            raise _BuildError(f"unsupported YAML tag {ev.tag!r}", ev.start_mark, code="PC004")
        if self.stack and self.stack[-1].kind == "map" and self.stack[-1].expect_key:
            raise _BuildError("a mapping key must be a plain value, not a mapping or list", ev.start_mark)
        if len(self.stack) >= self.max_depth:
            raise _BuildError(
                f"nesting deeper than {self.max_depth} levels", ev.start_mark,
                "pipeline files are shallow; this looks like generated or hostile input", code="PC003",
            )
        path = self.child_path()
        self.doc.positions[path] = _pos(ev.start_mark)
        if isinstance(ev, yaml.MappingStartEvent):
            self.stack.append(_Frame("map", {}, path, ev.anchor, ev.start_mark))
        else:
            self.stack.append(_Frame("seq", [], path, ev.anchor, ev.start_mark))

    def collection_end(self, ev: Any) -> None:
        frame = self.stack.pop()
        self.add(frame.value, frame.size, frame.mark, frame.anchor)

    def alias(self, ev: Any) -> None:
        if ev.anchor not in self.anchors:
            raise _BuildError(f"unknown alias *{ev.anchor}", ev.start_mark)
        value, size, origin = self.anchors[ev.anchor]
        self.alias_nodes += size
        if self.alias_nodes > self.max_alias_nodes:
            raise _BuildError(
                f"aliases expand to more than {self.max_alias_nodes} values", ev.start_mark,
                "refusing exponential alias expansion (a 'billion laughs' document)", code="PC003",
            )
        here = self.child_path()
        self.doc.positions[here] = _pos(ev.start_mark)
        if isinstance(value, (dict, list)) and not (self.stack and self.stack[-1].kind == "map" and self.stack[-1].expect_key):
            self.doc.aliases[here] = (origin, ev.anchor)
        self.add(value, size, ev.start_mark, None)

    def document_start(self, ev: Any) -> None:
        self.documents += 1
        if self.documents > 1:
            raise _BuildError("expected a single YAML document, found another '---'", ev.start_mark)


def load_text(
    text: str,
    file: str,
    diags: Diagnostics,
    *,
    strict: bool = False,
    max_depth: int = MAX_DEPTH,
    max_alias_nodes: int = MAX_ALIAS_NODES,
) -> Document:
    """Parse YAML text. Problems go to `diags`; a document that cannot be read raises PipecError."""
    doc = Document(file, None)
    builder = _Builder(doc, diags, strict, max_depth, max_alias_nodes)
    try:
        handlers = builder.handlers
        for ev in yaml.parse(text, Loader=_Loader):
            handler = handlers.get(ev.__class__)
            if handler is not None:
                handler(ev)
    except _BuildError as exc:
        diags.error(exc.message, Location(file, *_pos(exc.mark)), exc.hint, code=exc.code)
        raise PipecError(diags.sorted()) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Location(file, *_pos(mark)) if mark is not None else Location(file, 1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        hint = None
        if "mapping values are not allowed" in problem or "did not find expected key" in problem or (
            "expected <block end>" in problem
        ):
            hint = "check the indentation of this line and the one above it"
        diags.error(f"invalid YAML: {problem}", loc, hint, code="PC001")
        raise PipecError(diags.sorted()) from None
    except yaml.YAMLError as exc:
        diags.error(f"invalid YAML: {exc}", Location(file, 1, 1), code="PC001")
        raise PipecError(diags.sorted()) from None
    doc.data = builder.root
    return doc


def load_bytes(raw: bytes, file: str, diags: Diagnostics, *, strict: bool = False, max_bytes: int = MAX_BYTES) -> Document:
    return load_text(decode(raw, file, diags, max_bytes), file, diags, strict=strict)


def decode(raw: bytes, file: str, diags: Diagnostics, max_bytes: int = MAX_BYTES) -> str:
    """The text of a file; too large a file or one that is not UTF-8 raises PipecError."""
    if len(raw) > max_bytes:
        diags.error(
            f"file is {len(raw)} bytes, more than the limit of {max_bytes}", Location(file, 1, 1),
            "pipeline files are small; raise the limit only for generated pipelines you trust", code="PC003",
        )
        raise PipecError(diags.sorted())
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        diags.error("file is not valid UTF-8", Location(file, line, col), code="PC002")
        raise PipecError(diags.sorted()) from None
    return text


def remap(doc: Document, lines: tuple[int, ...]) -> None:
    """Move every position of a document parsed from generated text to the source line that
    generated it (`lines[i]` is the source line of generated line i+1)."""
    def moved(pos: tuple[int, int]) -> tuple[int, int]:
        return (lines[pos[0] - 1] if 0 < pos[0] <= len(lines) else (lines[-1] if lines else 1)), pos[1]

    doc.positions = {path: moved(pos) for path, pos in doc.positions.items()}
    doc.key_positions = {path: moved(pos) for path, pos in doc.key_positions.items()}


def remap_location(location: Location, lines: tuple[int, ...]) -> Location:
    line = lines[location.line - 1] if 0 < location.line <= len(lines) else (lines[-1] if lines else 1)
    return Location(location.file, line, location.col)
