"""Training data: schema, loading, hashes, and the contamination check against the eval suites."""

from __future__ import annotations

import json

import pytest
from training_support import REPO, TRAIN_DATA, VALIDATION_DATA, make_project, phase, write_recipe

from tunebench.data import (
    Example,
    SuiteText,
    check_contamination,
    declared_domains,
    examples_sha256,
    find_contamination,
    load_examples,
    normalize,
)
from tunebench.errors import DataError

SUITES = [
    REPO / "eval_suites" / "benchmark_100" / "questions.jsonl",
    REPO / "eval_suites" / "domain_probes" / "probes.jsonl",
]


def _write(path, *rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def _chat(eid, question, answer, difficulty="easy", domain="investment"):
    return {
        "id": eid,
        "domain": domain,
        "difficulty": difficulty,
        "messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}],
    }


def test_shipped_data_covers_five_domains_and_four_difficulties_evenly():
    examples = load_examples(TRAIN_DATA)
    cells = {(e.domain, e.difficulty) for e in examples}
    assert len(cells) == 20 and len(examples) == 80
    assert len(load_examples(VALIDATION_DATA)) == 20


def test_chat_and_prompt_completion_examples_both_load(tmp_path):
    path = _write(
        tmp_path / "d.jsonl",
        _chat("c1", "What is an ETF?", "A fund traded on an exchange."),
        {
            "id": "p1",
            "domain": "compliance",
            "difficulty": "hard",
            "prompt": "Q: define KYC\nA:",
            "completion": " know your customer.",
        },
    )
    chat, plain = load_examples(path)
    assert chat.for_trainer() == {
        "prompt": [{"role": "user", "content": "What is an ETF?"}],
        "completion": [{"role": "assistant", "content": "A fund traded on an exchange."}],
    }
    assert plain.for_trainer() == {"prompt": "Q: define KYC\nA:", "completion": " know your customer."}


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("{not json", r"d\.jsonl:2: not valid JSON"),
        (
            {"id": "x", "domain": "", "difficulty": "easy", "prompt": "a", "completion": "b"},
            r"d\.jsonl:2: key domain: '' should be non-empty",
        ),
        (
            {"id": "x", "domain": "investment", "difficulty": "trivial", "prompt": "a", "completion": "b"},
            r"d\.jsonl:2: key difficulty",
        ),
        (
            {"id": "x", "domain": "investment", "difficulty": "easy", "prompt": "a"},
            r"d\.jsonl:2: expected either 'messages' or both 'prompt' and 'completion', found \['prompt'\]",
        ),
        (
            {"id": "x", "domain": "investment", "difficulty": "easy", "prompt": "a", "completion": "b", "answer": "c"},
            r"d\.jsonl:2: unknown key 'answer'",
        ),
        (
            {
                **_chat("x", "q", "a"),
                "messages": [{"role": "assistant", "content": "a"}, {"role": "user", "content": "q"}],
            },
            r"d\.jsonl:2: key messages: expected the last message to be the assistant's answer, found role 'user'",
        ),
        (_chat("c1", "again?", "yes"), r"d\.jsonl:2: id 'c1' already used on line 1"),
    ],
)
def test_a_bad_example_names_the_file_line_and_problem(tmp_path, row, message):
    path = _write(tmp_path / "d.jsonl", _chat("c1", "What is an ETF?", "A fund."), row)
    with pytest.raises(DataError, match=message):
        load_examples(path)


def test_without_a_manifest_training_data_may_use_any_domain(tmp_path):
    path = _write(
        tmp_path / "d.jsonl", _chat("c1", "What is a stablecoin?", "A token pegged to a currency.", domain="crypto")
    )
    assert [e.domain for e in load_examples(path)] == ["crypto"]
    assert declared_domains([path]) is None


def test_a_suite_toml_beside_the_data_declares_its_domains_and_refuses_others(tmp_path):
    (tmp_path / "suite.toml").write_text('domains = ["defi", "crypto"]\n', encoding="utf-8")
    good = _write(tmp_path / "d.jsonl", _chat("c1", "What is a stablecoin?", "A pegged token.", domain="crypto"))
    assert [e.domain for e in load_examples(good)] == ["crypto"] and declared_domains([good]) == ("defi", "crypto")
    bad = _write(tmp_path / "e.jsonl", _chat("c1", "q", "a", domain="defi"), _chat("c2", "q2", "a", domain="payments"))
    with pytest.raises(
        DataError,
        match=r'e\.jsonl:2: key domain: expected one of defi, crypto \(declared in .*suite\.toml\), found "payments"',
    ):
        load_examples(bad)


def test_a_bad_data_manifest_names_its_file_line_and_key(tmp_path):
    (tmp_path / "suite.toml").write_text('domains = ["defi"]\nlabels = 1\n', encoding="utf-8")
    path = _write(tmp_path / "d.jsonl", _chat("c1", "q", "a", domain="defi"))
    with pytest.raises(DataError, match=r"suite\.toml:2: field labels: unknown key; expected only domains"):
        load_examples(path)


