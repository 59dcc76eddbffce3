"""Entry names: one rule for ``train``, ``submit`` (both kinds) and the renderer.

A name is lower-case ``[a-z0-9_][a-z0-9_.-]{0,63}``, optionally followed by up to two ``+part``
suffixes of the same alphabet: a training track and a variant of a maintainers' run
(``tfn+lnln``, ``self_mm+minilm-ft``), or a submitter's own variant (``my_model+large``).
Lower case only, so two names never differ by case alone (they would collide on a
case-insensitive filesystem); 64 characters a part, so a name always fits a file name.

A built-in model's name and every ``builtin+...`` form are reserved for the maintainers' runs of
that built-in model.
"""

from __future__ import annotations

import re

from msa_bench.util.errors import UserError

PART = r"[a-z0-9_][a-z0-9_.-]{0,63}"
ENTRY_NAME = re.compile(rf"{PART}(?:\+{PART}){{0,2}}")
RULE = (
    "a name is lower-case letters, digits and _ . - (1 to 64 characters, not starting with . or -), "
    "optionally followed by up to two +suffixes of the same kind, e.g. my_model or my_model+large"
)


class NameRefused(UserError, ValueError):
    """A name breaks the naming rule or is reserved; nothing was trained or written."""


def check_entry_name(name: object) -> str:
    """``name`` when it follows :data:`RULE`, else :class:`NameRefused` saying the rule."""
    if not isinstance(name, str) or not ENTRY_NAME.fullmatch(name):
        shown = repr(name) if len(repr(name)) <= 80 else repr(name)[:77] + "...'"
        raise NameRefused(f"the name {shown} is refused: {RULE}")
    return name


def base_name(name: str) -> str:
    """The model part of an entry name (``tfn`` for ``tfn+lnln``)."""
    return name.split("+", 1)[0]


def check_not_reserved(name: str, builtin_names: set[str] | list[str]) -> None:
    """Refuse ``name`` when it is, or extends, a built-in model's name."""
    if base_name(name) in set(builtin_names):
        raise NameRefused(
            f"the name {name!r} is reserved: {base_name(name)!r} is a built-in model, and its name and every "
            f"{base_name(name)}+... form are kept for the maintainers' runs of it; choose another name"
        )
