"""Finding fingerprints: stable when lines move, different for different code, places or kinds."""

from __future__ import annotations

from tasks.findings import enclosing_block, fingerprints

CODE = """import os


def run(cmd):
    os.system(cmd)


def stop(cmd):
    os.system(cmd)
    os.system(cmd)
"""


def test_a_fingerprint_survives_lines_inserted_above_not_a_changed_line() -> None:
    (before,) = fingerprints("jobs.py", "command_injection", CODE, [5])
    shifted = "import os\nimport sys\n\n# Jobs.\n" + CODE.replace("import os\n", "", 1)
    spaced = shifted.replace(
        "    os.system(cmd)\n\n\ndef stop", "    os.system( cmd )\n\n\ndef stop"
    )
    (after,) = fingerprints("jobs.py", "command_injection", shifted, [8])
    assert after == before
    # Changed code is another finding: whitespace is normalised, tokens are not.
    assert fingerprints("jobs.py", "command_injection", spaced, [8]) != [before]


def test_same_code_in_other_blocks_files_fields_or_occurrences_differ() -> None:
    run, stop_first, stop_second = fingerprints("jobs.py", "command_injection", CODE, [5, 9, 10])
    assert len({run, stop_first, stop_second}) == 3
    assert fingerprints("other.py", "command_injection", CODE, [5]) != [run]
    assert fingerprints("jobs.py", "sql_injection", CODE, [5]) != [run]


def test_enclosing_block_is_the_nearest_less_indented_line() -> None:
    lines = CODE.split("\n")
    assert enclosing_block(lines, 4) == "def run(cmd):"
    assert enclosing_block(lines, 9) == "def stop(cmd):"
    assert enclosing_block(lines, 0) == ""
