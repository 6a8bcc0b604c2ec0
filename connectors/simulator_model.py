"""The simulator's "model": deterministic rules over the extraction prompt, and a prefix cache.

This is test and demo infrastructure. It reads the extraction prompt with its own regexes,
independently of the pipeline code that writes it, so a test that passes shows the two agree
on the layout rather than sharing a bug:

    <document id="ID" name="path" kind="pdf|text|markdown|code" [more attributes]>
    <page n="1">            (pdf only; text verbatim inside)
    ...
    </page>
    </document id="ID">     (the closing tag repeats the id)
    <document ... kind="code">
    1| source line         (``N| `` is a prefix, not source)
    </document id="ID">
    <fields>
    [{"name": ..., "description": ..., "hints": [...], "severity": ..., "cwe": ...}]
    </fields>

Rule: for each field, for each document in order, text and pdf documents yield the first
sentence (per page, pages in order) that contains one of the field's patterns, case-insensitively;
code documents yield every line containing one, up to ``MAX_CODE_HITS`` per field and document.
The patterns are the simulator's own (``RULES``), never the profile's hints, which are written
for real models; only a field ``RULES`` does not know falls back to the hints of the request.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connectors.deepseek_protocol import ChatRequest
from nightshift.tokenizer import load_tokenizer

MAX_CODE_HITS = 5
CACHE_UNIT = 64  # DeepSeek's context cache works in units of 64 tokens
INVENTED_QUOTE = "The simulator invented this sentence for {field}."

# The simulator's own rules: which lines or sentences answer which field. Test and demo
# infrastructure only, kept here so that no profile text is written to make it come out right
# (profiles' hints are guidance for real models). Fields not listed fall back to the hints
# of the request, for protocol tests with ad-hoc fields.
RULES: dict[str, tuple[str, ...]] = {
    # legal
    "parties": (
        "by and between",
        "entered into by",
        "between",
    ),
    "agreement_date": (
        "dated as of",
        "made and entered into as of",
        "is made as of",
        "entered into on",
    ),
    "effective_date": (
        "effective date",
        "shall become effective",
        "effective as of",
    ),
    "expiration_date": (
        "initial term",
        "shall expire",
        "shall remain in effect until",
        "shall continue until",
    ),
    "renewal_term": (
        "automatically renew",
        "successive",
        "renewal term",
        "shall renew",
    ),
    "notice_period_to_terminate_renewal": (
        "notice of non-renewal",
        "written notice of its intent not to renew",
        "not to renew",
    ),
    "governing_law": (
        "governed by",
        "construed in accordance with the laws",
        "laws of the state of",
    ),
    "most_favored_nation": (
        "most favored",
        "most favoured",
        "no less favorable",
        "best pricing",
    ),
    "non_compete": (
        "shall not compete",
        "non-compete",
        "compete with",
        "competing product",
    ),
    "exclusivity": (
        "exclusive",
        "exclusively",
        "sole and exclusive",
    ),
    "termination_for_convenience": (
        "for convenience",
        "without cause",
        "at any time upon",
    ),
    "change_of_control": (
        "change of control",
        "change in control",
        "merger, acquisition",
        "acquires",
    ),
    "anti_assignment": (
        "shall not assign",
        "may not assign",
        "assignment",
        "without the prior written consent",
    ),
    "ip_ownership_assignment": (
        "shall be the sole and exclusive property",
        "hereby assigns",
        "work made for hire",
        "shall own all",
    ),
    "license_grant": (
        "hereby grants",
        "grants to",
        "license to use",
        "non-exclusive license",
        "exclusive license",
    ),
    "audit_rights": (
        "audit",
        "inspect the books",
        "examine the records",
    ),
    "uncapped_liability": (
        "nothing in this agreement limits",
        "nothing in the agreement limits",
        "nothing in this agreement shall limit",
        "limits or excludes either party's liability",
    ),
    "cap_on_liability": (
        "aggregate liability",
        "in no event shall",
        "shall not exceed",
        "limitation of liability",
    ),
    "liquidated_damages": (
        "liquidated damages",
        "termination fee",
        "service credit",
    ),
    "indemnification": (
        "indemnify",
        "hold harmless",
        "defend",
    ),
    "warranty_duration": (
        "warrants",
        "warranty period",
        "warranty shall",
        "for a period of",
    ),
    "insurance": (
        "insurance",
        "insured",
        "coverage of not less than",
    ),
    "confidentiality": (
        "confidential information",
        "confidentiality",
        "shall not disclose",
    ),
    "post_termination_services": (
        "upon termination",
        "following termination",
        "transition assistance",
        "shall survive",
    ),
    "minimum_commitment": (
        "minimum purchase",
        "minimum order",
        "minimum annual",
        "not less than",
    ),
    # codebase
    "sql_injection": (
        'execute(f"',
        "execute(f'",
        '" + ',
        "% (",
        ".format(",
    ),
    "hardcoded_secret": (
        "secret_key =",
        "password =",
        "api_key =",
        "token =",
    ),
    "insecure_deserialization": (
        "pickle.loads(",
        "pickle.load(",
        "marshal.loads(",
    ),
    "command_injection": (
        "shell=True",
        "os.system(",
    ),
    "weak_hash": (
        "hashlib.md5(",
        "hashlib.sha1(",
    ),
    "path_traversal": (
        "send_file(os.path.join(",
        "open(os.path.join(",
    ),
    "unsafe_yaml": (
        "yaml.load(",
        "yaml.unsafe_load(",
    ),
    "swallowed_exception": (
        "except Exception:",
        "except:",
    ),
    "off_by_one": (
        "len(items) + 1",
        "<= len(",
        "range(1, len(",
    ),
    "missing_authorization": (
        "# no auth",
        "def delete_invoice",
        "def admin_",
    ),
}

# Attributes are matched one quoted value at a time, so a ">" inside a file name is harmless.
# A document ends at the closing tag that repeats its id (see tasks/prompt.py).
_DOCUMENT = re.compile(
    r'<document id="([^"]*)"((?:\s+\w+="[^"]*")*)\s*>\n(.*?)\n?</document id="\1">', re.DOTALL
)
_ATTR = re.compile(r'(\w+)="([^"]*)"')
_PAGE = re.compile(r'<page n="(\d+)">\n(.*?)\n?</page>', re.DOTALL)
_CODE_LINE = re.compile(r"^(\d+)\| ?(.*)$")
_FIELDS = re.compile(r"<fields>\s*(.*?)\s*</fields>", re.DOTALL)
_SCHEMA = re.compile(r"<field_schema>\s*(.*?)\s*</field_schema>", re.DOTALL)
# A sentence ends at . ; or : followed by whitespace, or at a blank line.
_SENTENCE_END = re.compile(r"(?<=[.;:])\s+|\n[ \t]*\n\s*")


@dataclass(frozen=True)
class SimDocument:
    doc_id: str
    kind: str
    attrs: Mapping[str, str]
    pages: tuple[str, ...] = ()  # pdf
    text: str = ""  # text and markdown
    lines: tuple[tuple[int, str], ...] = ()  # code: (line number, source text)


@dataclass(frozen=True)
class SimAnswer:
    content: str
    reasoning: str
    extractions: int


def render_prompt(messages: Iterable[Mapping[str, Any]], prefix: str | None = None) -> str:
    """The text whose tokens the simulator counts: a role tag and the content of each message,
    and the assistant's prefix when the request continues one."""
    text = "".join(f"<|{m.get('role', '')}|>{_content(m)}\n" for m in messages)
    return text if prefix is None else f"{text}<|assistant|>{prefix}"


