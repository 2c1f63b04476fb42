"""Config fuzzing: every input loads and round-trips, or is a located ``ConfigError``.

The property, checked on generated YAML and on mutations of every ``examples/*.yaml``:
``load``/``loads`` either return a config with ``loads(dumps(c)) == c`` (same
``content_hash``), or raise :class:`hwgen.config.ConfigError` whose ``file`` is the source,
whose ``line`` is an int ≥ 1 and whose text starts ``file:line: ``. No other exception may
escape. (``line`` is None only when a file cannot be read at all: no line exists then.)

Profiles: ``HWGEN_FUZZ_PROFILE=ci`` (the default, for ``make test``: 400 examples
per property) or ``long`` (``bench/config_fuzz.py``: 20,000 per property);
``HWGEN_FUZZ_EXAMPLES=N`` overrides the count. Each test prints its seed; a failure is
replayed with ``pytest tests/test_config_fuzz.py --hypothesis-seed=N`` (or ``HWGEN_SEED=N``),
and Hypothesis also prints the shrunk failing example and a ``@reproduce_failure`` blob.
There is no example database (``database=None``); Hypothesis' own cache (``.hypothesis/``)
is git-ignored.
"""
from __future__ import annotations

import codecs
import dataclasses
import os
import random
import re
import time

import pytest
import yaml
from hypothesis import HealthCheck, given, note, reject, seed, settings
from hypothesis import strategies as st
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from hwgen.config import (ArrayConfig, ConfigError, FieldError, HwgenConfig, PEConfig, SocConfig, dumps, load,
                          loads)

from config_strategies import BAD_BYTES, EXAMPLE_TEXTS, KEYS, ODD_SCALARS, mutated_example, structured_configs

settings.register_profile("ci", max_examples=400, database=None, deadline=None, print_blob=True,
                          suppress_health_check=list(HealthCheck))
settings.register_profile("long", settings.get_profile("ci"), max_examples=20_000)
PROFILE = os.environ.get("HWGEN_FUZZ_PROFILE", "ci")
EXAMPLES_OVERRIDE = os.environ.get("HWGEN_FUZZ_EXAMPLES")

#: per property: examples run, distinct failures, seconds (read by bench/config_fuzz.py)
STATS: dict[str, dict] = {}

SOURCE = "fuzz.yaml"
MAX_MESSAGE = 600  # a message quotes what was wrong, clipped: never the whole (huge) input


@pytest.fixture
def fuzz_seed(request):
    value = request.config.getoption("hypothesis_seed", None) or os.environ.get("HWGEN_SEED")
    value = int(value) if value is not None else random.randrange(2**31)
    print(f"\n{request.node.nodeid}: hypothesis seed {value} (replay: --hypothesis-seed={value})")
    return value


def run(name: str, fuzz_seed: int, strategy, body) -> None:
    """Run ``body`` on ``strategy`` under the chosen profile, recording examples and failures."""
    count = [0]

    def counted(x):
        count[0] += 1
        body(x)

    prof = settings.get_profile(PROFILE)
    if EXAMPLES_OVERRIDE:
        prof = settings(prof, max_examples=int(EXAMPLES_OVERRIDE))
    test = seed(fuzz_seed)(settings(prof)(given(strategy)(counted)))
    t0 = time.perf_counter()
    failures = 0
    try:
        test()
    except BaseException as e:
        failures = len(getattr(e, "exceptions", ())) or 1  # Hypothesis groups distinct failures
        raise
    finally:
        STATS[name] = dict(examples=count[0], failures=failures, seconds=round(time.perf_counter() - t0, 2),
                           seed=fuzz_seed, profile=PROFILE)


# -- the property --------------------------------------------------------------------------------

def check(call, source: str = SOURCE):
    """``call()`` loads a config: it round-trips, or it raises a located ConfigError."""
    try:
        cfg = call()
    except ConfigError as e:
        text = str(e)
        note(f"ConfigError: {text[:300]}")
        assert e.file == source, text
        assert isinstance(e.line, int) and e.line >= 1, text
        assert text.startswith(f"{source}:{e.line}: "), text
        assert len(text) <= MAX_MESSAGE, text[:300]
        return e
    assert isinstance(cfg, HwgenConfig)
    text = dumps(cfg)
    again = loads(text, source="again.yaml")
    assert again == cfg
    assert again.content_hash == cfg.content_hash
    assert dumps(again) == text
    return cfg