def test_examples_hash_covers_content_and_order():
    from dataclasses import replace

    examples = load_examples(TRAIN_DATA)[:5]
    assert examples_sha256(examples) == examples_sha256(list(examples))
    assert examples_sha256(examples) != examples_sha256(examples[::-1])
    # One character of one answer changed, same ids and order: a different hash.
    first = examples[0]
    if first.messages:
        edited = replace(
            first,
            messages=(*first.messages[:-1], {**first.messages[-1], "content": first.messages[-1]["content"] + "!"}),
        )
    else:
        edited = replace(first, completion=(first.completion or "") + "!")
    assert examples_sha256([edited, *examples[1:]]) != examples_sha256(examples)


def _example(question: str, answer: str = "Some answer.") -> Example:
    return Example(
        "t1",
        "investment",
        "easy",
        "t.jsonl:1",
        messages=({"role": "user", "content": question}, {"role": "assistant", "content": answer}),
    )


SUITE = [
    SuiteText("inv-001", "What is the main benefit of diversification in an investment portfolio?", "q:1"),
    SuiteText("probe-tax-1", "Explain how the wash sale rule limits tax-loss harvesting for an investor.", "p:1"),
]


def test_normalized_exact_copy_of_a_suite_question_is_contamination():
    assert normalize("  WHAT is the main BENEFIT of diversification, in an investment portfolio?? ") == normalize(
        SUITE[0].text
    )
    found = find_contamination(
        [_example("what is the main benefit of diversification in an investment portfolio")], SUITE
    )
    assert [(o.example_id, o.suite_id, o.how) for o in found] == [("t1", "inv-001", "exact")]


def test_reworded_near_duplicate_is_contamination():
    near = _example("Please explain how the wash sale rule limits tax-loss harvesting for an investor today.")
    assert [o.suite_id for o in find_contamination([near], SUITE)] == ["probe-tax-1"]


def test_suite_question_pasted_inside_a_longer_prompt_is_contamination():
    wrapped = _example(
        "Answer with one letter. What is the main benefit of diversification in an investment "
        "portfolio? A) more fees B) less risk from any single holding C) tax D) none"
    )
    found = find_contamination([wrapped], SUITE)
    assert found and found[0].suite_id == "inv-001" and found[0].how.startswith(("jaccard", "containment"))


def test_unrelated_example_on_the_same_topic_is_clean():
    assert find_contamination([_example("How often should I rebalance a two-fund portfolio?")], SUITE) == []


def test_check_refuses_with_every_offending_id(tmp_path):
    suite = _write(tmp_path / "questions.jsonl", {"id": "inv-001", "question": SUITE[0].text})
    examples = [
        _example(SUITE[0].text),
        Example("t2", "investment", "easy", "t.jsonl:2", prompt=SUITE[0].text.upper(), completion="x"),
        _example("How do ETFs differ from mutual funds?"),
    ]
    with pytest.raises(
        DataError,
        match=r"2 training example\(s\) overlap the evaluation suites and are refused: "
        r"t1, t2\n.*inv-001",
    ):
        check_contamination(examples, [suite])


@pytest.mark.skipif(not all(p.is_file() for p in SUITES), reason="the eval suite files are not in this checkout")
def test_shipped_training_data_does_not_overlap_the_shipped_suites():
    examples = load_examples(TRAIN_DATA) + load_examples(VALIDATION_DATA)
    assert check_contamination(examples, SUITES) > 0


def test_training_refuses_contaminated_data_before_loading_a_model(tmp_path):
    from tunebench.training.run import train

    config = make_project(tmp_path / "proj")
    suite = _write(
        tmp_path / "questions.jsonl", {"id": "ret-777", "question": "What does a 401(k) employer match mean?"}
    )
    recipe = write_recipe(tmp_path / "r.toml", [phase("A", "mixed", 4)], contamination_suites=[str(suite)])
    with pytest.raises(
        DataError,
        match=r"refused: train-ret-easy-1\n  train-ret-easy-1 \(.*finance_train\.jsonl:1\) "
        r"~ ret-777 \(.*questions\.jsonl:1\): exact",
    ):
        train(recipe, config=config)
    assert not (config.home / "models" / "tiny-test").exists()


def test_examples_whose_prompt_fills_max_length_are_refused_by_id(tmp_path):
    from tunebench.training.run import train

    config = make_project(tmp_path / "proj")
    # Qwen2.5's template adds its default system prompt: about 75 tiny tokens before the first answer token.
    recipe = write_recipe(tmp_path / "r.toml", [phase("A", "mixed", 4)], max_length=64)
    with pytest.raises(
        DataError,
        match=r"key max_length: 64 leaves no answer tokens for \d+ example\(s\): "
        r"train-\w+-\w+-\d \(.*finance_train\.jsonl:\d+: \d+ prompt tokens\)",
    ):
        train(recipe, config=config)