def _content(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def parse_documents(text: str) -> list[SimDocument]:
    documents = []
    for match in _DOCUMENT.finditer(text):
        attrs = {"id": match.group(1), **dict(_ATTR.findall(match.group(2)))}
        body = match.group(3)
        kind = attrs.get("kind", "text")
        doc_id = attrs.get("id", "")
        if kind == "pdf":
            pages = tuple(page for _, page in _PAGE.findall(body))
            documents.append(SimDocument(doc_id, kind, attrs, pages=pages))
        elif kind == "code":
            lines = []
            for raw in body.split("\n"):
                line = _CODE_LINE.match(raw)
                if line:
                    lines.append((int(line.group(1)), line.group(2)))
            documents.append(SimDocument(doc_id, kind, attrs, lines=tuple(lines)))
        else:
            documents.append(SimDocument(doc_id, kind, attrs, text=body))
    return documents


def parse_fields(text: str) -> list[dict[str, Any]] | None:
    """The fields of the prompt, or None when it has no (readable) fields block."""
    # The request's own fields block follows the last document; one inside a document is text.
    last_document = text.rfind("</document id=")
    match = _FIELDS.search(text, max(last_document, 0))
    if not match:
        return None
    try:
        fields = json.loads(match.group(1))
    except ValueError:
        return None
    if not isinstance(fields, list):
        return None
    # A field is asked by name (its definition is in the system message's schema) or in full.
    named = [{"name": f} if isinstance(f, str) else f for f in fields]
    return [f for f in named if isinstance(f, dict) and f.get("name")]


def parse_schema(text: str) -> dict[str, dict[str, Any]]:
    """The field definitions of a system message's ``<field_schema>`` block, by name."""
    match = _SCHEMA.search(text)
    try:
        items = json.loads(match.group(1)) if match else []
    except ValueError:
        return {}
    if not isinstance(items, list):
        return {}
    return {str(f["name"]): f for f in items if isinstance(f, dict) and f.get("name")}


def asked_fields(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]] | None:
    """The fields a request asks, each with its definition when the system message has one."""
    user_text = "\n".join(_content(m) for m in messages if m.get("role") == "user")
    asked = parse_fields(user_text)
    if asked is None:
        return None
    system = "\n".join(_content(m) for m in messages if m.get("role") == "system")
    schema = parse_schema(system)
    return [schema.get(str(f["name"]), f) for f in asked]


