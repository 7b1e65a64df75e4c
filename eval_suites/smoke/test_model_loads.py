"""Placeholder suite until the benchmark and probes land: the model loads and generates."""

import torch


def test_model_generates_tokens(tb_model, record):
    tokenizer, model = tb_model.tokenizer, tb_model.model
    messages = [{"role": "user", "content": "What is a Roth IRA?"}]
    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                           return_dict=True).to(model.device)
    with torch.inference_mode():
        output = model.generate(**inputs, max_new_tokens=8, do_sample=False)
    new_tokens = output.shape[1] - inputs["input_ids"].shape[1]
    assert 1 <= new_tokens <= 8
    record(model=tb_model.name, new_tokens=int(new_tokens))
