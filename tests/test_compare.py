"""`compare_runs`: accuracy with intervals, exact McNemar p, flipped questions, per-domain/latency/quality deltas."""

from __future__ import annotations

import json

import pytest
from record_factory import DOMAINS, eval_record, probe, question

from tunebench.errors import RecordError
from tunebench.report.compare import compare_runs, format_comparison, resolve_run
from tunebench.stats import mcnemar_exact, wilson_interval


def _questions_for_tiny(count: int = 24) -> list[dict]:
    """Multiple-choice questions in the suites' format (the text hardly matters to an untrained model)."""
    topics = [
        "a Roth IRA conversion",
        "the standard deduction",
        "a revocable trust",
        "dollar-cost averaging",
        "the fiduciary rule",
        "required minimum distributions",
        "capital gains",
        "a 529 plan",
    ]
    out = []
    for i in range(count):
        topic = topics[i % len(topics)]
        out.append(
            {
                "id": f"q-{i:02d}",
                "domain": DOMAINS[i % 5],
                "difficulty": "easy",
                "question": f"Question {i}: which statement about {topic} is right?",
                "choices": [f"{topic} is taxed {w}" for w in ("now", "later", "never", "twice")],
                "answer": "ABCD"[(i * 7) % 4],
            }
        )
    return out


def _score(loaded, questions: list[dict]) -> list[dict]:
    """Pick each answer by the log-likelihood of its letter after the prompt (lm-eval's way), one batched pass."""
    import torch

    tokenizer, model = loaded.tokenizer, loaded.model
    letters = [tokenizer(" " + letter)["input_ids"] for letter in "ABCD"]
    assert all(len(ids) == 1 for ids in letters), "each ' X' is one token in tiny's vocabulary"
    contexts = [
        tokenizer(
            q["question"]
            + "\n"
            + "\n".join(f"{L}. {c}" for L, c in zip("ABCD", q["choices"], strict=True))
            + "\nAnswer:"
        )["input_ids"]
        for q in questions
    ]
    width = max(map(len, contexts))
    # Right padding: a causal model's logits at a real position never see the padding after it.
    ids = torch.tensor([c + [tokenizer.pad_token_id] * (width - len(c)) for c in contexts])
    mask = torch.tensor([[1] * len(c) + [0] * (width - len(c)) for c in contexts])
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask).logits.log_softmax(-1)
    outcomes = []
    for row, (q, context) in enumerate(zip(questions, contexts, strict=True)):
        scores = [float(logits[row, len(context) - 1, ids_[0]]) for ids_ in letters]
        chosen = "ABCD"[max(range(4), key=scores.__getitem__)]
        outcomes.append(question(q["id"], q["domain"], chosen == q["answer"], chosen, q["answer"]))
    return outcomes


