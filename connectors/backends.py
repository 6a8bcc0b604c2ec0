"""Where requests go: the DeepSeek API, a self-hosted V4-Flash endpoint, or the local simulator.

The pipeline never picks the simulator on its own: a missing API key is an error that names
``--backend simulator``, and when the simulator is chosen every summary says so.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import SecretStr

from connectors.deepseek_protocol import Flavour
from nightshift.errors import ConfigError
from nightshift.models import ModelIds
from nightshift.options import BACKENDS, BackendName
from nightshift.settings import Settings

SIMULATOR_KEY = "sk-simulator-not-a-real-key"


@dataclass(frozen=True)
class Backend:
    name: BackendName
    base_url: str
    api_key: SecretStr = field(repr=False)
    flavour: Literal["deepseek", "vllm"]
    models: ModelIds
    label: str  # what the run's output says about where its answers came from
    oracle: str = ""  # the simulator's oracle: its labels' hash and whether it perturbs

    @property
    def scope(self) -> str:
        return backend_scope(self.name, self.base_url, self.models.flash, self.oracle)


def backend_scope(name: str, base_url: str, model: str, oracle: str = "") -> str:
    """Who answers, as the ledger and the review records know it. The simulator is one scope
    whatever its port; an endpoint is its name and URL (and, self-hosted, its served model)."""
    if name == "simulator":
        # The oracle answers from labels: its answers are never taken for the rules' (or for
        # another labels file's, or the unperturbed oracle's).
        return f"simulator oracle {oracle}" if oracle else "simulator"
    if name == "selfhosted":
        return f"selfhosted {base_url.rstrip('/')} {model}"
    return f"deepseek {base_url.rstrip('/')}"


def scope_for(name: str, settings: Settings, simulator_knobs: dict[str, Any] | None = None) -> str:
    """The scope of backend ``name`` under ``settings``, without opening it (for planning)."""
    if name == "simulator":
        return backend_scope(name, "", "", oracle_identity(simulator_knobs or {}))
    if name == "selfhosted":
        return backend_scope(name, settings.selfhosted_base_url or "", settings.selfhosted_model)
    return backend_scope(name, settings.deepseek_base_url, settings.flash_model)


def models_for(name: str, settings: Settings) -> ModelIds:
    """The model ids backend ``name`` serves under ``settings``, without opening it."""
    if name == "selfhosted":
        return ModelIds(settings.selfhosted_model, settings.selfhosted_model)
    return settings.models


def oracle_identity(simulator_knobs: dict[str, Any]) -> str:
    """What the oracle answers from: its labels file's hash, and whether it perturbs."""
    labels = simulator_knobs.get("oracle")
    if not isinstance(labels, str):
        return ""
    try:
        digest = hashlib.sha256(Path(labels).read_bytes()).hexdigest()[:16]
    except OSError as exc:
        raise ConfigError(f"cannot read the oracle's labels {labels}: {exc.strerror}") from exc
    return f"{digest} {'exact' if simulator_knobs.get('oracle_exact') else 'perturbed'}"


@contextmanager
def open_backend(
    name: str, settings: Settings, simulator_knobs: dict[str, Any] | None = None
) -> Iterator[Backend]:
    """The backend ``name``; for the simulator, one running on loopback for the block's time."""
    if name not in BACKENDS:
        raise ConfigError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    models = settings.models
    if name == "deepseek":
        if settings.deepseek_api_key is None or not settings.deepseek_api_key.get_secret_value():
            raise ConfigError(
                "DEEPSEEK_API_KEY is not set. Set it to review with the DeepSeek API, or run "
                "against the local simulator with --backend simulator (answers are rule-based "
                "and nothing leaves this machine)."
            )
        yield Backend(
            "deepseek",
            settings.deepseek_base_url,
            settings.deepseek_api_key,
            "deepseek",
            models,
            f"DeepSeek API at {settings.deepseek_base_url}",
        )
        return
    if name == "selfhosted":
        if not settings.selfhosted_base_url:
            raise ConfigError(
                "--backend selfhosted needs NIGHTSHIFT_SELFHOSTED_BASE_URL (the endpoint that "
                "the infra/ module outputs) and NIGHTSHIFT_SELFHOSTED_API_KEY"
            )
        key = settings.selfhosted_api_key or SecretStr("")
        served = settings.selfhosted_model
        yield Backend(
            "selfhosted",
            settings.selfhosted_base_url,
            key,
            "vllm",
            ModelIds(served, served),
            f"self-hosted {served} at {settings.selfhosted_base_url}",
        )
        return
    from connectors.simulator import SimulatorConfig, running_simulator

    knobs = dict(simulator_knobs or {})
    oracle = oracle_identity(knobs)
    exact = knobs.pop("oracle_exact", False)
    if isinstance(knobs.get("oracle"), str):  # a labels file: answer from it, not from rules
        from connectors.simulator_oracle import NO_PERTURBATION, Oracle, Perturbation

        perturbation = NO_PERTURBATION if exact else Perturbation()
        knobs["oracle"] = Oracle.from_path(knobs["oracle"], perturbation)
    config = SimulatorConfig(**knobs)
    with running_simulator(config) as handle:
        flavour: Flavour = "vllm" if config.flavour == "vllm" else "deepseek"
        if flavour == "vllm":
            models = ModelIds(config.served_models()[0], config.served_models()[0])
        yield Backend(
            "simulator",
            handle.base_url,
            SecretStr(SIMULATOR_KEY),
            flavour,
            models,
            f"LOCAL SIMULATOR at {handle.base_url} (not DeepSeek: "
            + (f"the oracle's labelled answers, {'exact' if exact else 'perturbed'}"
               if oracle else "rule-based answers")
            + ", costs priced as if it were the API)",
            oracle,
        )  # fmt: skip
