"""Reading YAML with bounded alias expansion (no "billion laughs").

YAML aliases (``*name``) repeat an anchored node (``&name``) without copying it, so a
few hundred bytes of nested aliases stand for billions of nodes: cheap to parse, but
everything that walks the result — validation, an error message echoing the value,
JSON encoding — runs for minutes and prints hundreds of megabytes. :func:`load_yaml`
counts, while composing, how many nodes each alias adds once expanded, and refuses the
document (naming the line of the alias) as soon as the aliases exceed
:data:`MAX_ALIASES` references or :data:`MAX_ALIAS_NODES` expanded nodes, before any
Python object is built. A self-referencing alias (``&a [*a]``) is refused too.

Every YAML document builder reads goes through here (``grep -rn yaml. builder``).
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from builder.errors import BenchsmithError, SpecError

__all__ = ["MAX_ALIASES", "MAX_ALIAS_NODES", "BoundedSafeLoader", "load_yaml"]

MAX_ALIASES = 100
"""Most alias references (``*name``) one document may use."""
MAX_ALIAS_NODES = 1000
"""Most nodes all aliases of one document may add once expanded."""


class AliasBudgetError(yaml.YAMLError):
    """The document's aliases expand beyond the budget (message says where)."""


class BoundedSafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that counts alias expansion while composing (see the module doc).

    Combine it with another SafeLoader subclass by inheriting from both.
    """

    max_aliases = MAX_ALIASES
    max_alias_nodes = MAX_ALIAS_NODES

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._sizes: dict[int, int] = {}
        self._alias_count = 0
        self._alias_nodes = 0
        self._open_anchors: set[str] = set()

    def compose_document(self) -> Node | None:
        self._sizes.clear()
        self._alias_count = self._alias_nodes = 0
        return super().compose_document()

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            anchor = event.anchor
            line = event.start_mark.line + 1
            if anchor in self._open_anchors:
                raise AliasBudgetError(
                    f"line {line}: alias *{anchor} refers to the node it is inside (a "
                    "self-nesting structure); write the value out instead"
                )
            node = self.anchors.get(anchor)
            if node is not None:
                self._alias_count += 1
                self._alias_nodes += self._size(node)
                if self._alias_count > self.max_aliases:
                    raise AliasBudgetError(
                        f"line {line}: more than {self.max_aliases} aliases (*{anchor} is one "
                        "too many); write the values out instead of repeating aliases"
                    )
                if self._alias_nodes > self.max_alias_nodes:
                    raise AliasBudgetError(
                        f"line {line}: alias *{anchor} brings the document's aliases to "
                        f"{self._alias_nodes:,} nodes once expanded, over the limit of "
                        f"{self.max_alias_nodes:,} (nested aliases that multiply — a 'billion "
                        "laughs' — are refused); write the values out or use fewer aliases"
                    )
            return super().compose_node(parent, index)
        event = self.peek_event()
        anchor = getattr(event, "anchor", None)
        if anchor is None:
            return super().compose_node(parent, index)
        self._open_anchors.add(anchor)
        try:
            return super().compose_node(parent, index)
        finally:
            self._open_anchors.discard(anchor)

    def _size(self, node: Node) -> int:
        """Nodes in ``node`` with every alias inside expanded (memoized, so linear)."""
        known = self._sizes.get(id(node))
        if known is not None:
            return known
        n = 1
        if isinstance(node, SequenceNode):
            n += sum(self._size(child) for child in node.value)
        elif isinstance(node, MappingNode):
            n += sum(self._size(k) + self._size(v) for k, v in node.value)
        self._sizes[id(node)] = n
        return n


def load_yaml(
    text: str,
    *,
    where: str,
    loader: type[BoundedSafeLoader] = BoundedSafeLoader,
    error: type[BenchsmithError] = SpecError,
) -> Any:
    """One YAML document from ``text`` (safe types only, aliases bounded).

    Raises ``error`` (a :class:`SpecError` by default) naming ``where`` and the line for
    invalid YAML, aliases over the budget, or nesting too deep to read.
    """
    try:
        return yaml.load(text, Loader=loader)  # a SafeLoader subclass: safe types only
    except AliasBudgetError as e:
        raise error(f"{where}: YAML aliases refused: {e}") from None
    except yaml.YAMLError as e:
        raise error(f"{where}: not valid YAML: {e}") from None
    except RecursionError:
        raise error(
            f"{where}: YAML nested too deeply to read; flatten the structure (a spec needs a "
            "few levels at most)"
        ) from None
