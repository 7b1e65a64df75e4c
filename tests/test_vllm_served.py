"""The same weights served by a real vLLM server and loaded in-process give the same scores.

The server (tests/vllm_server.py) serves tiny-hd32 in float32 from the vLLM CPU venv; the in-process side
loads the same folder with transformers. Locally these skip without that venv (the skip says how to build
it); under CI they run.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tunebench.engines.openai_api import OpenAIEngine
from tunebench.suites import load_probes, load_questions

pytest_plugins = ["vllm_server"]
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "eval_suites" / "benchmark_100" / "questions.jsonl"
PROBES = ROOT / "eval_suites" / "domain_probes" / "probes.jsonl"
NEAR_TIE = 1e-3  # a greedy divergence is allowed only where the in-process top-2 log-probs are this close
MAX_NEW_TOKENS = 32


@pytest.fixture(scope="module")
def served(vllm_server):
    engine = OpenAIEngine(vllm_server.url, vllm_server.served_name, token_ids=True, dtype="float32")
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def local(vllm_server):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(vllm_server.folder, dtype="float32").eval()
    return model, AutoTokenizer.from_pretrained(vllm_server.folder)


def test_multiple_choice_served_equals_in_process_on_all_100_questions(served, local):
    from tunebench.engines.hf_choice import score_questions

    questions = load_questions(QUESTIONS)
    assert len(questions) == 100
    theirs = served.score_choices(questions)
    ours = score_questions(*local, questions, batch_size=16)
    worst = 0.0
    for a, b in zip(ours, theirs, strict=True):
        assert b.error is None, b.error
        assert (b.chosen, b.chosen_norm) == (a.chosen, a.chosen_norm), a.id
        worst = max(worst, *(abs(x - y) for x, y in zip(a.loglikelihoods, b.loglikelihoods, strict=True)))
    print(f"served vs in-process: 100/100 same choice, largest log-likelihood difference {worst:.2e}")
    assert worst < 1e-3


def test_greedy_probe_replies_match_token_by_token_except_at_near_ties(served, local):
    import torch

    from tunebench.engines.hf_generation import timed_generate

    model, tokenizer = local
    report, bad = [], []
    for probe in load_probes(PROBES):
        messages = [{"role": "user", "content": probe.prompt}]
        ours = list(timed_generate(model, tokenizer, messages, MAX_NEW_TOKENS, repeats=1, warmup=0).token_ids)
        theirs = list(served.generate(messages, MAX_NEW_TOKENS, repeats=1, warmup=0).token_ids)
        same = next((i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b), None)
        if same is None and len(ours) != len(theirs):
            same = min(len(ours), len(theirs))
        if same is None:
            report.append(f"{probe.id}: {len(ours)}/{len(ours)} tokens match")
            continue
        prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt")
        prompt = prompt["input_ids"] if hasattr(prompt, "keys") else prompt
        ids = torch.tensor([prompt[0].tolist() + ours[:same]])
        with torch.inference_mode():
            top2 = torch.log_softmax(model(ids).logits[0, -1].float(), -1).topk(2).values
        gap = float(top2[0] - top2[1])
        report.append(f"{probe.id}: {same}/{len(ours)} tokens match; first divergence at {same}, top-2 gap {gap:.2e}")
        if gap >= NEAR_TIE:
            bad.append(report[-1])
    print("\n".join(report))
    assert not bad, "divergences not at near-ties:\n" + "\n".join(bad)


def test_lm_eval_generate_until_served_equals_in_process_except_at_near_ties(served, local):
    """lm-eval's generation requests (issue 27) on the openai engine: the same greedy text as the hf engine's
    generate_until on the same weights, each cut at the task's stop string."""
    import torch

    from tunebench.engines.hf_until import generate_until
    from tunebench.scoring.choice import format_prompt

    model, tokenizer = local
    contexts = [format_prompt(q) for q in load_questions(QUESTIONS)[:8]]
    requests = [
        (context, {"until": ["\n\n", "Question:"], "max_gen_toks": 16, "do_sample": False}) for context in contexts
    ]
    ours = generate_until(model, tokenizer, requests, batch_size=4)
    theirs = served.generate_until(requests)
    assert len(theirs) == len(ours) == len(requests)
    bad, same = [], 0
    for context, a, b in zip(contexts, ours, theirs, strict=True):
        assert "\n\n" not in b and "Question:" not in b  # cut at the stop strings, as lm-eval cuts
        if a == b:
            same += 1
            continue
        ids_a, ids_b = tokenizer.encode(context + a), tokenizer.encode(context + b)
        first = next(i for i, (x, y) in enumerate(zip([*ids_a, -1], [*ids_b, -2], strict=False)) if x != y)
        with torch.inference_mode():
            top2 = torch.log_softmax(model(torch.tensor([ids_a[:first]])).logits[0, -1].float(), -1).topk(2).values
        if float(top2[0] - top2[1]) >= NEAR_TIE:
            bad.append(f"{a!r} vs {b!r}: top-2 gap {float(top2[0] - top2[1]):.2e}")
    print(f"generate_until served vs in-process: {same}/{len(requests)} identical")
    assert not bad, "divergences not at near-ties:\n" + "\n".join(bad)


