"""Small evaluation suites for the plugin tests, written into a pytester folder (no eval_suites files)."""

from __future__ import annotations

import json

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
    return [{"id": f"q{i:03d}", "domain": DOMAINS[i % len(DOMAINS)], "difficulty": DIFFICULTIES[i % 4],
             "question": f"Question {i} about {DOMAINS[i % len(DOMAINS)]}?",
             "choices": [f"option {c} {i}" for c in LETTERS], "answer": LETTERS[i % 4]} for i in range(n)]


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
