"""virtio devices on the command line and under record/replay
(docs/devices.md): QEMU's option spellings, one-line errors for what the
board lacks, and the garbage-descriptor guest recorded and replayed with
every device, its device errors included."""
import hashlib
import os
import subprocess
import sys

import pytest

from conftest import GUESTS, ROOT, need

sys.path.insert(0, os.path.join(ROOT, "tests", "guests"))
from run_guest import write_scratch_disk  # noqa: E402


def run(argv, timeout=120):
    return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=timeout)


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.mark.parametrize("args, message", [
    (["-device", "virtio-rng-pci"], b"no PCI bus"),
    (["-device", "e1000"], b"unknown device"),
    (["-drive", "file=x.img,format=vmdk"], b"format=vmdk: Rewind reads raw and qcow2"),
    (["-drive", "format=raw"], b"file=PATH is required"),
    (["-drive", "file=/nonexistent.img,format=raw"], b"/nonexistent.img: No such file"),
    (["-drive", "file=x,if=ide"], b"virtio disks only"),
    (["-nic", "tap"], b"only user networking"),
    (["-nic", "user,hostfwd=tcp:nonsense"], b"hostfwd=tcp:nonsense: expected"),
    (["-nic", "user,net=192.168.0.0/24"], b"is not supported"),
    (["-device", "virtio-net-device,netdev=n0"], b"needs netdev=ID"),
    (["-device", "virtio-blk-device,drive=d0"], b"needs drive=ID"),
    (["-drive", "file=x.img,if=none"], b"id=ID is required"),
])
def test_device_option_errors(rewind, args, message):
    p = run([rewind, "run", "-bios", "none", *args])
    assert p.returncode == 2
    err = p.stderr.strip()
    assert err.count(b"\n") == 0, err
    assert message in err, err


def test_qemu_long_form_options(rewind, tmp_path):
    """QEMU's own spelling for virtio-mmio devices on virt (-drive if=none +
    -device virtio-blk-device, -netdev + -device virtio-net-device,
    -device virtio-rng-device) builds the same machine."""
    elf = need(os.path.join(GUESTS, "virtio_garbage.elf"))
    disk = str(tmp_path / "disk.img")
    write_scratch_disk(disk, 1 << 20)
    p = run([rewind, "run", "-bios", "none", "-kernel", elf,
             "-drive", f"file={disk},format=raw,if=none,id=hd0",
             "-device", "virtio-blk-device,drive=hd0",
             "-netdev", "user,id=n0", "-device", "virtio-net-device,netdev=n0",
             "-object", "rng-random,filename=/dev/urandom,id=rng0",
             "-device", "virtio-rng-device,rng=rng0"])
    assert p.returncode == 0, p.stderr.decode()
    assert b"virtio-garbage: all 46 cases handled" in p.stdout


def test_garbage_guest_records_and_replays(rewind, tmp_path):
    """Every device fed garbage, then reset and used: the device errors,
    the network frames and the random bytes replay at the same icounts,
    and the disk image is not written."""
    elf = need(os.path.join(GUESTS, "virtio_garbage.elf"))
    disk = str(tmp_path / "disk.img")
    write_scratch_disk(disk, 1 << 20)
    before = sha256(disk)
    bundle = str(tmp_path / "garbage.bundle")
    dev = ["-drive", f"file={disk},format=raw,if=virtio", "-nic", "user",
           "-device", "virtio-rng"]
    rec = run([rewind, "record", "-o", bundle, "-bios", "none", "-kernel", elf, *dev])
    assert rec.returncode == 0, rec.stderr.decode()
    assert b"virtio-garbage: all 46 cases handled" in rec.stdout
    assert b"device stopped until the guest resets it" in rec.stderr
    info = run([rewind, "info", bundle]).stdout
    assert b"rng " in info, info
    for _ in range(2):
        rep = run([rewind, "replay", bundle])
        assert rep.returncode == 0, rep.stderr.decode()
        assert rep.stdout == rec.stdout
        assert b"replay: end of recording" in rep.stderr
        assert b"network frames (dropped" in rep.stderr
    assert sha256(disk) == before