@pytest.fixture(scope="module")
def tiny_runs(tiny_dir, tmp_path_factory):
    """Eval records of `tiny` and of `tiny` with a randomly initialised LoRA adapter, merged by load_model."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from tunebench.config import Config
    from tunebench.loading import load_model
    from tunebench.registry import TINY, ModelEntry

    adapter = tmp_path_factory.mktemp("random-lora")
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(tiny_dir)
    # init_lora_weights=False: A and B both random, so the merged weights really move (B=0 would change nothing).
    peft_model = get_peft_model(
        base,
        LoraConfig(
            r=8,
            lora_alpha=64,
            init_lora_weights=False,
            target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        ),
    )
    peft_model.save_pretrained(adapter)
    config = Config(root=tmp_path_factory.mktemp("project"))
    questions = _questions_for_tiny()
    plain = load_model(TINY, config)
    tuned = load_model(ModelEntry("tiny-random-lora", base="builtin:tiny", adapter=str(adapter)), config)
    assert tuned.merged
    return (
        eval_record("run-tiny-base", "tiny", _score(plain, questions)),
        eval_record("run-tiny-lora", "tiny-random-lora", _score(tuned, questions), "2026-02-02T10:00:00Z"),
    )


def test_compare_of_two_real_tiny_runs_lists_the_flipped_questions(tiny_runs):
    base, tuned = tiny_runs
    comparison = compare_runs(base, tuned)
    right = {q["id"]: q["correct"] for q in base["questions"]}
    after = {q["id"]: q["correct"] for q in tuned["questions"]}
    assert comparison.paired == 24
    assert [f.id for f in comparison.right_to_wrong] == sorted(i for i in right if right[i] and not after[i])
    assert [f.id for f in comparison.wrong_to_right] == sorted(i for i in right if not right[i] and after[i])
    # The random adapter changes answers: at least one question flips.
    assert comparison.right_to_wrong or comparison.wrong_to_right
    assert comparison.p_value == mcnemar_exact(len(comparison.right_to_wrong), len(comparison.wrong_to_right))
    assert comparison.difference == pytest.approx(sum(after.values()) / 24 - sum(right.values()) / 24)
    text = format_comparison(comparison)
    flipped = (comparison.right_to_wrong or comparison.wrong_to_right)[0]
    assert flipped.id in text and flipped.domain in text and "McNemar" in text


def test_flips_accuracy_intervals_and_p_value_are_exact():
    a = [
        question("q1", "investment", True),
        question("q2", "investment", True),
        question("q3", "compliance", False),
        question("q4", "compliance", True),
        question("q5", "estate_planning", False),
    ]
    b = [
        question("q1", "investment", False, "C", answer="A"),
        question("q2", "investment", True),
        question("q3", "compliance", True, "D", answer="D"),
        question("q4", "compliance", True),
        question("q5", "estate_planning", True, "D", answer="D"),
    ]
    comparison = compare_runs(eval_record("run-a1", "m1", a), eval_record("run-b1", "m2", b))
    assert [(f.id, f.domain, f.chosen_a, f.chosen_b) for f in comparison.right_to_wrong] == [
        ("q1", "investment", "A", "C")
    ]
    assert [f.id for f in comparison.wrong_to_right] == ["q3", "q5"]
    assert comparison.p_value == pytest.approx(1.0)  # 1 vs 2 discordant pairs: no evidence either way
    assert (comparison.accuracy_a.k, comparison.accuracy_b.k) == (3, 4)
    assert comparison.accuracy_a.low == pytest.approx(wilson_interval(3, 5)[0], abs=1e-6)
    assert comparison.difference == pytest.approx(0.2)
    deltas = {d.name: d.delta for d in comparison.domains}
    assert deltas == pytest.approx({"compliance": 0.5, "estate_planning": 1.0, "investment": -0.5})


def test_latency_and_quality_deltas_per_domain():
    a = eval_record("run-a2", "m1", [question("q1", "investment", True), probe("p1", "investment", 2.0, 3)])
    b = eval_record("run-b2", "m1", [question("q1", "investment", True), probe("p1", "investment", 1.5, 5)])
    comparison = compare_runs(a, b)
    latency = {d.name: d.delta for d in comparison.latency_s}
    quality = {d.name: d.delta for d in comparison.quality}
    assert latency["investment"] == pytest.approx(-0.5)
    assert quality["investment"] == pytest.approx(2.0)
    assert comparison.right_to_wrong == [] and comparison.p_value == 1.0
    json.dumps(comparison.to_dict())  # --json output is plain data


def test_questions_in_only_one_run_are_not_paired():
    a = eval_record("run-a3", "m1", [question("q1", "investment", True), question("q2", "investment", True)])
    b = eval_record("run-b3", "m1", [question("q1", "investment", False), question("q3", "investment", True)])
    comparison = compare_runs(a, b)
    assert comparison.paired == 1 and comparison.only_a == ["benchmark_100/q2"]
    assert comparison.only_b == ["benchmark_100/q3"]


def test_a_model_name_resolves_to_its_newest_complete_run():
    old = eval_record("run-old1", "dora", [question("q1", "investment", True)], "2026-01-01T00:00:00Z")
    new = eval_record("run-new1", "dora", [question("q1", "investment", True)], "2026-01-05T00:00:00Z")
    broken = {
        **eval_record("run-new2", "dora", [question("q1", "investment", True)], "2026-01-09T00:00:00Z"),
        "status": "incomplete",
    }
    records = [old, new, broken]
    assert resolve_run("dora", records)["run_id"] == "run-new1"
    assert resolve_run("run-old1", records)["run_id"] == "run-old1"
    with pytest.raises(RecordError, match="ambiguous"):
        resolve_run("run-new", records)
    with pytest.raises(RecordError, match="Did you mean 'dora'"):
        resolve_run("doraa", records)


def test_an_imported_row_cannot_be_compared_question_by_question():
    from tunebench.history.importer import parse_log

    seed = (__import__("pathlib").Path(__file__).parent / "data" / "seed_log.md").read_text(encoding="utf-8")
    row = next(r for r in parse_log(seed).records if r["kind"] == "imported_row" and r["table"] == "benchmark")
    other = eval_record("run-x1", "m1", [question("q1", "investment", True)])
    with pytest.raises(RecordError, match="only eval runs have per-question outcomes"):
        compare_runs(row, other)


def test_compare_of_tiny_and_its_trained_dora_adapter_from_real_runs_shows_the_flips(real_tiny_history):
    """Records of `pytest eval_suites` on tiny and on tiny + the tiny-dora-curriculum adapter (tests/data)."""

    from tunebench.history.store import open_store

    records = open_store(real_tiny_history).read_all(strict=True).records
    base, tuned = resolve_run("tiny", records), resolve_run("tiny-dora-curriculum", records)
    comparison = compare_runs(base, tuned)
    before = {q["id"]: q for q in base["questions"]}
    after = {q["id"]: q for q in tuned["questions"]}
    assert comparison.paired == len(before) == 100
    assert {f.id for f in comparison.right_to_wrong} == {
        i for i in before if before[i]["correct"] and not after[i]["correct"]
    }
    assert {f.id for f in comparison.wrong_to_right} == {
        i for i in before if not before[i]["correct"] and after[i]["correct"]
    }
    assert comparison.right_to_wrong and comparison.wrong_to_right
    assert all(
        f.domain == before[f.id]["domain"] and f.chosen_b == after[f.id]["chosen"]
        for f in comparison.right_to_wrong + comparison.wrong_to_right
    )
    assert 0 < comparison.p_value <= 1


def test_comparison_states_its_detectable_drop_and_the_probability_test():
    import math

    from tunebench.power import detectable_drop

    def run(run_id, wrong, p_right):
        outcomes = []
        for i in range(40):
            q = question(
                f"q-{i:03d}", DOMAINS[i % 5], i not in wrong, chosen="A" if i not in wrong else "B", answer="A"
            )
            rest = math.log((1 - p_right) / 3)
            q["loglikelihoods"] = [math.log(p_right), rest, rest, rest]
            outcomes.append(q)
        return eval_record(run_id, "m", outcomes)

    comparison = compare_runs(run("a", {1, 2}, 0.7), run("b", {3, 4, 5, 6}, 0.6))
    assert comparison.discordance == 6 / 40
    assert comparison.detectable_drop == detectable_drop(40, 6 / 40)
    assert comparison.probability.drop == pytest.approx(0.1) and comparison.probability.p_value == 0.0
    text = format_comparison(comparison)
    assert f"power: a drop of {100 * comparison.detectable_drop:.1f} points or more is detected 80% of the time" in text
    assert "p(right answer): A 70.0% -> B 60.0%, drop +10.0 points" in text
    data = comparison.to_dict()
    assert data["detectable_drop"] == comparison.detectable_drop and data["probability"]["n"] == 40
