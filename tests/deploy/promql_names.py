"""The metric names a PromQL expression reads, without a full PromQL parser.

Strings, label matchers, ranges and Grafana variables are removed first; what remains is
identifiers, which are function or aggregation names when a parenthesis follows, keywords, the
label lists of by/without/on/ignoring/group_left/group_right, or metric names.
"""

from __future__ import annotations

import re

LABEL_LIST_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
# Aggregation operators may be followed by `by (...)` rather than by their parenthesis.
AGGREGATIONS = {
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
    "bottomk", "topk", "quantile", "limitk", "limit_ratio",
}  # fmt: skip
KEYWORDS = (
    LABEL_LIST_KEYWORDS | AGGREGATIONS | {"and", "or", "unless", "bool", "offset", "inf", "nan"}
)

_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_GRAFANA_VARIABLE = re.compile(r"\$\{[^}]*\}|\$\w+|\[\[[^\]]*\]\]")
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_COMMENT = re.compile(r"#[^\n]*")
_TOKEN = re.compile(
    r"[A-Za-z_:][A-Za-z0-9_:]*"  # identifier
    r"|[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?[a-zA-Z]*"  # number or duration
    r"|\S"
)


def metric_names(expr: str) -> set[str]:
    text = _STRING.sub('""', expr)
    text = _COMMENT.sub("", text)
    text = _GRAFANA_VARIABLE.sub("1", text)
    text = _MATCHERS.sub("", text)
    text = _RANGE.sub("", text)
    tokens = _TOKEN.findall(text)
    names: set[str] = set()
    i = 0
    while i < len(tokens):
        token = tokens[i]
        following = tokens[i + 1] if i + 1 < len(tokens) else ""
        if token in LABEL_LIST_KEYWORDS and following == "(":
            i = tokens.index(")", i)  # label lists do not nest
        elif (
            re.fullmatch(r"[A-Za-z_:][A-Za-z0-9_:]*", token)
            and following != "("
            and token.lower() not in KEYWORDS
        ):
            names.add(token)
        i += 1
    return names
