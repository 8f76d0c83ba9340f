"""Which sources `shipyard index add` hands to git as URLs: a table (anything else must be a
folder, or is refused before git runs)."""

from __future__ import annotations

import pytest

from shipyard.operations.gitrepo import looks_like_url


@pytest.mark.parametrize(
    ("source", "url"),
    [
        ("https://example.org/team/templates.git", True),
        ("http://127.0.0.1:8000/t.git", True),
        ("ssh://git@example.org/t.git", True),
        ("git://example.org/t.git", True),
        ("file:///srv/templates", True),
        ("git@example.org:team/templates.git", True),
        ("ext::sh -c touch% /tmp/x", False),  # git's command-running transport
        ("--upload-pack=touch /tmp/x", False),  # an option, not a URL
        ("-ohno", False),
        ("file://x; touch /tmp/x", False),  # a space: not one URL
        ("ftp://example.org/t.git", False),
        ("fd::17", False),
        ("templates", False),  # a name or a relative folder: read as a folder
        ("", False),
    ],
)
def test_what_counts_as_a_git_url(source: str, url: bool) -> None:
    assert looks_like_url(source) is url
