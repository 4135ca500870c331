"""Shared fixtures for integration tests: paths to the build and to Debian's
firmware, and skipping when something needed is absent."""
import configparser
import os
import socket
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("REWIND_BUILD", os.path.join(ROOT, "build"))
REWIND = os.path.join(BUILD, "rewind")
FW_JUMP = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.elf"
FW_DYNAMIC = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin"
UBOOT_BIN = "/usr/lib/u-boot/qemu-riscv64_smode/u-boot.bin"
UBOOT_ELF = "/usr/lib/u-boot/qemu-riscv64_smode/uboot.elf"

sys.path.insert(0, os.path.join(ROOT, "scripts"))


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: boots real firmware; deselect with -m 'not slow'")
    config.addinivalue_line("markers", "linux: boots the Linux guest of scripts/build-linux-guest "
                            "(run alone with -m linux)")


@pytest.fixture
def rewind():
    if not os.path.exists(REWIND):
        pytest.skip("build/rewind is not built")
    return REWIND


@pytest.fixture
def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def need(path):
    if not os.path.exists(path):
        pytest.skip(f"{path} is missing (run ./rewind.sh setup)")
    return path


def manifest(bundle):
    """A bundle's manifest (a GLib key file) as a ConfigParser."""
    cp = configparser.ConfigParser(interpolation=None)
    cp.read(os.path.join(bundle, "manifest"))
    return cp


# ---- GDB stub helpers (test_gdb_*.py) ----
GUESTS = os.path.join(BUILD, "tests", "guests")
GDB = "gdb-multiarch"


@pytest.fixture
def gdb_multiarch():
    import shutil
    if not shutil.which(GDB):
        pytest.skip("gdb-multiarch is not installed")
    return GDB


def guest(name):
    """Path of a built guest program (tests/guests/NAME.c)."""
    return need(os.path.join(GUESTS, name + ".elf"))


@pytest.fixture
def guest_elf():
    def get(name):
        return need(os.path.join(GUESTS, name + ".elf"))
    return get
