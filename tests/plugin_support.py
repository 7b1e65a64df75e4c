"""Small evaluation suites for the plugin tests, written into a pytester folder (no eval_suites files)."""

from __future__ import annotations

import json

try:
    # pytester's in-process runs forget the modules they import, and numpy's C extension cannot be imported
    # twice in one process: import what the log renderer draws with (numpy, matplotlib, PIL) once, out here.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.backends.backend_agg  # noqa: F401
    import matplotlib.pyplot  # noqa: F401
    import PIL.Image  # noqa: F401

    import tunebench.report.plots  # noqa: F401
except ImportError:
    pass

# The same for the model stack the tiny suites load: imported inside each in-process run it would be
# imported again (seconds) every time.
import torch  # noqa: E402, F401
import transformers.models.qwen2.modeling_qwen2  # noqa: E402, F401
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402, F401

DOMAINS = ("retirement_planning", "federal_income_tax", "estate_planning", "investment", "compliance")
DIFFICULTIES = ("easy", "medium", "hard", "extreme")
LETTERS = "ABCD"

PYPROJECT = """
[tool.tunebench]
history = "hist"
log = "LOG.md"
{extra}

[tool.tunebench.models.prod]
base = "builtin:tiny"
status = "production"

[tool.tunebench.models.candidate]
base = "builtin:tiny"
status = "experimental"
"""

# Outcomes come from `answers.json` ({model: {question id: letter}}): it stands in for the model, so a
# test can make a run better or worse on purpose; the plugin's behaviour is what these suites test.
SCRIPTED_SUITE = """
import json, pathlib, pytest

HERE = pathlib.Path(__file__).parent
SUITE = HERE / "questions.jsonl"
QUESTIONS = [json.loads(line) for line in SUITE.read_text().splitlines() if line.strip()]
ANSWERS = json.loads((HERE / "answers.json").read_text())


@pytest.mark.parametrize("q", QUESTIONS, ids=[q["id"] for q in QUESTIONS])
def test_question(q, record, tb_model_name):
    chosen = ANSWERS[tb_model_name][q["id"]]
    record(kind="question", suite="mini", suite_file=str(SUITE), id=q["id"], domain=q["domain"],
           difficulty=q["difficulty"], answer=q["answer"], chosen=chosen, correct=chosen == q["answer"],
           loglikelihoods=[-1.0, -2.0, -3.0, -4.0], chosen_norm=chosen, correct_norm=chosen == q["answer"])
"""

# The real tiny model picks each answer by the summed log-likelihood of the choice text.
TINY_SUITE = """
import json, pathlib, pytest, torch

HERE = pathlib.Path(__file__).parent
SUITE = HERE / "questions.jsonl"
QUESTIONS = [json.loads(line) for line in SUITE.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="session")
def loglikelihoods(tb_model):
    tokenizer, model = tb_model.tokenizer, tb_model.model
    result = {}
    for q in QUESTIONS:
        context = tokenizer(q["question"] + " Answer:")["input_ids"]
        scores = []
        for choice in q["choices"]:
            continuation = tokenizer(" " + choice)["input_ids"]
            ids = torch.tensor([context + continuation])
            with torch.inference_mode():
                logprobs = model(ids).logits.log_softmax(-1)[0]
            scores.append(sum(logprobs[len(context) + i - 1, t].item() for i, t in enumerate(continuation)))
        result[q["id"]] = scores
    return result


@pytest.mark.parametrize("q", QUESTIONS, ids=[q["id"] for q in QUESTIONS])
def test_question(q, record, loglikelihoods):
    scores = loglikelihoods[q["id"]]
    chosen = "ABCD"[max(range(4), key=scores.__getitem__)]
    record(kind="question", suite="mini", suite_file=str(SUITE), id=q["id"], domain=q["domain"],
           difficulty=q["difficulty"], answer=q["answer"], chosen=chosen, correct=chosen == q["answer"],
           loglikelihoods=[round(s, 4) for s in scores])
"""


