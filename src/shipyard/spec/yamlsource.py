"""YAML reading that remembers where every key and value came from, for file:line errors.

PyYAML's composer gives a node tree with marks; we walk it ourselves so that each value is filed
under its path (``("steps", "write", "run", 0)``) and so that duplicate keys, which PyYAML would
silently let the last one win, are reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from shipyard.errors import Location, SpecProblem

try:  # the C parser is several times faster; fall back to pure Python where it is missing
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]


class _Loader(_BaseLoader):
    """YAML 1.2 booleans: only true/false.

    YAML 1.1 also reads yes/no/on/off as booleans, which turns a step named ``off`` or an env
    value ``NO`` (Norway) into a bool behind the user's back.
    """


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)

PathKey = tuple[str | int, ...]


@dataclass
class SourceMap:
    """Where each path of the document starts: the value, and for mapping entries the key."""

    file: Path | None
    values: dict[PathKey, Location] = field(default_factory=dict)
    keys: dict[PathKey, Location] = field(default_factory=dict)

    def locate(self, path: PathKey, *, key: bool = False) -> Location | None:
        """The location of ``path`` (its key if asked and known), else of its nearest ancestor."""
        if key and path in self.keys:
            return self.keys[path]
        probe = path
        while probe:
            if probe in self.values:
                return self.values[probe]
            probe = probe[:-1]
        return self.values.get(())


def _location(file: Path | None, mark: yaml.Mark | None) -> Location | None:
    if mark is None:
        return None
    return Location(file, mark.line + 1, mark.column + 1)


MERGE_TAG = "tag:yaml.org,2002:merge"


def _merge_key_problem(file: Path | None, key_node: yaml.Node) -> SpecProblem:
    """PyYAML would say it cannot construct the merge tag; say what it is and what to do."""
    return SpecProblem(
        "YAML merge keys ('<<:') are not supported in a spec",
        _location(file, key_node.start_mark),
        hint="write the keys out in this mapping; an anchor can still stand for a whole value "
        "(env: &common {...}, then env: *common), and 'env:' at the top of the spec applies "
        "to every unit",
    )


class _Walker:
    def __init__(self, loader: Any, source: SourceMap) -> None:
        self.loader = loader
        self.source = source
        self.problems: list[SpecProblem] = []
        #: Something was left out (a merge key, a key that is not a name): what was read is
        #: not the file, and checking it would report that loss as more problems.
        self.lossy = False

    def walk(self, node: yaml.Node, path: PathKey) -> Any:
        self.source.values[path] = _location(self.source.file, node.start_mark)  # type: ignore[assignment]
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.walk(item, (*path, index)) for index, item in enumerate(node.value)]
        return self.loader.construct_object(node, deep=True)

    def _mapping(self, node: yaml.MappingNode, path: PathKey) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        first_seen: dict[Any, Location | None] = {}
        for key_node, value_node in node.value:
            if key_node.tag == MERGE_TAG:
                self.problems.append(_merge_key_problem(self.source.file, key_node))
                self.lossy = True
                continue
            key = self.loader.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool) or key is None:
                where = _location(self.source.file, key_node.start_mark)
                self.problems.append(SpecProblem("keys must be plain names", where))
                self.lossy = True
                continue
            key = str(key) if not isinstance(key, str) else key
            where = _location(self.source.file, key_node.start_mark)
            if key in first_seen:
                self.problems.append(
                    SpecProblem(
                        f"duplicate key '{key}' (first defined at line {first_seen[key].line})"  # type: ignore[union-attr]
                        if first_seen[key]
                        else f"duplicate key '{key}'",
                        where,
                        hint="each name may appear once in a mapping; rename or merge them",
                    )
                )
                continue
            first_seen[key] = where
            child = (*path, key)
            if where is not None:
                self.source.keys[child] = where
            result[key] = self.walk(value_node, child)
        return result


#: Deeper than this is no spec (a real one is < 10 levels): PyYAML's composer and our walk
#: recurse, so `[` × 5000 ended in a RecursionError.
MAX_DEPTH = 64
#: Values (scalars and collections) the document may hold once every alias is expanded, as the
#: walk expands them. A 1 KB "billion laughs" file grew past 2.9 GB before; a large real spec
#: (1,000 steps of 20 values) is 20,000, and 50,000 steps of `{run: [true]}` (issue 10's scale
#: target) are 250,000, which 200,000 refused. A file within the 4 MiB read limit holds at most
#: ~2 million plain values, so this bound is about aliases, which the events below count.
MAX_NODES = 1_000_000


def _bounds_problem(text: str, file: Path | None) -> SpecProblem | None:
    """Check the document's depth, aliases and expanded size on the parser's event stream
    (libyaml's parser is iterative) before any node tree is built or walked."""
    loader = _Loader(text)
    try:
        expansion = _Expansion()
        while loader.check_event():
            event = loader.get_event()
            if event is None:
                break
            problem = expansion.feed(event)
            if problem is not None:
                message, hint = problem
                mark: Any = event.start_mark  # the C parser's Mark has the same fields
                return SpecProblem(message, _location(file, mark), hint=hint)
        return None
    finally:
        loader.dispose()


class _Expansion:
    """What the walk of a document would produce, followed one parser event at a time.

    An alias counts as the size of what its anchor holds; an alias to a collection that is not
    closed yet is recursive (`a: &x {env: *x}`) and can never be expanded.
    """

    def __init__(self) -> None:
        self.sizes: dict[str, int] = {}  # anchor → values it holds, once its value has ended
        self.anchors: list[str | None] = []  # of each collection being read
        self.counts = [0]  # values in each collection being read (index 0: the document)
        self.total = 0  # every value the walk will visit, aliases expanded

    def feed(self, event: yaml.Event) -> tuple[str, str] | None:
        """The problem (message, hint) ``event`` makes, if any."""
        if isinstance(event, yaml.CollectionEndEvent):
            anchor, size = self.anchors.pop(), self.counts.pop()
            if anchor is not None:
                self.sizes[anchor] = size
            self.counts[-1] += size
            return None
        if isinstance(event, yaml.CollectionStartEvent):
            if len(self.anchors) >= MAX_DEPTH:
                return (
                    f"the spec is nested more than {MAX_DEPTH} levels deep here",
                    "a spec is a few levels of mappings and lists; check the brackets",
                )
            self.anchors.append(event.anchor)
            self.counts.append(1)
            return self._add(1, event)
        if isinstance(event, yaml.AliasEvent):
            if event.anchor in self.anchors:
                return (
                    f"the alias '*{event.anchor}' is inside the value it refers to (a recursive "
                    "alias), which can never be written out",
                    f"refer to '&{event.anchor}' only after its value has ended",
                )
            size = self.sizes.get(event.anchor or "", 1)
            self.counts[-1] += size
            return self._add(size, event)
        if isinstance(event, yaml.ScalarEvent):
            if event.anchor is not None:
                self.sizes[event.anchor] = 1
            self.counts[-1] += 1
            return self._add(1, event)
        return None

    def _add(self, size: int, event: yaml.Event) -> tuple[str, str] | None:
        self.total += size
        if self.total <= MAX_NODES:
            return None
        if isinstance(event, yaml.AliasEvent):
            return (
                f"expanding the alias '*{event.anchor}' makes the spec hold more than "
                f"{MAX_NODES:,} values (aliases of aliases multiply)",
                "write the shared part once, or use fewer levels of aliases",
            )
        return (f"the spec holds more than {MAX_NODES:,} values", "split it into several specs")


def read_yaml(text: str, file: Path | None) -> tuple[Any, SourceMap]:
    """Parse ``text``; raise SpecError-ready problems as a list via ``YamlProblems``."""
    source = SourceMap(file)
    loader = _Loader(text)
    try:
        bounds = _bounds_problem(text, file)
        if bounds is not None:
            raise YamlProblems([bounds])
        node = loader.get_single_node()
        if node is None:
            return None, source
        walker = _Walker(loader, source)
        data = walker.walk(node, ())
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problem = (error.problem or "invalid YAML").strip()
        context = f" ({error.context.strip()})" if error.context else ""
        raise YamlProblems(
            [
                SpecProblem(
                    f"this is not valid YAML: {problem}{context}",
                    _location(file, mark),
                    hint="check the indentation and quoting around this line",
                )
            ]
        ) from None
    except yaml.YAMLError as error:
        raise YamlProblems([SpecProblem(f"this is not valid YAML: {error}")]) from None
    finally:
        loader.dispose()
    if walker.problems:
        # What was read is kept (a duplicate key's first value): the loader checks the rest
        # of the file too, so every problem is reported at once.
        raise YamlProblems(walker.problems, read=None if walker.lossy else (data, source))
    return data, source


class YamlProblems(Exception):
    """Internal: problems found while reading, turned into a SpecError by the loader.
    ``read``: the data and its positions, when the file could be read all the same."""

    def __init__(
        self, problems: list[SpecProblem], *, read: tuple[Any, SourceMap] | None = None
    ) -> None:
        self.problems = problems
        self.read = read
        super().__init__(problems)
