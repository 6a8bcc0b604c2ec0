"""Later nights of a codebase review: cache hits and request size, with the repository as context.

Reviews a copy of a repository (default: ``sample_data/codebase``) three nights running against
ONE local simulator (so its prefix cache lives from night to night, as DeepSeek's does): night
one reads it whole; before nights two and three one file changes (a function appended). Prints,
per night, the prompt tokens the simulator received, the cache-hit tokens it reported and their
share, and, for the later nights, the size of the request with the unchanged files as context
against the request of the changed file alone (what was sent before context existed).

The simulator's answers are rule-based: these are numbers about prompt layout and caching,
never about review quality.

    python bench/bench_codebase_nights.py [REPOSITORY] [--changed FILE]

Night two's share depends on where the changed file stood in night one's layout (files by
name): a change to the first file leaves only the instructions warm that night; from night
three on every unchanged file comes first, in the same order, and is read from the cache.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

from connectors.backends import scope_for
from connectors.simulator import SimulatorConfig, running_simulator
from connectors.sources import open_source
from connectors.store import Store
from flows.pipelines import ingest_options, review_pipeline
from nightshift.options import ReviewOptions
from nightshift.profiles import load_profile
from nightshift.settings import Settings
from nightshift.tokenizer import count_tokens
from tasks.ingest import ingest_source
from tasks.prompt import build_messages
from tasks.review_plan import load_plan_inputs, plan_review

ROOT = Path(__file__).resolve().parents[1]
CHANGE = "\n\ndef nightly_change_{night}(value):\n    return value * {night}\n"


def request_tokens(db: Path, repo: Path, settings: Settings, with_context: bool) -> int:
    """Prompt tokens of tonight's requests, planned in a scratch copy (nothing is written)."""
    profile = load_profile("codebase")
    source = open_source(str(repo))
    with Store.scratch_copy(db) as store:
        ingest_source(source, store, ingest_options(settings), "bench")
        inputs = load_plan_inputs(store, source.uri, profile, False,
                                  scope_for("deepseek", settings))  # fmt: skip
    if not with_context:
        inputs = replace(inputs, context=None)
    plan = plan_review(inputs, profile, settings.models)
    return sum(
        count_tokens(message["content"])
        for item in plan.items
        for message in build_messages(profile, plan.views[item.item_id], profile.fields)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repository", nargs="?", default=str(ROOT / "sample_data" / "codebase"))
    parser.add_argument("--changed", default="app.py",
                        help="the file changed before nights two and three")  # fmt: skip
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, running_simulator(SimulatorConfig()) as sim:
        repo, db = Path(scratch) / "repo", Path(scratch) / "nightly.duckdb"
        shutil.copytree(args.repository, repo)
        os.environ["DEEPSEEK_API_KEY"] = "sk-bench-not-a-key"
        os.environ["DEEPSEEK_BASE_URL"] = sim.base_url
        settings = Settings()
        changed = repo / args.changed
        options = ReviewOptions(source=str(repo), profile="codebase", db=str(db),
                                backend="deepseek")  # fmt: skip
        print(f"repository: {Path(args.repository).name}; changed each night: "
              f"{changed.relative_to(repo)} (LOCAL SIMULATOR, not DeepSeek)")  # fmt: skip
        print(
            "night | requests | prompt tokens | cache-hit tokens | hit share "
            "| request with context | changed file alone | ratio"
        )
        for night in (1, 2, 3):
            sizes = ("-", "-", "-")
            if night > 1:
                with changed.open("a", encoding="utf-8") as handle:
                    handle.write(CHANGE.format(night=night))
                full = request_tokens(db, repo, settings, with_context=True)
                alone = request_tokens(db, repo, settings, with_context=False)
                sizes = (f"{full:,}", f"{alone:,}", f"{full / alone:.1f}x")
            before = len(sim.stats.log)
            result = review_pipeline(options, settings)
            log = sim.stats.log[before:]
            prompt = sum(entry.prompt_tokens for entry in log)
            hits = sum(entry.cache_hit_tokens for entry in log)
            share = hits / prompt if prompt else 0.0
            print(f"{night} ({result.status}) | {len(log)} | {prompt:,} | {hits:,} | {share:.1%} | "
                  + " | ".join(sizes))  # fmt: skip


if __name__ == "__main__":
    main()