def sentences(text: str) -> list[str]:
    """Sentences of ``text``, each a verbatim substring (internal newlines kept)."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def _hints(field: Mapping[str, Any]) -> list[str]:
    rules = RULES.get(str(field.get("name")))
    hints = rules if rules is not None else field.get("hints") or []
    return [h.lower() for h in hints if isinstance(h, str) and h.strip()]


def _first_sentence(texts: Sequence[str], hints: list[str]) -> str | None:
    for text in texts:
        for sentence in sentences(text):
            lowered = sentence.lower()
            if any(h in lowered for h in hints):
                return sentence
    return None


def extract(
    documents: Sequence[SimDocument], fields: Sequence[Mapping[str, Any]], invent: set[str]
) -> list[dict[str, Any]]:
    """The rule-based answer. ``invent`` holds field names whose quotes are made up ("*": all)."""
    out: list[dict[str, Any]] = []
    for field in fields:
        name = str(field["name"])
        hints = _hints(field)
        fake = "*" in invent or name in invent
        for doc in documents:
            if not hints:
                continue
            if doc.kind == "code":
                value = {
                    "severity": field.get("severity"),
                    "cwe": field.get("cwe"),
                    "explanation": field.get("description"),
                }
                hits = [(n, t) for n, t in doc.lines if any(h in t.lower() for h in hints)]
                for number, line in hits[:MAX_CODE_HITS]:
                    quote = INVENTED_QUOTE.format(field=name) if fake else line.strip()
                    out.append(
                        {
                            "doc_id": doc.doc_id,
                            "field": name,
                            "value": value,
                            "quote": quote,
                            "line": number,
                        }
                    )
                continue
            texts = doc.pages if doc.kind == "pdf" else (doc.text,)
            sentence = _first_sentence(texts, hints)
            if sentence is None:
                continue
            quote = INVENTED_QUOTE.format(field=name) if fake else sentence
            out.append(
                {
                    "doc_id": doc.doc_id,
                    "field": name,
                    "value": " ".join(quote.split()),
                    "quote": quote,
                }
            )
    return out


def answer(
    messages: Sequence[Mapping[str, Any]], *, json_mode: bool, invent: set[str]
) -> SimAnswer:
    """What the simulated model says to ``messages``."""
    user_text = "\n".join(_content(m) for m in messages if m.get("role") == "user")
    fields = asked_fields(messages)
    if fields is None:
        content = "{}" if json_mode else f"Simulator answer to {len(messages)} message(s)."
        return SimAnswer(content, "Simulator reasoning: no fields block, nothing to extract.", 0)
    documents = parse_documents(user_text)
    extractions = extract(documents, fields, invent)
    answer = {"extractions": extractions, "absent": absent(documents, fields, extractions)}
    content = json.dumps(answer, ensure_ascii=False)
    reasoning = (
        f"Simulator reasoning: read {len(documents)} document(s) for {len(fields)} field(s); "
        f"found {len(extractions)} extraction(s) by matching hints."
    )
    return SimAnswer(content, reasoning, len(extractions))


def absent(
    documents: Sequence[SimDocument],
    fields: Sequence[Mapping[str, Any]],
    extractions: Sequence[Mapping[str, Any]],
) -> list[dict[str, str]]:
    """Every asked field of every document with no extraction, declared absent."""
    found = {(e["doc_id"], e["field"]) for e in extractions}
    return [
        {"doc_id": document.doc_id, "field": str(f["name"])}
        for document in documents
        for f in fields
        if (document.doc_id, f["name"]) not in found
    ]


class PrefixCache:
    """Which prompt prefixes were seen, in ``CACHE_UNIT``-token units, per model.

    Each unit is keyed by a hash chained over all units before it, so a hit on unit k means the
    whole prefix up to k matched. Oldest entries are dropped past ``max_units``.
    """

    def __init__(self, unit: int = CACHE_UNIT, max_units: int = 4_000_000) -> None:
        self.unit = unit
        self.max_units = max_units
        self._units: dict[int, None] = {}

    def hit_tokens(self, model: str, ids: Sequence[int]) -> int:
        """Tokens of ``ids`` served from cache; remembers every unit of ``ids`` afterwards."""
        chained = hash(model)
        hit = 0
        matching = True
        for k in range(len(ids) // self.unit):
            chained = hash((chained, tuple(ids[k * self.unit : (k + 1) * self.unit])))
            if matching and chained in self._units:
                hit = (k + 1) * self.unit
                continue
            matching = False
            self._units[chained] = None
        while len(self._units) > self.max_units:
            del self._units[next(iter(self._units))]
        return hit

    def clear(self) -> None:
        self._units.clear()


# -- the wire shapes of the simulated answers -------------------------------------------------

MAX_OUTPUT_TOKENS = 393_216


def encode(text: str) -> list[int]:
    return load_tokenizer().encode(text, add_special_tokens=False).ids


def _decode_prefix(text: str, tokens: int) -> str:
    ids = encode(text)
    return text if len(ids) <= tokens else load_tokenizer().decode(ids[:tokens])


def fit(content: str, reasoning: str | None, max_tokens: int) -> tuple[str, str | None, str]:
    """Cut reasoning, then content, to ``max_tokens`` (which covers both), as a model stops."""
    budget = max_tokens
    if reasoning:
        used = len(encode(reasoning))
        if used >= budget:
            return "", _decode_prefix(reasoning, budget), "length"
        budget -= used
    if len(encode(content)) > budget:
        return _decode_prefix(content, budget), reasoning, "length"
    return content, reasoning, "stop"


def error_body(message: str, kind: str) -> bytes:
    """DeepSeek's error shape: ``{"error": {"message", "type", "param", "code"}}``."""
    error = {"message": message, "type": kind, "param": None, "code": kind}
    return json.dumps({"error": error}).encode()


