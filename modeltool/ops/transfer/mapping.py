"""``--map`` rules: renames from source layer names to target layer names."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ...errors import ModelToolError

_REGEX_PREFIX = "re:"


@dataclass(frozen=True)
class MappingRule:
    """One ``--map`` rule: ``OLD=NEW`` (exact name) or ``re:PATTERN=REPLACEMENT``."""

    text: str
    old: str
    new: str
    regex: re.Pattern[str] | None


def parse_mapping(mapping: Mapping[str, str] | Iterable[str] | None) -> list[MappingRule]:
    """``--map`` rules: ``OLD=NEW`` (source layer OLD feeds target layer NEW) or
    ``re:PATTERN=REPLACEMENT`` (the first match in a source name is replaced, as
    ``re.sub(PATTERN, REPLACEMENT, name, count=1)``; ``\\1`` works). Explicit rules win over
    patterns; the first pattern that matches a name applies.

    A dict ``{"OLD": "NEW"}`` is the same as ``["OLD=NEW"]``.

    Raises:
        ModelToolError: a rule without ``=`` or an invalid regular expression (exit 2).
    """
    if mapping is None:
        return []
    items = [f"{k}={v}" for k, v in mapping.items()] if isinstance(mapping, Mapping) \
        else list(mapping)
    rules = []
    for text in items:
        body = text.removeprefix(_REGEX_PREFIX)
        old, sep, new = body.rpartition("=")
        if not sep or not old:
            raise ModelToolError(f"--map {text!r} is not OLD=NEW or re:PATTERN=REPLACEMENT",
                                 hint="for example --map base_dense=dense_1 or "
                                      "--map 're:^base_(.*)=\\1'")
        regex = None
        if text.startswith(_REGEX_PREFIX):
            try:
                regex = re.compile(old)
            except re.error as err:
                raise ModelToolError(f"--map {text!r}: invalid regular expression ({err})") \
                    from err
        rules.append(MappingRule(text, old, new, regex))
    return rules


def rename_layers(rules: list[MappingRule], source_names: list[str], target_names: list[str],
            source_path: str | None, target_path: str | None) -> tuple[dict[str, str],
                                                                       list[str]]:
    """Source name -> target name for every source layer, and notes on unused regex rules.

    Raises:
        ModelToolError: an exact rule names a layer that does not exist.
    """
    explicit = {r.old: r for r in rules if r.regex is None}
    known_source = set(source_names)
    known_target = set(target_names)
    for rule in explicit.values():
        if rule.old not in known_source:
            raise ModelToolError(f"--map {rule.text}: the source has no layer {rule.old!r}",
                                 path=source_path, hint=_some("source layers", source_names))
        if rule.new not in known_target:
            raise ModelToolError(f"--map {rule.text}: the target has no layer {rule.new!r}",
                                 path=target_path, hint=_some("target layers", target_names))
    used: set[str] = set()
    result = {}
    for name in source_names:
        new = name
        if name in explicit:
            new = explicit[name].new
        else:
            for rule in rules:
                if rule.regex is not None and rule.regex.search(name):
                    new = rule.regex.sub(rule.new, name, count=1)
                    used.add(rule.text)
                    break
        result[name] = new
    notes = [f"--map {r.text} matched no source layer" for r in rules
             if r.regex is not None and r.text not in used]
    return result, notes


def _some(what: str, names: list[str]) -> str:
    shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
    return f"{what}: {shown}" if names else f"there are no {what}"