# -- (a) generated YAML ----------------------------------------------------------------------------

T = "tag:yaml.org,2002:"
_resolver = yaml.resolver.Resolver()
TAGS = [T + t for t in ("str", "int", "float", "bool", "null", "binary", "timestamp", "python/object:os.system",
                        "set", "omap", "merge", "value")] + ["!local"]
scalar_texts = st.one_of(st.sampled_from(KEYS), st.sampled_from(ODD_SCALARS), st.text(max_size=12),
                         st.integers(-2**300, 2**300).map(str), st.floats().map(repr))


@st.composite
def scalar_nodes(draw):
    value = draw(scalar_texts)
    style = draw(st.sampled_from([None, None, None, "'", '"', "|", ">"]))
    tag = (_resolver.resolve(ScalarNode, value, (style is None, False)) if draw(st.integers(0, 4))
           else draw(st.sampled_from(TAGS)))
    return ScalarNode(tag, value, style=style)


SCALARS = scalar_nodes()
KEY_NODES = st.sampled_from(KEYS).map(lambda k: ScalarNode(T + "str", k))
FLOW = st.sampled_from([None, True, False])


def _collections(children):
    keys = st.one_of(KEY_NODES, SCALARS, children)
    flow = FLOW
    return st.one_of(
        st.builds(lambda xs, f: SequenceNode(T + "seq", xs, flow_style=f), st.lists(children, max_size=4), flow),
        st.builds(lambda kv, f: MappingNode(T + "map", kv, flow_style=f),
                  st.lists(st.tuples(keys, children), max_size=5), flow))


def _walk(node, seen):
    if id(node) in seen:
        return
    seen[id(node)] = node
    if isinstance(node, SequenceNode):
        for c in node.value:
            _walk(c, seen)
    elif isinstance(node, MappingNode):
        for k, v in node.value:
            _walk(k, seen)
            _walk(v, seen)


def _flow_styles(node, draw, seen):
    if id(node) in seen or isinstance(node, ScalarNode):
        return
    seen.add(id(node))
    node.flow_style = draw(st.sampled_from([None, True, False]))
    for item in node.value:
        for n in (item if isinstance(item, tuple) else (item,)):
            _flow_styles(n, draw, seen)


TREES = st.recursive(SCALARS, _collections, max_leaves=25)
GRAFTS = st.recursive(SCALARS, _collections, max_leaves=8)


@st.composite
def yaml_documents(draw):
    """Node graphs serialized to YAML: random ones, or a config's with random nodes grafted in.

    Grafts put complex keys, odd tags and scalars, shared nodes (anchors and aliases), cycles
    and alias bombs where the config's keys and values were.
    """
    if draw(st.booleans()):
        body = draw(TREES)
    else:
        body = yaml.representer.SafeRepresenter().represent_data(draw(structured_configs(odd=3)))
        _flow_styles(body, draw, set())
    seen: dict = {}
    _walk(body, seen)
    nodes = list(seen.values())
    maps = [n for n in nodes if isinstance(n, MappingNode)]
    seqs = [n for n in nodes if isinstance(n, SequenceNode)]

    def pick(xs):  # (st.sampled_from of a fresh list each time is slow to build)
        return xs[draw(st.integers(0, len(xs) - 1))]

    def node():  # a new node, or one already in the graph: an alias, maybe a cycle
        return draw(GRAFTS) if draw(st.booleans()) else pick(nodes)
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.integers(0, 2))
        if op == 0 and maps:  # replace a value
            m = pick(maps)
            if m.value:
                i = draw(st.integers(0, len(m.value) - 1))
                m.value[i] = (m.value[i][0], node())
        elif op == 1 and maps:  # add a key (a name, or a complex key) with a value
            key = draw(KEY_NODES) if draw(st.booleans()) else node()
            pick(maps).value.append((key, node()))
        elif seqs:  # a list repeating a node: alias bombs when nested
            pick(seqs).value.extend([pick(nodes)] * draw(st.integers(1, 10)))
    try:
        return yaml.serialize(body, Dumper=yaml.SafeDumper, explicit_start=draw(st.booleans()),
                              allow_unicode=draw(st.booleans()), width=draw(st.sampled_from([20, 80, 1000])),
                              indent=draw(st.sampled_from([2, 4])))
    except (yaml.YAMLError, RecursionError):  # not every node graph can be written (a recursive key …)
        reject()


