"""GPU acceptance: tunebench's whole path on a bare GPU machine, in one command that fits a 10-minute call.

    python benchmarks/gpu/acceptance.py                 # on the GPU machine; writes benchmarks/gpu/ACCEPTANCE.md
    python benchmarks/gpu/acceptance.py --dry-run       # tiny shape on the CPU: checks the script (*.dry-run.md)

Stages, each under its own time limit (and all under --budget), each a separate process as a user runs it:

1. base: a Qwen2.5-14B-shaped model with random bf16 weights, saved as a model folder (tiny's tokenizer);
2. doctor: `tunebench doctor --recipe R` (the API probes, disk, GPU memory, price) must pass;
3. train: `tunebench train R` at the seed's session-5 settings (DoRA r128 alpha 256, batch 4, max_length 2048,
   bf16, gradient checkpointing, phases A/B/C) on long examples, a few steps per phase;
4. eval: `pytest eval_suites --model NAME` on the trained adapter (merged at load);
5. bench: run_gpu_bench.py's microbenchmarks, shortened (`--limit`, fewer steps).

`--throughput` runs instead (issue 24): the base, then `tunebench train` once per throughput setting (attention
kernel, padding-free batches, Liger; LoRA r16 and DoRA r128 at batch 4 x 2048, bf16, gradient checkpointing, one
short phase on examples of mixed lengths), and reports each run's tokens/s, padding and MFU against the goals
(MFU >= 35% LoRA, >= 30% DoRA at 14B on an H100/H200). Its report is benchmarks/gpu/THROUGHPUT.md.

The report (Markdown) has each stage's status and time, the training's measured peak memory against tunebench's
estimate, tokens/s, MFU, the eval's load time, TTFT and decode time against the bandwidth floor, and the
microbenchmarks' tables. Without a GPU it stops at once with one line (exit 4). The machine needs the
wheelhouse of build_wheelhouse.sh (tunebench and what its image lacks).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))

from run_gpu_bench import QWEN2_5_14B, TINY_SHAPE, gpu_missing  # noqa: E402

SUITES = REPO / "eval_suites"
OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
# Stage limits in seconds (a stage also stops when --budget runs out): about 9 minutes in all on an H200.
LIMITS = {"base": 120, "doctor": 60, "train": 180, "eval": 150, "bench": 120, "throughput": 80}
# A dry run checks the script, not speed: a busy 2-core CPU may take minutes to import torch and trl.
DRY_LIMITS = {"base": 600, "doctor": 600, "train": 900, "eval": 600, "bench": 600, "throughput": 600}
# Issue 24's training-throughput rows: (label, method, rank, --set overrides, MFU goal). "auto" is the default a
# user gets (flash_attention_2 and padding-free where flash-attn is installed, Liger where installed and trl lacks
# its own fused LM head); the "sdpa, padded" rows are tunebench before issue 24.
PLAIN = {"attn_implementation": "sdpa", "padding_free": "false", "liger_kernel": "false"}
THROUGHPUT = [
    ("LoRA r16, sdpa, padded", "lora", 16, PLAIN, None),
    ("LoRA r16, sdpa, padding-free", "lora", 16, {**PLAIN, "padding_free": "true"}, None),
    ("LoRA r16, auto", "lora", 16, {}, 0.35),
    ("LoRA r16, sdpa, padded, Liger kernels", "lora", 16, {**PLAIN, "liger_kernel": "true"}, None),
    ("DoRA r128, sdpa, padded", "dora", 128, PLAIN, None),
    ("DoRA r128, auto", "dora", 128, {}, 0.30),
]
DOMAINS = ("retirement_planning", "tax_strategy", "estate_planning", "investment_basics", "insurance")
DIFFICULTIES = ("easy", "medium", "hard", "extreme")


@dataclass
class Stage:
    """One stage's outcome: status ok / failed (exit N) / timed out, and its seconds."""

    name: str
    status: str
    seconds: float
    limit: float
    tail: str = ""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="tiny shape on the CPU, seconds: checks the script")
    parser.add_argument("--work", type=Path, default=Path("/tmp/tunebench-acceptance"), help="scratch folder")
    parser.add_argument(
        "--output", type=Path, help="the report (ACCEPTANCE.md or THROUGHPUT.md here; a dry run: *.dry-run.md)"
    )
    parser.add_argument("--budget", type=float, help="seconds for all stages together (540; dry run 3600)")
    parser.add_argument("--steps", type=int, default=2, help="optimizer steps per phase")
    parser.add_argument(
        "--throughput", action="store_true", help="the training-throughput rows instead (THROUGHPUT.md; issue 24)"
    )
    args = parser.parse_args(argv)
    if args.output is None:  # a dry run's report is never mistaken for (or committed as) the GPU's
        name = "THROUGHPUT" if args.throughput else "ACCEPTANCE"
        args.output = HERE / f"{name}{'.dry-run' if args.dry_run else ''}.md"
    if args.budget is None:
        args.budget = 3600.0 if args.dry_run else 540.0
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.dry_run and (why := gpu_missing()):
        print(f"acceptance.py: {why}; it needs a GPU (--dry-run checks the script on a CPU)")
        return 4
    started = time.monotonic()
    limits = DRY_LIMITS if args.dry_run else LIMITS
    work = args.work.resolve()
    project = _write_project(work, args)
    stages: list[Stage] = []
    if args.throughput:
        return _throughput(args, project, work, limits, started)
    plan = [
        ("base", [sys.executable, str(HERE / "acceptance.py"), "--build-base", str(work / "base"), *_dry(args)]),
        ("doctor", [sys.executable, "-m", "tunebench.cli", "doctor", "--recipe", str(project / "recipe.toml")]),
        ("train", [sys.executable, "-m", "tunebench.cli", "train", str(project / "recipe.toml")]),
        ("eval", [sys.executable, "-m", "pytest", str(REPO / "eval_suites"), "--model", "accept-dora", "-q",
                  "-p", "no:cacheprovider", "--rootdir", str(REPO), *(_dry_eval() if args.dry_run else [])]),
        ("bench", [sys.executable, str(HERE / "run_gpu_bench.py"), "--output", str(work / "RESULTS.md"),
                   *(["--tiny", "--limit", "2"] if args.dry_run else ["--limit", "5", "--train-steps", "2",
                                                                       "--repeats", "1"])]),
    ]  # fmt: skip
    for name, command in plan:
        left = args.budget - (time.monotonic() - started)
        if left <= 5 or (stages and stages[-1].status != "ok" and name in ("train", "eval")):
            stages.append(Stage(name, "not run", 0.0, limits[name]))
            continue
        stages.append(_run_stage(name, command, project, min(limits[name], left)))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(_report(args, stages, project, work), encoding="utf-8")
    print(f"acceptance: {', '.join(f'{s.name} {s.status}' for s in stages)}; report {args.output}")
    return 0 if all(s.status == "ok" for s in stages) else 1