def _config(tmp_path: Path, server, gate: str = "") -> Path:
    config = tmp_path / "tunebench.toml"
    config.write_text(
        f'home = "{tmp_path / "home"}"\nlog = "{tmp_path / "LOG.md"}"\n'
        "[eval]\nrepeats = 1\nmax_new_tokens = 16\n"
        f'[models.served]\nendpoint = "{server.url}"\nserved_name = "{server.served_name}"\nstatus = "production"\n'
        + (f"[gate]\n{gate}\n" if gate else ""),
        encoding="utf-8",
    )
    return config


def _run(pytester, history: Path, *args: str):
    return pytester.runpytest_inprocess(
        str(ROOT / "eval_suites"), f"--rootdir={ROOT}", "--history", str(history), "-p", "no:cacheprovider", *args
    )


def _records(history: Path) -> list[dict]:
    runs = [json.loads(p.read_text()) for p in history.rglob("*.json")]
    return sorted((r for r in runs if r.get("kind") == "eval"), key=lambda r: r["finished_at"])


def test_pytest_eval_suites_against_the_server_records_and_gates(vllm_server, tmp_path, pytester, monkeypatch):
    monkeypatch.setenv("TUNEBENCH_CONFIG", str(_config(tmp_path, vllm_server)))
    history = tmp_path / "history"
    args = ("--engine", "openai", "--endpoint", vllm_server.url, "--model", vllm_server.served_name)
    result = _run(pytester, history, *args)
    assert result.ret == 0, result.stdout.str()[-3000:]
    [record] = _records(history)
    assert record["status"] == "complete" and len(record["questions"]) == 100 and len(record["probes"]) == 10
    engine = record["model"]["engine"]
    assert (engine["engine"], engine["engine_version"], engine["model_id"]) == (
        "openai",
        vllm_server.version,
        vllm_server.served_name,
    )
    assert record["gate"] is not None and record["model"]["name"] == vllm_server.served_name
    # What was served, as the server says: the weights it loaded (a folder named by its content's hash; a
    # server started elsewhere has its own cache), and (dev mode's /server_info) its dtype.
    assert record["model"]["base"] == engine["root"] and Path(engine["root"]).name == vllm_server.folder.name
    assert record["model"]["dtype"] == engine["dtype"] == "float32"
    # The server is ours (loopback, its root a folder here): the decode floor is recorded, on this CPU.
    floor = record["model"]["decode_floor"]
    assert floor["weight_bytes"] > 0 and floor["peak"]["source"] == "measured", floor


def test_the_served_floor_counts_the_weights_the_server_decodes_with(served, local):
    """The real server's root, read here: the same bytes as the in-process float32 parameters (tied weights once)."""
    model, _ = local
    floor = served.decode_floor()
    assert floor["weight_bytes"] == sum(p.numel() * p.element_size() for p in model.parameters()), floor


def test_concurrency_records_load_figures_and_is_never_gated_against_another_concurrency(
    vllm_server, tmp_path, pytester, monkeypatch, capsys
):
    """A registry entry that is only an endpoint; runs at concurrency 1, 4, then 1 again."""
    # This test is about which run is a baseline, not speed: a CPU server's time per token varies by more than
    # the gate's 25% between two runs of the same model (seen in CI), so latency regressions are not judged here.
    config = _config(tmp_path, vllm_server, gate="latency_metrics = []")
    monkeypatch.setenv("TUNEBENCH_CONFIG", str(config))
    history = tmp_path / "history"
    # Small complete suites (a -k subset is never a baseline): 10 questions, 2 probes.
    suite, probes = tmp_path / "ten.jsonl", tmp_path / "two.jsonl"
    suite.write_text("\n".join(QUESTIONS.read_text().splitlines()[:10]) + "\n")
    probes.write_text("\n".join(PROBES.read_text().splitlines()[:2]) + "\n")
    outputs = []
    for concurrency in (1, 4, 1):
        args = ("--model", "served", "--concurrency", str(concurrency), "--suite", str(suite), "--probes", str(probes))
        result = _run(pytester, history, *args)
        assert result.ret == 0, result.stdout.str()[-3000:]
        outputs.append(result.stdout.str())
    first, loaded, again = _records(history)
    assert "load" not in first and first["model"]["engine"]["concurrency"] == 1
    load = loaded["load"]
    assert load["concurrency"] == 4 and load["requests"] >= 16 and load["output_tokens_per_s"] > 0
    for figure in ("ttft_s", "tpot_s", "itl_s", "e2e_s"):
        assert 0 < load[figure]["p50"] <= load[figure]["p90"] <= load[figure]["p99"], figure
    assert loaded["baseline"] is None  # the concurrency-1 run is not its baseline
    assert again["baseline"]["run_id"] == first["run_id"]
    # Shown wherever latency is (issue 26): the pytest summary and history show, ITL measured from the stream.
    from tunebench.cli import main
    from tunebench.history.typed import EvalRecordData
    from tunebench.report.load_figures import headline, load_table

    figures = EvalRecordData.from_dict(loaded).load
    assert headline(figures) in outputs[1] and "load at concurrency" not in outputs[0]
    capsys.readouterr()
    assert main(["history", "show", loaded["run_id"], "--history", str(history)]) == 0
    shown = capsys.readouterr().out
    assert load_table(figures) in shown and re.search(r"ITL \(inter-token latency\)\s+[\d.]+ ms", shown)
