"""Shared fixtures. The real local servers (simulator, S3, Prefect) live in tests/fixtures/."""

pytest_plugins = [
    "tests.fixtures.s3",
    "tests.fixtures.prefect_server",
    "tests.fixtures.postgres",
    "tests.fixtures.simulator",
]
