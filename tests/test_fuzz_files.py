"""Fuzzing the reader inside the suite, and the corpus of what longer fuzzing found.

A few hundred seeded mutations of small shipped files and of the crafted attack files are each
pinned by a temporary registry (so the sha256 check passes and the reader itself is exercised)
and loaded with `qnntraps.load`: each must give a valid Instance or a QnnTrapsError, never another
exception, and never a hang or a crash of the isolated reader. tools/fuzz_instances.py runs the
same target coverage-guided for as long as one likes; its findings live in tests/fuzz_corpus/
with the error the reader must now raise (tests/fuzz_corpus/expected.json).
"""

import importlib.util
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

import qnntraps
from qnntraps import sandbox
from qnntraps.errors import QnnTrapsError, ReaderCrashedError, ReadTimeoutError
from qnntraps.registry import data_dir, read_registry
from qnntraps.store import read_instance
from tests import hdf5_craft as craft
from tests.test_hostile_files import STRUCTURE_ATTACKS, VALUE_ATTACKS

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT / "tools" / "fuzz_instances.py"
CORPUS = Path(__file__).resolve().parent / "fuzz_corpus"
MUTATIONS = 240
SEED = 20261203


def fuzz_tool():
    spec = importlib.util.spec_from_file_location("fuzz_instances", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def isolated(monkeypatch):
    """A private isolated reader with a short time limit, used by qnntraps.load."""
    reader = sandbox.IsolatedReader(timeout=10.0)
    monkeypatch.setattr(sandbox, "shared_reader", lambda: reader)
    yield reader
    reader.close()


def load_pinned(folder: Path, instance_id: str, data: bytes):
    """Pin `data` as the file of `instance_id` in `folder` and load it: the Instance or the
    exception raised."""
    path = folder / f"{instance_id}.h5"
    path.write_bytes(data)
    craft.pin(folder, {instance_id: path})
    try:
        return qnntraps.load(instance_id)
    except Exception as error:  # judged by the caller
        return error


def judge(outcome, instance_id: str, label: str) -> str:
    if isinstance(outcome, Exception):
        assert isinstance(outcome, QnnTrapsError), f"{label}: untyped {outcome!r}"
        assert not isinstance(outcome, ReadTimeoutError | ReaderCrashedError), (
            f"{label}: libhdf5 hung or crashed: {outcome}"
        )
        assert "\n" not in str(outcome)
        return type(outcome).__name__
    assert outcome.id == instance_id, label
    return "loaded"


def test_checksum_repair_is_exact_on_shipped_files():
    tool = fuzz_tool()
    for entry in read_registry()[:20]:
        data = (data_dir() / entry.file).read_bytes()
        assert tool.repair_checksums(data) == data, entry.id
        assert len(tool.checksummed_blocks(data)) > 10


def test_mutated_shipped_files_load_or_refuse_typed(tmp_path, monkeypatch, isolated):
    tool = fuzz_tool()
    rng = random.Random(SEED)
    entries = {e.id: e for e in read_registry()}
    seeds = {i: (data_dir() / entries[i].file).read_bytes() for i in tool.SEED_IDS}
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv("QNNTRAPS_DATA_DIR", str(folder))
    outcomes: dict[str, int] = {}
    for case in range(MUTATIONS):
        instance_id = rng.choice(sorted(seeds))
        data = tool.mutate(seeds[instance_id], rng, list(seeds.values()))
        kind = judge(load_pinned(folder, instance_id, data), instance_id, f"mutation {case}")
        outcomes[kind] = outcomes.get(kind, 0) + 1
    print(f"{MUTATIONS} mutations: {outcomes}")
    assert outcomes.get("loaded", 0) > 0 and len(outcomes) >= 4, outcomes


def test_mutated_crafted_files_load_or_refuse_typed(tmp_path, monkeypatch, isolated):
    """Every crafted attack file as is and with two further mutations (checksums repaired)."""
    tool = fuzz_tool()
    rng = random.Random(SEED + 1)
    folder = tmp_path / "data"
    monkeypatch.setenv("QNNTRAPS_DATA_DIR", str(folder))
    cases = 0
    for label, edit, *_ in STRUCTURE_ATTACKS + VALUE_ATTACKS:
        crafted = craft.edited(tmp_path / "craft" / str(cases), edit).read_bytes()
        folder.mkdir(exist_ok=True)
        for variant in (crafted, tool.mutate(crafted, rng, repair=True), tool.mutate(crafted, rng)):
            judge(load_pinned(folder, craft.BASE_ID, variant), craft.BASE_ID, label)
            cases += 1
    assert cases == 3 * len(STRUCTURE_ATTACKS + VALUE_ATTACKS)


def corpus_cases():
    expected = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))
    return sorted(expected.items())


def test_the_corpus_lists_every_file():
    listed = {name for name, _ in corpus_cases()}
    assert listed == {p.name for p in CORPUS.glob("*.h5")}


@pytest.mark.parametrize("name, expected", corpus_cases(), ids=[n for n, _ in corpus_cases()])
def test_corpus_inputs_stay_refused(name, expected, isolated):
    """Each input that once made libhdf5 hang or the reader misbehave is refused, typed, and
    not by the time limit (through the isolated reader, so that a regression cannot hang the
    suite: it would end as a ReadTimeoutError, which no entry expects)."""
    with pytest.raises(QnnTrapsError) as caught:
        read_instance(CORPUS / name, isolate=True)
    assert type(caught.value).__name__ == expected["error"], str(caught.value)


def test_the_fuzz_tool_runs(tmp_path):
    """A few seconds of the built-in engine: it runs, grows a corpus and finds nothing new."""
    command = [
        sys.executable,
        str(TOOL),
        "--seconds",
        "4",
        "--corpus",
        str(tmp_path / "corpus"),
        "--findings",
        str(tmp_path / "findings"),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "done: 0 hangs or crashes" in result.stdout
    assert len(list((tmp_path / "corpus").glob("*.h5"))) > len(fuzz_tool().SEED_IDS)
    assert not list((tmp_path / "findings").glob("*"))
