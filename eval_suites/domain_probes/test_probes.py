"""Per-domain probes: timed greedy generation (TTFT, decode speed, latency) and a 1-5 quality grade.

The grade is the deterministic rubric grade; with `[tool.tunebench.eval] judge = "NAME"` it is the judge
model's grade instead, and the rubric's evidence is kept beside it. A judge reply without a grade fails
the item (an ungraded answer is not silently given the rubric's grade).
"""

from tunebench.scoring.quality import grade
from tunebench.suites import suite_name


def test_probe(probe, tb_engine, tb_config, judge, record):
    settings = tb_config.eval
    # An engine error (server down, HTTP 500, timeout) fails the item: the probe is not recorded as answered.
    result = tb_engine.generate(
        [{"role": "user", "content": probe.prompt}],
        max_new_tokens=settings.max_new_tokens,
        repeats=settings.repeats,
        warmup=settings.warmup,
    )
    quality = grade(result.text, probe)
    evidence = quality.evidence
    if judge is not None:
        judged = judge(result.text, probe)
        quality, evidence = judged, {**judged.evidence, "rubric": quality.evidence, "rubric_grade": quality.score}
    record(
        kind="probe",
        suite=suite_name(probe.source),
        suite_file=str(probe.source),
        id=probe.id,
        domain=probe.domain,
        prompt_tokens=result.prompt_tokens,
        new_tokens=result.new_tokens,
        stop_reason=result.stop_reason,
        load_s=tb_engine.load_seconds,
        ttft_s=result.ttft_s,
        decode_tokens_per_s=result.decode_tokens_per_s,
        latency_s=list(result.latency_s),
        latency_median_s=result.latency_median_s,
        latency_p90_s=result.latency_p90_s,
        grade=quality.score,
        evidence=evidence,
        answer=result.text,
    )