def _throughput(args: argparse.Namespace, project: Path, work: Path, limits: dict[str, int], started: float) -> int:
    """Build the base, train once per THROUGHPUT setting, write the table of tokens/s, padding and MFU."""
    base = [sys.executable, str(HERE / "acceptance.py"), "--build-base", str(work / "base"), *_dry(args)]
    stages = [_run_stage("base", base, project, min(limits["base"], args.budget))]
    rows = []
    for number, (label, method, rank, overrides, goal) in enumerate(THROUGHPUT, start=1):
        if args.dry_run and overrides.get("liger_kernel") == "true":
            continue  # Liger is Triton kernels for CUDA: a CPU run refuses it (tested in tests/)
        left = args.budget - (time.monotonic() - started)
        rank = rank if not args.dry_run else 4
        sets = {"method": method, "rank": rank, "alpha": 2 * rank, "output": f"tp-{number}", **overrides}
        command = [sys.executable, "-m", "tunebench.cli", "train", str(project / "throughput.toml")]
        command += [arg for key, value in sets.items() for arg in ("--set", f"{key}={value}")]
        if stages[0].status != "ok" or left <= 5:
            stages.append(Stage(f"tp-{number}", "not run", 0.0, limits["throughput"]))
            rows.append((label, {}, goal))
            continue
        stages.append(_run_stage(f"tp-{number}", command, project, min(limits["throughput"], left)))
        record = _newest_record(project, "training") if stages[-1].status == "ok" else {}
        rows.append((label, record if record.get("output", {}).get("name") == f"tp-{number}" else {}, goal))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(_throughput_report(args, stages, rows), encoding="utf-8")
    print(f"acceptance --throughput: {', '.join(f'{s.name} {s.status}' for s in stages)}; report {args.output}")
    return 0 if all(s.status == "ok" for s in stages) else 1


