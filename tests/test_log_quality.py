"""The log's inference table: total latency with tokens beside it, TTFT and time per token; quality with reasons."""

from __future__ import annotations

from record_factory import eval_record, probe, training_record

from tunebench.report.markdown import render_log


def _probe(pid: str, domain: str, grade: int, evidence: dict) -> dict:
    outcome = probe(pid, domain, 2.0, grade)
    outcome.update(ttft_s=0.25, new_tokens=36, time_per_output_token_s=0.05, evidence=evidence)
    return outcome


def _row(log: str, domain: str) -> str:
    table = log.split("**Inference Test Results**")[1].split("\n\n")[0]
    return next(line for line in table.splitlines() if line.startswith(f"| {domain} |"))


def test_the_inference_table_shows_speed_apart_from_length_and_each_grades_reason():
    rubric = {"grader": "rubric-v2", "reason": "3/4 key points; no forbidden claim"}
    judged = {"grader": "judge:qwen", "reason": "judge: misses the catch-up", "rubric": rubric, "rubric_grade": 4}
    old = {"hit": ["a"], "missed": ["b", "c"], "forbidden_found": ["limit is $19,500"]}  # a rubric-v1 record
    records = [
        training_record("run-train-1", "tiny-dora"),
        eval_record(
            "run-eval-1",
            "tiny-dora",
            [
                _probe("p1", "investment", 4, rubric),
                _probe("p2", "compliance", 3, judged),
                _probe("p3", "estate_planning", 1, old),
            ],
            started_at="2026-02-03T10:00:00Z",
        ),
    ]
    log = render_log(records)
    assert "| Domain | Latency | TTFT | Time/Token | Quality (1-5) | Accuracy |" in log
    assert _row(log, "investment").startswith(
        "| investment | 2.00s (36 tok) | 0.25s | 50.0 ms | 4.00 — 4: 3/4 key points; no forbidden claim |"
    )
    assert "3.00 — 3: 3/4 key points; no forbidden claim; judge: misses the catch-up |" in _row(log, "compliance")
    assert '1.00 — 1: 1/3 key points; forbidden: "limit is $19,500" |' in _row(log, "estate_planning")


def test_a_reason_with_a_pipe_cannot_break_the_table():
    evidence = {"grader": "rubric-v2", "reason": '2/4 key points; forbidden: "a | b"'}
    records = [
        training_record("run-train-1", "tiny-dora"),
        eval_record("run-eval-1", "tiny-dora", [_probe("p1", "investment", 2, evidence)], "2026-02-03T10:00:00Z"),
    ]
    assert r'forbidden: "a \| b"' in _row(render_log(records), "investment")
