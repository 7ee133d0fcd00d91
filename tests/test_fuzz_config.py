"""Fuzz (issue 7): random YAML configs never crash the loader — it returns a `Config` or raises
`ConfigError` naming what is wrong, and nothing else.

Three sources: the documented example (`config/omnicat.yaml`) with random mutations at random
paths (wrong types, odd durations, `${ENV}` references, unknown keys, deleted keys), raw random
text, and YAML's sharper edges (tags, anchors, aliases, deep nesting, huge numbers).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config.load import ConfigError, parse_config

EXAMPLE = yaml.safe_load(
    (Path(__file__).resolve().parent.parent / "config" / "omnicat.yaml").read_text("utf-8")
)
EXAMPLES = int(os.environ.get("OMNICAT_FUZZ_EXAMPLES", "400"))
RANDOM = bool(os.environ.get("OMNICAT_FUZZ_RANDOM"))


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += paths(value, (*prefix, i))
    return out


EXAMPLE_PATHS = [p for p in paths(EXAMPLE) if p]

scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(
        [
            "30m", "1h30m", "0", "-5m", "5x", "1d1d", "99999999999999999999d", "", " ", "${HOME}",
            "${NOPE}", "${NOPE:-8}", "${A:-${B}}", "$${X}", "http://", "ftp://x", "127.0.0.1:0",
            "127.0.0.1:99999", "sqlite:///", "manual", "auto", "round-robin", "(a+)+$", "[",
            "UTC", "Mars/Base", "{number}-{contact}", "{nope}", "{", "/", "", "!", "@here",
        ]
    ),
)  # fmt: skip
value = st.recursive(
    scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


def mutate(data: Any, path: tuple[Any, ...], action: str, new: Any) -> Any:
    data = copy.deepcopy(data)
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    if action == "delete" and isinstance(parent, dict):
        del parent[last]
    elif action == "unknown" and isinstance(parent, dict):
        parent[f"{last}_typo"] = new
    else:
        parent[last] = new
    return data


mutated = st.builds(
    lambda muts: _apply(muts),
    st.lists(
        st.tuples(
            st.sampled_from(EXAMPLE_PATHS),
            st.sampled_from(["set", "set", "set", "delete", "unknown"]),
            value,
        ),
        min_size=1,
        max_size=4,
    ),
)


def _apply(muts: list[tuple[tuple[Any, ...], str, Any]]) -> str:
    data = EXAMPLE
    for path, action, new in muts:
        try:
            data = mutate(data, path, action, new)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or retyped the parent: skip this one
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


SHARP = [
    "", "---", "...", "~", "[]", "- a\n- b", "a: &x [*x]", "a: *nope",
    "!!python/object:os.system {}", "a: !!binary AAAA", "a: !custom x", "? [a, b]\n: c",
    "a: 1\na: 2", "\t", "{{{{", "a:\n  - b\n c",
    "server: {url: 1e400}", "x: " + "[" * 200 + "]" * 200,
    "a: &a [1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
    "e: [*d,*d,*d,*d,*d,*d,*d,*d,*d]",
    "departments: {sales: {agents: [a], fallback: sales}}",
    "departments: {a: {fallback: b}, b: {fallback: a}}",
    "server: {url: 'http://x', username: u}\nstore: {url: 'sqlite:///x.db'}",
    "\ufeffserver: {}", "server: \x00", "%YAML 9.9\n---\na: 1",
]  # fmt: skip

config_text = st.one_of(
    mutated,
    st.text(max_size=200),
    st.sampled_from(SHARP),
    st.builds(lambda a, b: a + "\n" + b, st.sampled_from(SHARP), mutated),
)


@pytest.mark.timeout(300)
def test_random_configs_only_ever_raise_config_error() -> None:
    seen = {"ok": 0, "ConfigError": 0}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=not RANDOM,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(text=config_text)
    def run(text: str) -> None:
        try:
            parse_config(text, "fuzz.yaml", env={"HOME": "/home/x", "A": "1"})
        except ConfigError as exc:
            seen["ConfigError"] += 1
            assert exc.errors and all(isinstance(e, str) and e for e in exc.errors)
            assert all(e.startswith("fuzz.yaml") for e in exc.errors), exc.errors
        else:
            seen["ok"] += 1

    run()
    print(f"\n[fuzz-config] {sum(seen.values())} configs: {seen}")
    assert seen["ConfigError"] > 0
