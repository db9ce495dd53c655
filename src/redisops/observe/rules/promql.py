"""The metric names a PromQL expression reads, without a PromQL parser.

Prometheus ships no Python parser and we add no dependency for one, so this
is a tokenizer plus the few facts of the grammar that tell a metric name from
every other identifier:

* an identifier followed by ``(`` is a function or an aggregation (``rate``,
  ``sum``, ``label_replace``), and so is one followed by ``by`` or
  ``without`` (``sum by (job) (...)``);
* ``by`` / ``without`` / ``on`` / ``ignoring`` / ``group_left`` /
  ``group_right`` followed by ``(`` open a list of label names;
* inside ``{...}`` stand label names, except the string after
  ``__name__=`` (``{__name__="redis_up"}`` reads ``redis_up``);
* inside ``[...]`` stand durations (``[5m]``, ``[1h:30s]``); after
  ``offset`` a duration (a number token); after ``@`` a time or ``start()`` /
  ``end()``;
* the binary operators ``and or unless atan2``, the modifier ``bool`` and
  the numbers ``Inf`` / ``NaN`` are keywords.

Every other identifier names a metric.  Strings (``"…"``, ``'…'``, `` `…` ``)
and ``#`` comments are skipped whole.  An expression this cannot read (an
unclosed string or bracket, a stray character) raises :class:`ValueError`,
which is what a rule edited into invalid PromQL should get.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["metric_names", "tokens"]

#: identifiers that are never metric names, whatever follows them
KEYWORDS = frozenset({"and", "or", "unless", "atan2", "bool", "offset", "inf", "nan"})
#: keywords that open a list of label names: ``by (a, b)``
LABEL_LIST = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})

_NUMBER = r"(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(?:(?:ms|[smhdwy])(?:\d+(?:ms|[smhdwy]))*)?"
_TOKEN = re.compile(
    r"""(?P<space>\s+)
      | (?P<comment>\#[^\n]*)
      | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`[^`]*`)
      | (?P<number>""" + _NUMBER + r""")(?![A-Za-z_])
      | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
      | (?P<op>=~|!~|!=|==|<=|>=|[-+*/%^<>=,(){}\[\]@:])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str  # string, number, ident, op
    text: str
    at: int  # offset in the expression


def tokens(expr: str) -> Iterator[Token]:
    """The tokens of ``expr`` without spaces and comments; ValueError on a character no token starts with."""
    pos = 0
    while pos < len(expr):
        match = _TOKEN.match(expr, pos)
        if match is None:
            raise ValueError(f"unexpected {expr[pos]!r} at offset {pos} of {expr!r}")
        kind = match.lastgroup or ""
        if kind not in ("space", "comment"):
            yield Token(kind, match.group(), pos)
        pos = match.end()


def metric_names(expr: str) -> set[str]:
    """Every metric name ``expr`` selects (see the module's docstring for how they are told apart)."""
    toks = list(tokens(expr))
    names: set[str] = set()
    stack: list[str] = []  # open brackets; a "(" that opens a label list is pushed as "L"
    for i, tok in enumerate(toks):
        nxt = toks[i + 1].text if i + 1 < len(toks) else ""
        inside = stack[-1] if stack else ""
        if tok.kind == "op":
            _bracket(tok, stack, expr, label_list=i > 0 and toks[i - 1].text.lower() in LABEL_LIST)
        elif inside == "{":
            if tok.text == "__name__" and nxt in ("=", "=~"):
                names.add(_name_matcher(toks[i + 1:i + 3], expr))
        elif inside in ("L", "[") or tok.kind != "ident":
            continue  # label names, durations, numbers, strings
        elif nxt.lower() not in ("(", "by", "without") and tok.text.lower() not in KEYWORDS | LABEL_LIST:
            names.add(tok.text)
    if stack:
        raise ValueError(f"unclosed {stack[-1].replace('L', '(')!r} in {expr!r}")
    return names


_CLOSES = {")": "(L", "}": "{", "]": "["}


def _bracket(tok: Token, stack: list[str], expr: str, *, label_list: bool) -> None:
    if tok.text == "(" and label_list:
        stack.append("L")
    elif tok.text in "({[":
        stack.append(tok.text)
    elif tok.text in _CLOSES:
        if not stack or stack[-1] not in _CLOSES[tok.text]:
            raise ValueError(f"unbalanced {tok.text!r} at offset {tok.at} of {expr!r}")
        stack.pop()


def _name_matcher(matcher: list[Token], expr: str) -> str:
    """The name in ``__name__="redis_up"``; a regular expression names no metric we could check."""
    if len(matcher) != 2 or matcher[1].kind != "string":
        raise ValueError(f"__name__ needs a quoted name in {expr!r}")
    if matcher[0].text != "=":
        raise ValueError(f"__name__{matcher[0].text}{matcher[1].text} matches names by pattern in {expr!r}: "
                         "name the metric")
    return matcher[1].text[1:-1]
