"""Change a few values of a spec file in place, keeping the operator's comments and layout.

``redisops scale`` records the new size in ``redisops.yaml`` itself, so the
file stays the one source of truth.  The edit works on the text: each value is
found through the YAML node marks and replaced where it stands; a key the file
does not spell out is added as the first key of its mapping, at that mapping's
indentation.  A flow-style mapping (``cluster: {masters: 3}``) is rewritten
whole, which drops comments inside it only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from redisops.errors import UsageError

__all__ = ["set_values"]


def set_values(text: str, section: str, values: Mapping[str, Any], *, index: int | None = None) -> str:
    """``text`` with ``section.key: value`` set for every item of ``values`` (a top-level block mapping).

    ``index``: the section is a list of mappings (``sentinel:``), and the values go into its item ``index``.
    """
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if not isinstance(root, yaml.MappingNode):
        raise UsageError("the spec is not a YAML mapping", hint="run `redisops config validate`")
    node = next((v for k, v in root.value if isinstance(k, yaml.ScalarNode) and k.value == section), None)
    if index is not None:
        items = node.value if isinstance(node, yaml.SequenceNode) else []
        node = items[index] if 0 <= index < len(items) else None
        section = f"{section}[{index}]"
    if not isinstance(node, yaml.MappingNode):
        raise UsageError(f"the spec has no `{section}:` section", hint="add one to the spec first")
    if node.flow_style:
        data = yaml.safe_load(text[node.start_mark.index:node.end_mark.index])
        data.update(values)
        flow = yaml.safe_dump(data, default_flow_style=True, sort_keys=False).strip()
        return text[:node.start_mark.index] + flow + text[node.end_mark.index:]
    edits: list[tuple[int, int, str]] = []
    present = {k.value: v for k, v in node.value if isinstance(k, yaml.ScalarNode)}
    first_key = node.value[0][0] if node.value else None
    for key, value in values.items():
        rendered = _scalar(value)
        if key in present:
            old = present[key]
            edits.append((old.start_mark.index, old.end_mark.index, rendered))
        elif first_key is not None:
            at = first_key.start_mark.index
            indent = " " * first_key.start_mark.column
            edits.append((at, at, f"{key}: {rendered}\n{indent}"))
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


def _scalar(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True).removesuffix("\n...\n").strip()