def test_generated_documents(fuzz_seed):
    run("generated_documents", fuzz_seed, yaml_documents(), lambda text: check(lambda: loads(text, source=SOURCE)))


TOKENS = ["name", "array", "pe", "soc", "rows", "cols", "kind", "depth", "a", "acc", ":", ": ", " ", "  ", "\n",
          "\n  ", "\n    ", "- ", "-", "[", "]", "{", "}", ",", "? ", "&a ", "*a", "&b ", "*b", "!!int ", "!!str ",
          "!!python/object ", "!x ", "---\n", "...\n", "# c", "'", '"', "\\", "|", ">", "\t", "\ufeff", "\x00",
          "\x85", "\u2028", "\r", "%YAML 1.1\n", "%TAG ! tag:x,1:\n", "@", "`", "4", "0x1F", "int8", "cube", "~"]


def test_token_soup(fuzz_seed):
    soup = st.lists(st.one_of(st.sampled_from(TOKENS), st.text(max_size=3)), max_size=60).map("".join)
    run("token_soup", fuzz_seed, soup, lambda text: check(lambda: loads(text, source=SOURCE)))


def _python_build(d: dict):
    """The same dict through the Python constructors (the YAML path must agree with it)."""
    def nested(cls, v):
        return cls(**v) if isinstance(v, dict) else v
    array = d.get("array")
    if isinstance(array, dict):
        array = {**array, **({"pe": nested(PEConfig, array["pe"])} if "pe" in array else {})}
    kw = dict(d, array=nested(ArrayConfig, array)) if "array" in d else dict(d)
    if "soc" in d:
        kw["soc"] = nested(SocConfig, d["soc"])
    return HwgenConfig(**kw)


def _leaves(d, path=()):
    for k, v in d.items():
        if isinstance(v, dict):
            yield from _leaves(v, path + (k,))
        else:
            yield path + (k,), v


def _structured_property(d: dict):
    result = check(lambda: loads(yaml.safe_dump(d, sort_keys=False), source=SOURCE))
    if isinstance(result, HwgenConfig):
        # never a wrong number: every value written is the value loaded, of the same type
        got = result.to_dict()
        for path, v in _leaves(d):
            g = got
            for k in path:
                g = g[k]
            assert type(g) is type(v) and g == v, (path, v, g)
    # the Python constructors agree with the YAML path (explicit None means "the default" in
    # Python only, for the implied keys; in YAML `depth: ~` is an error)
    implied = {f.name for f in dataclasses.fields(ArrayConfig) if f.metadata.get("implied")}   # depth, dataflow, table, …
    if any(v is None for path, v in _leaves(d) if path[-1] in implied):
        return
    try:
        py = _python_build(d)
    except (FieldError, TypeError) as e:  # TypeError: an unknown or missing keyword
        assert isinstance(result, ConfigError), f"YAML loaded, Python refused: {e}"
    else:
        assert py == result, f"Python built {py}, YAML gave {result}"


def test_structured_configs(fuzz_seed):
    run("structured_configs", fuzz_seed, structured_configs(), _structured_property)


# -- (b) mutations of every example ----------------------------------------------------------------

def test_example_mutations(fuzz_seed):
    run("example_mutations", fuzz_seed, mutated_example(), lambda text: check(lambda: loads(text, source=SOURCE)))


@st.composite
def example_bytes(draw):
    text = draw(st.one_of(st.sampled_from(EXAMPLE_TEXTS), mutated_example()))
    data = text.encode(draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "cp1252", "latin-1"])),
                       errors="replace")
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from(BAD_BYTES)) + data[at:]
    if draw(st.integers(0, 4)) == 0:
        data = data[:draw(st.integers(0, len(data)))]
    return data


def test_file_bytes(fuzz_seed, tmp_path):
    path = tmp_path / "fuzz.yaml"

    def body(data: bytes):
        path.write_bytes(data)
        result = check(lambda: load(path), source=str(path))
        if not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            try:
                data.decode("utf-8")
            except UnicodeDecodeError as u:  # the line of the first byte that is not UTF-8
                assert isinstance(result, ConfigError) and "not UTF-8" in result.reason, result
                prefix = data[:u.start].decode("utf-8")
                assert result.line == len(re.findall("\r\n|[\r\n\x85\u2028\u2029]", prefix)) + 1, result
    run("file_bytes", fuzz_seed, example_bytes(), body)