def throughput_row(label: str, record: dict[str, Any], goal: float | None) -> list[str]:
    """One row of the throughput table: the setting that ran, tokens/s, padding, MFU and its goal."""
    phase = (record.get("phases") or [{}])[0]
    ran = (record.get("hyperparameters") or {}).get("throughput") or {}
    tokens, processed = phase.get("tokens"), phase.get("processed_tokens")
    padding = 1 - tokens / processed if isinstance(tokens, int) and isinstance(processed, int) and processed else None
    mfu = (phase.get("efficiency") or {}).get("mfu")
    verdict = "-" if goal is None or mfu is None else ("met" if mfu >= goal else "not met")
    yes = {True: "yes", False: "no"}
    return [
        label,
        str(ran.get("attn_implementation", "-")),
        yes.get(ran.get("padding_free"), "-"),
        yes.get(ran.get("liger_kernel"), "-"),
        yes.get(ran.get("fused_lm_head"), "-"),
        _num(phase.get("tokens_per_s"), "{:,.0f}"),
        _num(padding, "{:.1%}"),
        _num(mfu, "{:.1%}"),
        "-" if goal is None else f">= {goal:.0%} ({verdict})",
    ]


def _throughput_report(args: argparse.Namespace, stages: list[Stage], rows: list[Any]) -> str:
    import platform

    head = ["setting", "attention", "padding-free", "liger", "trl fused LM head", "tokens/s", "padding", "MFU", "goal"]
    lines = [
        "# Training throughput (issue 24)",
        "",
        f"{'Dry run (tiny shape, CPU): checks the script, not the GPU.' if args.dry_run else 'GPU run.'} "
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M UTC}, Python {platform.python_version()}, written by "
        f"`python benchmarks/gpu/acceptance.py --throughput{' --dry-run' if args.dry_run else ''}`. Each row is one "
        "`tunebench train` of one short phase (batch 4, max_length 2048, bf16, gradient checkpointing, examples of "
        "mixed lengths); tokens/s and MFU are the phase's own record (its wall includes the first step's warm-up).",
        "",
        "| " + " | ".join(head) + " |",
        "|" + " --- |" * len(head),
        *("| " + " | ".join(throughput_row(*row)) + " |" for row in rows),
        "",
        "## Stages",
        "",
        "| stage | status | seconds | limit |",
        "| --- | --- | --- | --- |",
        *(f"| {s.name} | {s.status} | {s.seconds:.1f} | {s.limit:.0f} |" for s in stages),
    ]
    for stage in stages:
        if stage.status not in ("ok", "not run"):
            lines += ["", f"## {stage.name}: last output", "", "```", stage.tail.strip(), "```"]
    return "\n".join(lines) + "\n"


def _dry(args: argparse.Namespace) -> list[str]:
    return ["--dry-run"] if args.dry_run else []


def _dry_eval() -> list[str]:
    return ["-k", "tax-001 or ret-001 or test_probe", "--no-gate"]


def _run_stage(name: str, command: list[str], project: Path, limit: float) -> Stage:
    print(f"acceptance: {name} (limit {limit:.0f} s) ...", flush=True)
    # The project's own config for every stage: pytest would otherwise read the repository's (its rootdir).
    env = {**os.environ, **OFFLINE, "PYTHONUNBUFFERED": "1", "TUNEBENCH_CONFIG": str(project / "pyproject.toml")}
    start = time.monotonic()
    try:
        done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired as stopped:
        out = (stopped.stdout or b"").decode() if isinstance(stopped.stdout, bytes) else (stopped.stdout or "")
        return Stage(name, "timed out", time.monotonic() - start, limit, out[-1500:])
    seconds = time.monotonic() - start
    tail = (done.stdout + done.stderr)[-1500:]
    print(tail[-600:], flush=True)
    return Stage(name, "ok" if done.returncode == 0 else f"failed (exit {done.returncode})", seconds, limit, tail)


# --- the project: a registry entry for the base, a recipe at the seed's session-5 settings, long examples -------


