"""Per-domain probes: timed greedy generation (TTFT, time per output token, latency) and a 1-5 quality grade.

Each probe's timed repeats are interleaved with the machine-speed reference workload (tunebench.machine_speed),
recorded beside the per-repeat timings, so the gate can tell a slower model from a busier machine.

The grade is the deterministic rubric grade; with `[tool.tunebench.eval.judge] model = "NAME"` it is the
judge model's grade instead, and the rubric's evidence is kept beside it. A judge reply without a grade is
a judge error: the probe is recorded with no grade and the error, and the item fails (an ungraded answer
is never silently given a grade). Every probe records the graders' calibration figures.
"""

import pytest

from tunebench.errors import JudgeError
from tunebench.machine_speed import generate_beside_reference
from tunebench.scoring.judge import judge_grade
from tunebench.scoring.quality import grade
from tunebench.suites import suite_name


def test_probe(probe, tb_engine, tb_config, judge, grader_calibration, probe_domains, record):
    settings = tb_config.eval
    # An engine error (server down, HTTP 500, timeout) fails the item: the probe is not recorded as answered.
    # The machine's speed is timed before, between and after the repeats: the gate takes it out of latency.
    result, speed_reference = generate_beside_reference(
        tb_engine,
        [{"role": "user", "content": probe.prompt}],
        max_new_tokens=settings.max_new_tokens,
        repeats=settings.repeats,
        warmup=settings.warmup,
    )
    rubric = grade(result.text, probe)
    score, evidence, error = rubric.score, rubric.evidence, None
    if judge is not None:
        try:
            judged = judge_grade(result.text, probe, judge)
            score, evidence = judged.score, {**judged.evidence, "rubric": rubric.evidence, "rubric_grade": rubric.score}
        except JudgeError as exc:
            score, error = None, exc
            evidence = {**exc.evidence, "judge_error": str(exc)}
            evidence.update(rubric=rubric.evidence, rubric_grade=rubric.score)
    record(
        kind="probe",
        suite=suite_name(probe.source),
        suite_file=str(probe.source),
        suite_domains=probe_domains,  # the shipped probes narrowed to the questions' domains, or None
        id=probe.id,
        domain=probe.domain,
        prompt_tokens=result.prompt_tokens,
        new_tokens=result.new_tokens,
        stop_reason=result.stop_reason,
        load_s=tb_engine.load_seconds,
        ttft_s=result.ttft_s,
        ttft_runs_s=list(result.ttft_runs_s),
        speed_reference=speed_reference.to_dict(),
        decode_tokens_per_s=result.decode_tokens_per_s,
        time_per_output_token_s=result.time_per_output_token_s,
        latency_s=list(result.latency_s),
        latency_median_s=result.latency_median_s,
        latency_p90_s=result.latency_p90_s,
        grade=score,
        evidence=evidence,
        grader_calibration=grader_calibration,
        answer=result.text,
    )
    if error is not None:
        pytest.fail(f"JudgeError: {error}", pytrace=False)
