"""Files that hold keys and credentials: recognised by name, or by a private key in their head.

A corpus folder is often a working directory, and a working directory holds ``.env`` files, SSH
keys and cloud credentials. Such a file must never reach ``document_texts`` or a model, so ingest
asks these rules before anything else: a file named like a secret is never opened at all; any
other file it reads is first checked for a private key block in its head, before it is hashed,
parsed or stored. Either way the file ends as a ``secret`` row whose reason names the rule, never
the content.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from pathlib import PurePosixPath

HEAD_BYTES = 64 * 1024  # how much of each file is checked for a private key block

# (glob over the file's name, lower-cased; what the rule names in the row's reason)
_NAME_RULES: tuple[tuple[str, str], ...] = (
    (".env", "an environment file (.env)"),
    (".env.*", "an environment file (.env.*)"),
    ("*.env", "an environment file (*.env)"),
    ("*.pem", "a PEM key or certificate file (*.pem)"),
    ("*.key", "a key file (*.key)"),
    ("*.p12", "a PKCS#12 key store (*.p12)"),
    ("*.pfx", "a PKCS#12 key store (*.pfx)"),
    ("*.jks", "a Java key store (*.jks)"),
    ("*.keystore", "a key store (*.keystore)"),
    ("*.ppk", "a PuTTY private key (*.ppk)"),
    ("credentials", "a credentials file (credentials)"),
    ("credentials.json", "a credentials file (credentials.json)"),
    (".git-credentials", "a git credentials file (.git-credentials)"),
    (".netrc", "a netrc password file (.netrc)"),
    ("_netrc", "a netrc password file (_netrc)"),
    (".pgpass", "a PostgreSQL password file (.pgpass)"),
    (".htpasswd", "an htpasswd file (.htpasswd)"),
)
# id_rsa, id_ed25519, id_ecdsa_work...: an SSH private key (the .pub beside it has a suffix).
_SSH_KEY_NAME = re.compile(r"id_[a-z0-9_-]+")
# .npmrc / .pypirc are ordinary config unless they carry a token or password.
_TOKEN_CONFIGS = frozenset({".npmrc", ".pypirc"})
_TOKEN_LINE = re.compile(rb"(?im)^\s*[^#;\n]*(_authtoken|_auth|_password|password|token)\s*[=:]")
_PRIVATE_KEY = re.compile(rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----")


def secret_by_name(relpath: str) -> str | None:
    """The rule that marks this file a secret by its name alone, or None."""
    name = PurePosixPath(relpath).name.lower()
    for pattern, rule in _NAME_RULES:
        if fnmatchcase(name, pattern):
            return rule
    if _SSH_KEY_NAME.fullmatch(name):
        return "an SSH private key (id_*)"
    return None


def secret_by_content(relpath: str, head: bytes) -> str | None:
    """The rule that marks this file a secret by its first ``HEAD_BYTES``, or None."""
    if _PRIVATE_KEY.search(head):
        return "a private key block (-----BEGIN ... PRIVATE KEY-----)"
    name = PurePosixPath(relpath).name.lower()
    if name in _TOKEN_CONFIGS and _TOKEN_LINE.search(head):
        return f"a package registry config with a token or password ({name})"
    return None