def context_length_message(context: int, prompt_tokens: int, max_tokens: int) -> str:
    # Worded as DeepSeek's own 400 answer (seen in public issue reports).
    return (
        f"This model's maximum context length is {context} tokens. However, you requested "
        f"{prompt_tokens + max_tokens} tokens ({prompt_tokens} in the messages, {max_tokens} in "
        "the completion). Please reduce the length of the messages or completion. (simulator)"
    )


def parse_chat_body(
    body: dict[str, Any], *, flavour: str, served: Sequence[str], beta: bool = False
) -> tuple[tuple[int, str] | None, ChatRequest | None]:
    """The ``ChatRequest`` a body asks for, or the (status, message) that rejects it.

    A last assistant message marked ``prefix`` (DeepSeek, beta endpoint only) or a body with
    ``continue_final_message`` (vLLM) asks the model to continue that message.
    """
    model = body.get("model")
    messages = body.get("messages")
    if model not in served:
        return (400, "Model Not Exist"), None
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        return (400, "messages must be a list of message objects"), None
    if not messages:
        return (400, "messages must not be empty"), None
    max_tokens = body.get("max_tokens", 8192)
    if not isinstance(max_tokens, int) or not 1 <= max_tokens <= MAX_OUTPUT_TOKENS:
        return (422, f"Invalid max_tokens value, the valid range is [1, {MAX_OUTPUT_TOKENS}]"), None
    if flavour == "vllm":
        kwargs = body.get("chat_template_kwargs") or {}
        # vLLM's DeepSeek chat templates think only when asked to.
        thinking = bool(kwargs.get("thinking", False))
        effort = kwargs.get("reasoning_effort")
    else:
        thinking = (body.get("thinking") or {}).get("type", "enabled") != "disabled"
        effort = body.get("reasoning_effort")
    if effort not in (None, "high", "max"):
        return (422, f"Invalid reasoning_effort {effort!r}: expected 'high' or 'max'"), None
    prefix = None
    last = messages[-1]
    continues = last.get("prefix") is True or body.get("continue_final_message") is True
    if continues and last.get("role") == "assistant":
        if flavour == "deepseek" and not beta:
            return (400, "prefix completion is a beta feature: use the /beta base URL"), None
        prefix, messages = _content(last), messages[:-1]
    request = ChatRequest(
        model=str(model),
        messages=tuple({k: str(v) for k, v in m.items() if k != "prefix"} for m in messages),
        max_tokens=max_tokens,
        thinking=thinking,
        reasoning_effort=effort,
        json_mode=(body.get("response_format") or {}).get("type") == "json_object",
        temperature=body.get("temperature"),
        prefix=prefix,
    )
    return None, request


