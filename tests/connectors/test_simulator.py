"""The simulator: its rule-based model directly, and its protocol over real sockets."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from connectors.deepseek import ChatRequest, DeepSeekClient
from connectors.simulator import (
    CONTEXT_TOKENS,
    SimulatorConfig,
    SimulatorHandle,
    running_simulator,
)
from connectors.simulator_model import (
    PrefixCache,
    answer,
    context_length_message,
    parse_documents,
    sentences,
)
from nightshift.errors import ConfigError
from tests.connectors.conftest import TEST_API_KEY

MakeClient = Callable[..., DeepSeekClient]
AUTH = {"Authorization": f"Bearer {TEST_API_KEY}"}

CONTRACT_PAGE_1 = """MASTER SERVICES AGREEMENT

This Agreement is made between Acme Corp. and Widget LLC: effective on signature.
The parties agree as follows; each party
shall be governed by the laws of the State of Delaware. Nothing else applies."""
CONTRACT_PAGE_2 = """Either party may terminate this Agreement on 30 days notice.
This Agreement is also governed by the laws of England."""
NOTES = """Meeting notes

The liability cap is twelve months of fees. Renewal is automatic"""
CODE = [
    "import os",
    'password = "hunter2"',
    "",
    "def connect():",
    '    return db(password = "x")',
]
FIELDS = [
    {
        "name": "governing_law",
        "description": "Which law governs",
        "hints": ["governed by", "laws of the state"],
    },
    {"name": "liability_cap", "description": "The cap", "hints": ["LIABILITY CAP"]},
    {
        "name": "hardcoded_secret",
        "description": "A secret in source code",
        "hints": ["password ="],
        "severity": "high",
        "cwe": "CWE-798",
    },
]


def extraction_prompt(fields: list[dict[str, object]] = FIELDS) -> str:
    code = "\n".join(f"{n}| {line}" for n, line in enumerate(CODE, start=1))
    return (
        '<document id="D1" name="contracts/msa.pdf" kind="pdf" window="1/1">\n'
        f'<page n="1">\n{CONTRACT_PAGE_1}\n</page>\n<page n="2">\n{CONTRACT_PAGE_2}\n</page>\n'
        '</document id="D1">\n'
        f'<document id="D2" name="src/app.py" kind="code">\n{code}\n</document id="D2">\n'
        f'<document id="D3" name="notes.txt" kind="text">\n{NOTES}\n</document id="D3">\n\n'
        f"<fields>\n{json.dumps(fields)}\n</fields>"
    )


def messages(prompt: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": "Extract the fields. Answer in JSON."},
        {"role": "user", "content": prompt},
    ]


# -- the rule-based model ------------------------------------------------------------------


def test_sentences_are_verbatim_and_split_at_punctuation_and_blank_lines() -> None:
    found = sentences(CONTRACT_PAGE_1)
    assert found[0] == "MASTER SERVICES AGREEMENT"
    assert found[1] == "This Agreement is made between Acme Corp."
    assert "effective on signature." in found
    assert found[-2] == ("each party\nshall be governed by the laws of the State of Delaware.")
    assert all(s in CONTRACT_PAGE_1 for s in found)


def test_documents_are_parsed_by_kind() -> None:
    pdf, code, text = parse_documents(extraction_prompt())
    assert (pdf.doc_id, pdf.kind, pdf.attrs["window"]) == ("D1", "pdf", "1/1")
    assert pdf.pages == (CONTRACT_PAGE_1, CONTRACT_PAGE_2)
    assert code.lines[1] == (2, 'password = "hunter2"')
    assert code.lines[2] == (3, "")
    assert text.text == NOTES


def test_rule_based_extraction() -> None:
    said = answer(messages(extraction_prompt()), json_mode=True, invent=set())
    got = json.loads(said.content)["extractions"]
    assert got == [
        {
            "doc_id": "D1",
            "field": "governing_law",
            "value": "each party shall be governed by the laws of the State of Delaware.",
            "quote": "each party\nshall be governed by the laws of the State of Delaware.",
        },
        {
            "doc_id": "D3",
            "field": "liability_cap",
            "value": "The liability cap is twelve months of fees.",
            "quote": "The liability cap is twelve months of fees.",
        },
        {
            "doc_id": "D2",
            "field": "hardcoded_secret",
            "value": {
                "severity": "high",
                "cwe": "CWE-798",
                "explanation": "A secret in source code",
            },
            "quote": 'password = "hunter2"',
            "line": 2,
        },
        {
            "doc_id": "D2",
            "field": "hardcoded_secret",
            "value": {
                "severity": "high",
                "cwe": "CWE-798",
                "explanation": "A secret in source code",
            },
            "quote": 'return db(password = "x")',
            "line": 5,
        },
    ]
    assert said.reasoning.startswith("Simulator reasoning")


def test_code_hits_are_capped_per_field_and_document() -> None:
    lines = "\n".join(f'{n}| key{n} = "password = {n}"' for n in range(1, 9))
    prompt = (
        f'<document id="C" name="k.py" kind="code">\n{lines}\n</document id="C">\n'
        '<fields>\n[{"name": "secret", "hints": ["password ="]}]\n</fields>'
    )
    got = json.loads(answer(messages(prompt), json_mode=True, invent=set()).content)
    assert [e["line"] for e in got["extractions"]] == [1, 2, 3, 4, 5]


def test_invented_quotes_appear_nowhere_in_the_source() -> None:
    said = answer(messages(extraction_prompt()), json_mode=True, invent={"governing_law"})
    by_field = {e["field"]: e for e in json.loads(said.content)["extractions"]}
    invented = by_field["governing_law"]["quote"]
    assert invented == "The simulator invented this sentence for governing_law."
    assert invented not in extraction_prompt()
    assert by_field["liability_cap"]["quote"] in NOTES


def test_no_fields_block_gives_a_short_answer() -> None:
    plain = [{"role": "user", "content": "hello"}]
    assert answer(plain, json_mode=True, invent=set()).content == "{}"
    assert answer(plain, json_mode=False, invent=set()).content.startswith("Simulator answer")


def test_prefix_cache_counts_whole_64_token_units() -> None:
    cache = PrefixCache()
    first = list(range(200))
    assert cache.hit_tokens("m", first) == 0
    assert cache.hit_tokens("m", [*first[:150], 9999, 9999]) == 128
    assert cache.hit_tokens("other-model", first) == 0
    assert cache.hit_tokens("m", [7, *first]) == 0  # a different start shares nothing


def test_the_context_error_names_the_v4_context() -> None:
    assert CONTEXT_TOKENS == 1_048_576
    assert "maximum context length is 1048576 tokens" in context_length_message(
        CONTEXT_TOKENS, 1_000_000, 65_536
    )


# -- over sockets ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_flash_invents_and_pro_answers_correctly(make_client: MakeClient) -> None:
    config = SimulatorConfig(invent_quotes=("*",))
    with running_simulator(config) as sim:
        async with make_client(base_url=sim.base_url) as client:
            results = {}
            for model in ("deepseek-v4-flash", "deepseek-v4-pro"):
                request = ChatRequest(model, messages(extraction_prompt()), json_mode=True)
                results[model] = json.loads((await client.chat(request)).content)
    prompt = extraction_prompt()
    flash = [e["quote"] for e in results["deepseek-v4-flash"]["extractions"]]
    pro = [e["quote"] for e in results["deepseek-v4-pro"]["extractions"]]
    assert flash and all(q not in prompt for q in flash)
    assert pro and all(q in prompt for q in pro)


@pytest.mark.anyio
async def test_thinking_and_truncation(simulator: SimulatorHandle, make_client: MakeClient) -> None:
    prompt = messages(extraction_prompt())
    async with make_client() as client:
        thinking = await client.chat(ChatRequest("deepseek-v4-pro", prompt, json_mode=True))
        plain = await client.chat(ChatRequest("deepseek-v4-pro", prompt, thinking=False))
        short = await client.chat(ChatRequest("deepseek-v4-pro", prompt, max_tokens=50))
    assert thinking.reasoning_content and thinking.usage.reasoning_tokens > 0
    assert plain.reasoning_content is None and plain.usage.reasoning_tokens == 0
    assert thinking.usage.completion_tokens > thinking.usage.reasoning_tokens
    assert short.finish_reason == "length" and short.usage.completion_tokens <= 50


def test_wrong_key_gets_deepseeks_401_shape() -> None:
    with running_simulator(SimulatorConfig(expected_api_key="sk-right")) as sim:
        wrong = httpx.post(f"{sim.base_url}/chat/completions", json={}, headers=AUTH)
        missing = httpx.get(f"{sim.base_url}/v1/models")
        right = httpx.get(f"{sim.base_url}/v1/models", headers={"Authorization": "Bearer sk-right"})
    assert wrong.status_code == 401 and missing.status_code == 401
    error = wrong.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert "simulator" in error["message"] and TEST_API_KEY not in error["message"]
    assert right.status_code == 200


def test_routes_and_served_models() -> None:
    config = SimulatorConfig(flavour="vllm", models=("my-flash",))
    with running_simulator(config) as sim:
        health = httpx.get(f"{sim.base_url}/health")
        models = httpx.get(f"{sim.base_url}/v1/models", headers=AUTH).json()
        missing = httpx.get(f"{sim.base_url}/nothing", headers=AUTH)
    assert health.status_code == 200
    assert [m["id"] for m in models["data"]] == ["my-flash"]
    assert missing.status_code == 404


def test_stats_tell_another_process_what_the_simulator_saw() -> None:
    body = {"model": "deepseek-v4-flash", "messages": [{"role": "user", "content": "hi"}]}
    with running_simulator(SimulatorConfig(fault_sequence=["429"])) as sim:
        before = httpx.get(f"{sim.base_url}/stats").json()
        for _ in range(2):
            httpx.post(f"{sim.base_url}/chat/completions", json=body, headers=AUTH)
        after = httpx.get(f"{sim.base_url}/stats").json()
    assert before == {"chat_requests": 0, "answered": 0, "in_flight": {}, "max_in_flight": {}}
    assert after["chat_requests"] == 2 and after["answered"] == 1  # the 429 is no answer
    assert after["max_in_flight"] == {"deepseek-v4-flash": 1}


def test_keepalive_blank_lines_come_before_the_body() -> None:
    config = SimulatorConfig(fault_sequence=["keepalive"], keepalive_lines=4)
    body = {"model": "deepseek-v4-flash", "messages": [{"role": "user", "content": "hi"}]}
    with running_simulator(config) as sim:
        raw = httpx.post(f"{sim.base_url}/chat/completions", json=body, headers=AUTH).content
    assert raw.startswith(b"\n\n\n\n{")
    assert json.loads(raw)["choices"][0]["message"]["content"]


@pytest.mark.parametrize(
    ("fault", "broken"),
    [
        ("malformed_content", lambda a: a["choices"][0]["message"]["content"] == 12345),
        ("malformed_choices", lambda a: isinstance(a["choices"], dict)),
        ("null_message", lambda a: a["choices"][0]["message"] is None),
        ("malformed_usage", lambda a: a["usage"]["prompt_tokens"].isdigit()),
    ],
)
def test_malformed_faults_break_one_part_of_a_200_answer(
    fault: str, broken: Callable[[dict[str, Any]], bool]
) -> None:
    body = {"model": "deepseek-v4-flash", "messages": [{"role": "user", "content": "hi"}]}
    with running_simulator(SimulatorConfig(fault_sequence=[fault])) as sim:
        response = httpx.post(f"{sim.base_url}/chat/completions", json=body, headers=AUTH)
        entry = sim.stats.log[0]
    got = response.json()
    assert response.status_code == 200 and broken(got)
    assert set(got) >= {"id", "model", "choices", "usage"}  # the rest is a real answer
    assert (entry.fault, entry.status, entry.answered) == (fault, 200, False)


def test_not_json_is_a_proxy_page_that_echoes_the_key() -> None:
    body = {"model": "deepseek-v4-flash", "messages": [{"role": "user", "content": "hi"}]}
    with running_simulator(SimulatorConfig(fault_sequence=["not_json"])) as sim:
        response = httpx.post(f"{sim.base_url}/chat/completions", json=body, headers=AUTH)
    assert response.status_code == 200 and response.text.startswith("<html>")
    assert TEST_API_KEY in response.text  # so that the client's redaction is put to the test


def test_keepalive_forever_sends_blank_lines_and_never_a_body() -> None:
    body = {"model": "deepseek-v4-flash", "messages": [{"role": "user", "content": "hi"}]}
    config = SimulatorConfig(fault_sequence=["keepalive_forever"], keepalive_interval=0.01)
    with running_simulator(config) as sim:
        with httpx.stream(
            "POST", f"{sim.base_url}/chat/completions", json=body, headers=AUTH, timeout=2.0
        ) as response:
            received = b""
            for chunk in response.iter_raw():
                received += chunk
                if len(received) >= 20:
                    break
        assert response.status_code == 200 and received == b"\n" * len(received)
        deadline = time.monotonic() + 5
        while sim.stats.in_flight["deepseek-v4-flash"] and time.monotonic() < deadline:
            time.sleep(0.02)
        # Once the client left, the endless answer ended and was logged as not answered.
        assert [(e.fault, e.answered) for e in sim.stats.log] == [("keepalive_forever", False)]


def test_fault_rates_are_deterministic_for_a_seed() -> None:
    body = {"model": "deepseek-v4-flash", "messages": [{"role": "user", "content": "hi"}]}
    runs = []
    for _ in range(2):
        config = SimulatorConfig(fault_rates={"429": 0.3, "500": 0.2}, seed=3)
        with running_simulator(config) as sim, httpx.Client(headers=AUTH) as http:
            statuses = [
                http.post(f"{sim.base_url}/chat/completions", json=body).status_code
                for _ in range(30)
            ]
            runs.append((statuses, sim.stats.faults()))
    assert runs[0] == runs[1]
    assert {429, 500, 200} <= set(runs[0][0])


def test_the_simulator_binds_loopback_only() -> None:
    with pytest.raises(ConfigError, match="loopback"), running_simulator(host="0.0.0.0"):
        pass
    config = SimulatorConfig(fault_sequence=["boom"])
    with pytest.raises(ConfigError, match="unknown simulator faults"), running_simulator(config):
        pass