def questions(n: int) -> list[dict]:
    """Return n questions cycling over domains and difficulties, answer key cycling A-D."""
    return [
        {
            "id": f"q{i:03d}",
            "domain": DOMAINS[i % len(DOMAINS)],
            "difficulty": DIFFICULTIES[i % 4],
            "question": f"Question {i} about {DOMAINS[i % len(DOMAINS)]}?",
            "choices": [f"option {c} {i}" for c in LETTERS],
            "answer": LETTERS[i % 4],
        }
        for i in range(n)
    ]


def write_project(pytester, n: int = 12, extra: str = "", suite: str = SCRIPTED_SUITE, key=None) -> list[dict]:
    """Write pyproject, questions.jsonl and the suite; return the questions."""
    items = questions(n)
    if key is not None:
        for q, answer in zip(items, key, strict=True):
            q["answer"] = answer
    pytester.makefile(".toml", pyproject=PYPROJECT.format(extra=extra))
    pytester.makefile(".jsonl", questions="\n".join(json.dumps(q) for q in items))
    pytester.makepyfile(test_suite=suite)
    return items


def write_answers(pytester, answers: dict[str, dict[str, str]]) -> None:
    """Write answers.json: the scripted model choices."""
    pytester.makefile(".json", answers=json.dumps(answers))


def records(pytester) -> list[dict]:
    """Return the records in the pytester history, oldest first (validated on read)."""
    from tunebench.history.store import open_store

    result = open_store(pytester.path / "hist").read_all(strict=True)
    return result.records


def eval_record(
    correct: dict[str, bool] | None = None,
    *,
    model: str = "prod",
    started_at: str = "2026-01-20T10:00:00Z",
    finished_at: str = "2026-01-20T10:05:00Z",
    latencies: dict[str, list[float]] | None = None,
    grades: dict[str, int] | None = None,
    crashed: tuple[str, ...] = (),
    sha: str = "a" * 64,
) -> dict:
    """Return a valid EvalRecord built by the library from question/probe outcomes (no pytest involved)."""
    from tunebench.history.eval_record import ItemResult, build_eval_record
    from tunebench.provenance import collect

    items = []
    for i, (qid, ok) in enumerate((correct or {}).items()):
        outcome = {
            "kind": "question",
            "suite": "mini",
            "id": qid,
            "domain": DOMAINS[i % 5],
            "difficulty": DIFFICULTIES[i % 4],
            "answer": "A",
            "chosen": "A" if ok else "B",
            "correct": ok,
        }
        items.append(
            ItemResult(
                f"t.py::test_q[{qid}]", "crashed" if qid in crashed else "passed", [] if qid in crashed else [outcome]
            )
        )
    for domain, values in (latencies or {}).items():
        outcome = {
            "kind": "probe",
            "suite": "probes",
            "id": f"probe-{domain}",
            "domain": domain,
            "latency_s": values,
            "grade": (grades or {}).get(domain, 3),
        }
        items.append(ItemResult(f"t.py::test_p[probe-{domain}]", "passed", [outcome]))
    record = build_eval_record(
        model={"name": model, "base": "builtin:tiny", "adapter": None},
        items=items,
        started_at=started_at,
        finished_at=finished_at,
        provenance=collect(command="test"),
    )
    record["suites"] = [{"name": "mini", "file": "questions.jsonl", "sha256": sha}]
    return record


def assert_answered(result, answered: int, **outcomes: int) -> None:
    """Assert `answered` items ran without failing, whether right (`passed`) or wrong (`wrong`), and `outcomes`."""
    counts = result.parseoutcomes()
    ran = counts.pop("passed", 0) + counts.pop("wrong", 0)
    counts = {key: value for key, value in counts.items() if key not in ("warnings", "warning", "seconds")}
    expected = {key: value for key, value in outcomes.items() if value}
    assert (ran, counts) == (answered, expected), result.stdout.lines[-1]
