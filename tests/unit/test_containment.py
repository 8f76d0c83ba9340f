"""Finding our own cgroup from /proc/self/mountinfo and /proc/self/cgroup: pure parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.engine.containment import cgroup2_mounts, cgroup_dir

HYBRID = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
UNIFIED = "29 23 0:26 / /sys/fs/cgroup rw,nosuid,relatime shared:4 - cgroup2 cgroup2 rw\n"
READ_ONLY = "29 23 0:26 / /sys/fs/cgroup ro,nosuid,relatime - cgroup2 cgroup2 rw\n"
CONTAINER = "612 600 0:26 /docker/abc /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw\n"
SPACED = "29 23 0:26 / /mnt/my\\040cgroups rw,relatime - cgroup2 cgroup2 rw\n"
NONE = "22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n"


@pytest.mark.parametrize(
    ("mountinfo", "expected"),
    [
        (HYBRID, [("/", "/sys/fs/cgroup/unified", True)]),
        (UNIFIED, [("/", "/sys/fs/cgroup", True)]),
        (READ_ONLY, [("/", "/sys/fs/cgroup", False)]),
        (CONTAINER, [("/docker/abc", "/sys/fs/cgroup", True)]),
        (SPACED, [("/", "/mnt/my cgroups", True)]),
        (NONE, []),
        ("", []),
    ],
)
def test_cgroup2_mounts_are_found_in_mountinfo(
    mountinfo: str, expected: list[tuple[str, str, bool]]
) -> None:
    assert cgroup2_mounts(mountinfo) == expected


@pytest.mark.parametrize(
    ("mounts", "own", "expected"),
    [
        ([("/", "/sys/fs/cgroup/unified", True)], "/", "/sys/fs/cgroup/unified"),
        ([("/", "/sys/fs/cgroup", True)], "/user.slice/a", "/sys/fs/cgroup/user.slice/a"),
        # a container whose mount shows only its own subtree
        ([("/docker/abc", "/sys/fs/cgroup", True)], "/docker/abc", "/sys/fs/cgroup"),
        ([("/docker/abc", "/sys/fs/cgroup", True)], "/docker/abc/x", "/sys/fs/cgroup/x"),
        ([("/docker/abc", "/sys/fs/cgroup", True)], "/docker/abcd", None),  # not below it
        ([("/", "/sys/fs/cgroup", False)], "/", None),  # read-only: not ours to write
        ([("/", "/ro", False), ("/", "/rw", True)], "/a", "/rw/a"),
        ([], "/", None),
    ],
)
def test_our_cgroup_directory_is_on_a_writable_mount(
    mounts: list[tuple[str, str, bool]], own: str, expected: str | None
) -> None:
    assert cgroup_dir(mounts, own) == (Path(expected) if expected else None)