def _write_project(work: Path, args: argparse.Namespace) -> Path:
    project = work / "project"
    project.mkdir(parents=True, exist_ok=True)
    (project / "pyproject.toml").write_text(
        '[tool.tunebench]\nhome = ".tb"\nhistory = ".tb/history"\n\n'
        f'[tool.tunebench.models.accept-base]\nbase = "{work / "base"}"\nstatus = "experimental"\n',
        encoding="utf-8",
    )
    size = 4 * args.steps if not args.dry_run else 2 * args.steps
    _write_examples(project / "train.jsonl", 3 * size + 8, words=1500 if not args.dry_run else 60)
    _write_examples(project / "validation.jsonl", 4, words=1500 if not args.dry_run else 60, prefix="val")
    settings = (
        {"rank": 128, "alpha": 256, "batch_size": 4, "max_length": 2048, "bf16": "true", "device": '"cuda"'}
        if not args.dry_run
        else {"rank": 4, "alpha": 8, "batch_size": 2, "max_length": 128, "device": '"cpu"', "cpu_threads": 1}
    )
    lines = [
        'description = "issue 23 acceptance: the seed\'s session-5 settings on a 14B-shaped base, a few steps"',
        'model = "accept-base"',
        'method = "dora"',
        'output = "accept-dora"',
        "seed = 0",
        *(f"{k} = {v}" for k, v in settings.items()),
        "dropout = 0.05",
        'target_modules = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]',
        "gradient_checkpointing = true",
        "grad_accum = 1",
        "epochs = 1",
        "learning_rate = 1e-4",
        "save_steps = 1000",  # no mid-phase checkpoint of a 2 GB adapter and its optimizer: the phase end saves
        "save_total_limit = 1",
        "merge = false",  # a second 30 GB copy would not fit the stage limits; the eval merges at load
        'validation = ["validation.jsonl"]',
        # The project folder holds no suites: check the training data against the repository's.
        f'contamination_suites = ["{SUITES / "benchmark_100" / "questions.jsonl"}", '
        f'"{SUITES / "domain_probes" / "probes.jsonl"}"]',
    ]
    for name, kind in (("A", "domain_blocks"), ("B", "mixed"), ("C", "stress")):
        lines += ["", "[[phases]]", f'name = "{name}"', f'kind = "{kind}"', 'data = ["train.jsonl"]', f"size = {size}"]
        lines.append("mix = { easy = 0.25, medium = 0.25, hard = 0.25, extreme = 0.25 }")
    (project / "recipe.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    _write_throughput_recipe(project, args, settings)
    return project


def _write_throughput_recipe(project: Path, args: argparse.Namespace, settings: dict[str, Any]) -> None:
    """One short phase on examples of mixed lengths (so padding is real); method and rank come from --set."""
    words = 1500 if not args.dry_run else 25  # the dry run's max_length is 128: most examples must fit it
    _write_examples(project / "mixed.jsonl", 8 * args.steps + 8, words=words, mixed=True)
    lines = [
        'model = "accept-base"',
        'method = "lora"',
        'output = "tp"',
        "seed = 0",
        *(f"{k} = {v}" for k, v in settings.items() if k not in ("rank", "alpha")),
        "dropout = 0.0",  # DoRA's fast path (issue 24): the shipped DoRA recipes train with dropout 0
        "gradient_checkpointing = true",
        "learning_rate = 1e-4",
        "save_steps = 1000",
        "merge = false",
        'validation = ["validation.jsonl"]',
        f'contamination_suites = ["{SUITES / "benchmark_100" / "questions.jsonl"}"]',
        "",
        "[[phases]]",
        'name = "A"',
        'kind = "mixed"',
        'data = ["mixed.jsonl"]',
        f"size = {4 * args.steps}",
        "mix = { easy = 0.25, medium = 0.25, hard = 0.25, extreme = 0.25 }",
    ]
    (project / "throughput.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _write_examples(path: Path, count: int, words: int, prefix: str = "train", mixed: bool = False) -> None:
    """Long chat examples (about `words` words of answer each; `mixed`: 10% to 100% of it, varying from one
    example to the next), every domain and difficulty represented."""
    text = "A diversified portfolio rebalanced once a year keeps its risk near the target allocation. "
    rows = []
    for i in range(count):
        size = max(1, int(words * (0.1 + 0.9 * ((i * 7) % 10) / 9))) if mixed else words
        answer = " ".join((text * (size // 12 + 1)).split()[:size])
        rows.append(
            {
                "id": f"{prefix}-{i}",
                "domain": DOMAINS[i % len(DOMAINS)],
                "difficulty": DIFFICULTIES[(i // len(DOMAINS)) % len(DIFFICULTIES)],
                "messages": [
                    {"role": "user", "content": f"{prefix} {i}: how should a saver of {30 + i} plan for retirement?"},
                    {"role": "assistant", "content": answer},
                ],
            }
        )
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def build_base(folder: Path, dry_run: bool) -> None:
    """Save a Qwen2 of the 14B shape (tiny's for a dry run) with random weights, and tiny's tokenizer, to `folder`."""
    import torch
    from run_gpu_bench import build_model

    device = "cpu" if dry_run else "cuda"
    dtype = torch.float32 if dry_run else torch.bfloat16
    model, tokenizer = build_model(TINY_SHAPE if dry_run else QWEN2_5_14B, device, dtype)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


# --- the report --------------------------------------------------------------------------------------------------


def _newest_record(project: Path, kind: str) -> dict[str, Any]:
    records = []
    for path in (project / ".tb" / "history").rglob("*.json"):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("kind") == kind:
            records.append((path.stat().st_mtime, data))
    return max(records, key=lambda r: r[0])[1] if records else {}


def _find(data: Any, *names: str) -> Any:
    """Return the first value under any key named in `names`, searching the record depth-first."""
    if isinstance(data, dict):
        for name in names:
            if data.get(name) is not None:
                return data[name]
        for value in data.values():
            if (found := _find(value, *names)) is not None:
                return found
    elif isinstance(data, list):
        for value in data:
            if (found := _find(value, *names)) is not None:
                return found
    return None


def _gb(value: Any) -> str:
    if not isinstance(value, (int, float)):
        return "-"
    return f"{value / 1e9:.1f} GB" if value >= 1e8 else f"{value / 1e6:.1f} MB"


def _num(value: Any, fmt: str = "{:.3g}") -> str:
    return fmt.format(value) if isinstance(value, (int, float)) else "-"


def _estimate(project: Path) -> Any:
    try:
        from tunebench.config import load_config
        from tunebench.memory import estimate_for_recipe
        from tunebench.training.recipe import load_recipe

        recipe = load_recipe(project / "recipe.toml")
        return estimate_for_recipe(recipe, load_config(project)).total_bytes
    except Exception as error:  # the report still shows what was measured
        return f"not estimated ({type(error).__name__}: {error})"


def _report(args: argparse.Namespace, stages: list[Stage], project: Path, work: Path) -> str:
    training, evaluation = _newest_record(project, "training"), _newest_record(project, "eval")
    aggregates = evaluation.get("aggregates") or {}
    peak = _find(training.get("totals", {}), "peak_memory_bytes")
    estimate = _estimate(project)
    ratio = f"{peak / estimate:.3f}x" if isinstance(peak, int) and isinstance(estimate, (int, float)) else "-"
    rows = [
        ("training peak memory (measured)", _gb(peak)),
        ("training peak memory (tunebench's estimate)", _gb(estimate) if not isinstance(estimate, str) else estimate),
        ("measured / estimated", ratio),
        ("training tokens/s", _num(_find(training.get("totals", {}), "tokens_per_s"), "{:.0f}")),
        ("training MFU", _num(_find(training, "mfu"), "{:.1%}")),
        ("training wall (s)", _num(_find(training.get("totals", {}), "wall_s"), "{:.1f}")),
        ("eval accuracy", _num(_find(aggregates.get("accuracy"), "value"), "{:.3f}")),
        ("eval load time (s)", _num(_find(evaluation, "load_s", "load_seconds"), "{:.1f}")),
        ("eval TTFT median (s)", _num(_find(aggregates.get("ttft_s"), "p50"), "{:.3f}")),
        ("eval decode x floor", _num(_find(evaluation, "decode_x_floor", "x_floor", "floor_ratio"), "{:.2f}")),
    ]
    import platform

    lines = [
        "# GPU acceptance (issue 23)",
        "",
        f"{'Dry run (tiny shape, CPU): checks the script, not the GPU.' if args.dry_run else 'GPU run.'} "
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M UTC}, Python {platform.python_version()}, "
        f"written by `python benchmarks/gpu/acceptance.py{' --dry-run' if args.dry_run else ''}`.",
        "",
        "## Stages",
        "",
        "| stage | status | seconds | limit |",
        "| --- | --- | --- | --- |",
        *(f"| {s.name} | {s.status} | {s.seconds:.1f} | {s.limit:.0f} |" for s in stages),
        "",
        "## Figures",
        "",
        "| figure | value |",
        "| --- | --- |",
        *(f"| {name} | {value} |" for name, value in rows),
    ]
    if args.dry_run:
        lines += ["", "On a CPU the measured peak is the process's resident set (Python, torch, the libraries), so its"]
        lines += ["ratio to the estimate of the tiny model means nothing; on the GPU it is CUDA's peak allocated."]
    results = work / "RESULTS.md"
    if results.exists():
        bench = results.read_text(encoding="utf-8").split("\n", 1)[-1]
        lines += ["", "## Microbenchmarks (run_gpu_bench.py, shortened)", "", bench.replace("\n## ", "\n### ")]
    for stage in stages:
        if stage.status not in ("ok", "not run"):
            lines += ["", f"## {stage.name}: last output", "", "```", stage.tail.strip(), "```"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--build-base":
        build_base(Path(sys.argv[2]), "--dry-run" in sys.argv)
        sys.exit(0)
    sys.exit(main())