@dataclass(frozen=True)
class Reply:
    content: str
    reasoning: str | None
    finish_reason: str
    prompt_tokens: int
    cache_hit_tokens: int
    completion_tokens: int
    reasoning_tokens: int


def completion_payload(seq: int, model: str, reply: Reply, *, flavour: str) -> bytes:
    """A chat.completion body in the flavour's shape (vLLM: no cache fields, ``reasoning``)."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.content}
    usage: dict[str, Any] = {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        "completion_tokens_details": {"reasoning_tokens": reply.reasoning_tokens},
    }
    if flavour == "vllm":
        if reply.reasoning is not None:
            message["reasoning"] = reply.reasoning  # the field's name in current vLLM
    else:
        if reply.reasoning is not None:
            message["reasoning_content"] = reply.reasoning
        usage["prompt_cache_hit_tokens"] = reply.cache_hit_tokens
        usage["prompt_cache_miss_tokens"] = reply.prompt_tokens - reply.cache_hit_tokens
        usage["prompt_tokens_details"] = {"cached_tokens": reply.cache_hit_tokens}
    choice = {
        "index": 0,
        "message": message,
        "finish_reason": reply.finish_reason,
        "logprobs": None,
    }
    payload = {
        "id": f"sim-{seq}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "nightshift-simulator",
        "choices": [choice],
        "usage": usage,
    }
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")
